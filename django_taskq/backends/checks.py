"""System checks for TASKS entries that use RQBackend (ids django_taskq.E050-E059).

E050 a queue name (QUEUES or a PRIORITY_QUEUES target) that RQ_QUEUES does not define
E051 an unknown OPTIONS key               E052 an OPTIONS value of the wrong type or range
E053 PRIORITY_QUEUES is malformed         E054 the tasks framework is not installed
E055 QUEUES is not a list of names

Each message is reported once: by ``RQBackend.check()``, which the framework's own
``check_tasks`` calls, or, when that check is not registered (no framework, or the backport
left out of INSTALLED_APPS), by ``check_task_backends_once`` registered here.

This module does not need the tasks framework, so E054 can be reported.
"""

from __future__ import annotations

import contextlib
import importlib
from importlib.util import find_spec
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, register
from django.core.checks.registry import CheckRegistry, registry

from ..checks.messages import error as _error
from ..conf import taskq_settings
from ..hints import did_you_mean

BACKEND_PATHS = ("django_taskq.backends.RQBackend", "django_taskq.backends.rq.RQBackend")
OPTION_KEYS = ("RESULT_TTL", "FAILURE_TTL", "TIMEOUT", "MAX_RETRIES", "RETRY_INTERVALS", "PRIORITY_QUEUES")
PRIORITY_RANGE = (-100, 100)
# Where the framework's check_tasks lives (Django 6+, the backport): it calls every backend's check().
FRAMEWORK_CHECK_MODULES = ("django.tasks.checks", "django_tasks.checks")


def framework_available() -> bool:
    """Whether ``django.tasks`` (Django >= 6.0) or the ``django_tasks`` backport can be imported."""
    for name in ("django.tasks", "django_tasks"):
        try:
            if find_spec(name) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def framework_checks_registered(checks: CheckRegistry = registry) -> bool:
    """Whether the framework's ``check_tasks`` is registered, so that it reports RQBackend's messages."""
    return any(
        getattr(check, "__module__", None) in FRAMEWORK_CHECK_MODULES
        for check in checks.get_checks(include_deployment_checks=True)
    )


@register("django_taskq")
def check_task_backends_once(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check_task_backends``, unless the framework's ``check_tasks`` reports the same messages."""
    if framework_checks_registered():
        return []
    return check_task_backends(app_configs, **kwargs)


def check_task_backends(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The messages of every TASKS entry that uses RQBackend."""
    tasks = getattr(settings, "TASKS", None)
    if not isinstance(tasks, dict):
        return []
    messages: list[CheckMessage] = []
    for alias, entry in tasks.items():
        if isinstance(entry, dict) and entry.get("BACKEND") in BACKEND_PATHS:
            messages.extend(entry_messages(f"TASKS[{alias!r}]", entry))
    return messages


def entry_messages(obj: str, entry: dict[str, Any]) -> list[CheckMessage]:
    """The check messages of one TASKS entry that uses RQBackend."""
    messages: list[CheckMessage] = []
    if not framework_available():
        messages.append(
            _error(
                54,
                f"{obj} uses RQBackend, but neither django.tasks (Django 6.0+) nor the django-tasks backport "
                "is installed.",
                'Upgrade to Django 6.0+, or install the backport: pip install "django-taskq[tasks]" and add '
                '"django_tasks" to INSTALLED_APPS.',
                obj,
            )
        )
    known = taskq_settings.QUEUES
    queues = entry.get("QUEUES")
    if queues is not None:
        if not isinstance(queues, (list, tuple, set)) or not all(isinstance(q, str) for q in queues):
            messages.append(_error(55, f"{obj}['QUEUES'] must be a list of RQ_QUEUES names.",
                                   'e.g. "QUEUES": ["default", "high"]', obj))  # fmt: skip
        else:
            messages.extend(_unknown_queues(obj, f"{obj}['QUEUES']", list(queues), known))
    options = entry.get("OPTIONS", {})
    if not isinstance(options, dict):
        messages.append(
            _error(52, f"{obj}['OPTIONS'] must be a dict.", 'e.g. "OPTIONS": {"RESULT_TTL": 86400}', obj)
        )
        return messages
    for key, value in options.items():
        if key not in OPTION_KEYS:
            hint = did_you_mean(str(key), OPTION_KEYS)
            messages.append(_error(51, f"{obj}['OPTIONS'] has an unknown key {key!r}.", hint, obj))
        elif key == "PRIORITY_QUEUES":
            messages.extend(_check_priority_queues(obj, value, known))
        else:
            problem = _option_problem(key, value)
            if problem:
                msg = f"{obj}['OPTIONS'][{key!r}] {problem}, not {value!r}."
                messages.append(_error(52, msg, "See the RQBackend options in the Django Tasks docs.", obj))
    return messages


def _option_problem(key: str, value: Any) -> str | None:
    if key in ("RESULT_TTL", "FAILURE_TTL"):
        ok = value is None or (_is_int(value) and value >= -1)
        return None if ok else "must be a number of seconds (-1: keep forever, None: the queue's default)"
    if key == "TIMEOUT":
        ok = value is None or (_is_int(value) and (value > 0 or value == -1))
        return (
            None if ok else "must be a positive number of seconds (-1: no limit, None: the queue's default)"
        )
    if key == "MAX_RETRIES":
        return None if _is_int(value) and value >= 0 else "must be a whole number >= 0"
    if key == "RETRY_INTERVALS":
        values = value if isinstance(value, (list, tuple)) else [value]
        ok = all(_is_int(v) and v >= 0 for v in values)
        return None if ok else "must be seconds >= 0, or a list of them"
    return None


def _unknown_queues(obj: str, where: str, names: list[str], known: dict[str, Any]) -> list[CheckMessage]:
    return [
        _error(
            50,
            f"{where} names the queue {name!r}, which RQ_QUEUES does not define.",
            f"Add {name!r} to RQ_QUEUES or use one of: {', '.join(known) or 'none'}.",
            obj,
        )
        for name in names
        if name not in known
    ]


def _check_priority_queues(obj: str, value: Any, known: dict[str, Any]) -> list[CheckMessage]:
    where = f"{obj}['OPTIONS']['PRIORITY_QUEUES']"
    hint = (
        'A dict of task queue name -> [(min_priority, RQ queue name), ...], e.g. {"default": [(50, "high")]}.'
    )
    if not isinstance(value, dict):
        return [_error(53, f"{where} must be a dict.", hint, obj)]
    messages: list[CheckMessage] = []
    for task_queue, bands in value.items():
        ok = isinstance(bands, (list, tuple)) and all(
            isinstance(band, (list, tuple))
            and len(band) == 2
            and _is_int(band[0])
            and isinstance(band[1], str)
            for band in bands
        )
        if not ok:
            msg = f"{where}[{task_queue!r}] is not a list of (min_priority, queue) pairs."
            messages.append(_error(53, msg, hint, obj))
            continue
        lows = [band[0] for band in bands]
        if any(not PRIORITY_RANGE[0] <= low <= PRIORITY_RANGE[1] for low in lows) or len(set(lows)) != len(
            lows
        ):
            low, high = PRIORITY_RANGE
            msg = f"{where}[{task_queue!r}] minimum priorities must be distinct and between {low} and {high}."
            messages.append(_error(53, msg, hint, obj))
        targets = [str(task_queue)] + [band[1] for band in bands]
        messages.extend(_unknown_queues(obj, f"{where}[{task_queue!r}]", list(dict.fromkeys(targets)), known))
    return messages


# Django 6 registers its check_tasks when django.tasks is first imported: import it now, before
# any check runs, so that check_task_backends_once knows whether it will run.
with contextlib.suppress(ImportError):
    importlib.import_module("django.tasks")
