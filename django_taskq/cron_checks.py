"""System checks for RQ_CRON (ids documented in docs/cron.rst and docs/checks.rst).

E030 RQ_CRON is not a list               E031 an entry is not a dict
E032 an entry has no func                E033 func cannot be imported or is not callable
E034 an entry names an unknown queue     E035 neither or both of cron and interval
E036 a cron string does not parse        E037 interval or grace not positive
E038 a value has the wrong type          E039 two entries share a name
W030 unknown key in an entry
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, register
from django.utils.module_loading import import_string

from .checks import _did_you_mean, _error, _type_names, _warning
from .conf import taskq_settings
from .cron import ENTRY_KEYS, entry_name, valid_cron

EXAMPLE = '{"func": "myapp.jobs.report", "cron": "0 9 * * *"}'


@register("django_taskq")
def check_cron(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    value = getattr(settings, "RQ_CRON", [])
    if not isinstance(value, (list, tuple)):
        return [
            _error(
                30,
                f"RQ_CRON is a {type(value).__name__}, not a list.",
                f"Use RQ_CRON = [{EXAMPLE}].",
                "RQ_CRON",
            )
        ]
    return check_entries(list(value))


def check_entries(items: list[Any]) -> list[CheckMessage]:
    """The problems of a list of RQ_CRON entries (errors and warnings)."""
    messages: list[CheckMessage] = []
    for index, item in enumerate(items):
        messages.extend(_check_entry(index, item))
    names = Counter(entry_name(item) for item in items if isinstance(item, dict) and item.get("func"))
    for name, count in names.items():
        if count > 1:
            messages.append(
                _error(39, f"RQ_CRON has {count} entries named {name!r}.",
                       "Give each entry a distinct 'name': it keys the entry's state in Redis.", "RQ_CRON")
            )  # fmt: skip
    return messages


def _check_entry(index: int, item: Any) -> list[CheckMessage]:
    obj = f"RQ_CRON[{index}]"
    if not isinstance(item, dict):
        return [_error(31, f"{obj} is a {type(item).__name__}, not a dict.", f"Use {EXAMPLE}.", obj)]
    messages: list[CheckMessage] = []
    for key, value in item.items():
        if key not in ENTRY_KEYS:
            messages.append(
                _warning(30, f"{obj} has an unknown key {key!r}.", _did_you_mean(str(key), ENTRY_KEYS), obj)
            )
        elif not isinstance(value, ENTRY_KEYS[key]) or (
            isinstance(value, bool) and bool not in ENTRY_KEYS[key]
        ):
            kind = _type_names(ENTRY_KEYS[key])
            messages.append(
                _error(38, f"{obj}[{key!r}] must be {kind}, not {type(value).__name__}.",
                       f"Set {key!r} to a value of type {kind}.", obj)
            )  # fmt: skip
    if "name" in item and "id" in item and item["name"] != item["id"]:
        messages.append(
            _error(39, f"{obj} has both 'name' and 'id', and they differ.", "Keep only 'name'.", obj)
        )
    messages.extend(_check_func(obj, item.get("func")))
    queue = item.get("queue", "default")
    if isinstance(queue, str) and queue not in taskq_settings.QUEUES:
        known = ", ".join(taskq_settings.QUEUES) or "none"
        messages.append(_error(34, f"{obj} uses the queue {queue!r}, which RQ_QUEUES does not define.",
                               f"Use one of: {known}.", obj))  # fmt: skip
    messages.extend(_check_schedule(obj, item))
    return messages


def _check_func(obj: str, func: Any) -> list[CheckMessage]:
    if func is None or func == "":
        return [
            _error(32, f"{obj} has no 'func'.", "Add 'func': the dotted path of the function to run.", obj)
        ]
    if not isinstance(func, str):
        return []  # reported as E038
    try:
        target = import_string(func)
    except ImportError as exc:
        return [_error(33, f"{obj}['func'] = {func!r} cannot be imported: {exc}.",
                       "Give the dotted path of a module-level function.", obj)]  # fmt: skip
    if not callable(target):
        return [_error(33, f"{obj}['func'] = {func!r} is not callable.", "Point 'func' at a function.", obj)]
    return []


def _check_schedule(obj: str, item: dict[str, Any]) -> list[CheckMessage]:
    has_cron, has_interval = item.get("cron") is not None, item.get("interval") is not None
    if has_cron == has_interval:
        which = "both" if has_cron else "neither"
        return [_error(35, f"{obj} has {which} 'cron' and 'interval'.",
                       "Give one: 'cron': '*/5 * * * *' or 'interval': 300 (seconds).", obj)]  # fmt: skip
    messages: list[CheckMessage] = []
    cron = item.get("cron")
    if isinstance(cron, str) and not valid_cron(cron):
        messages.append(
            _error(36, f"{obj}['cron'] = {cron!r} is not a valid cron string.",
                   "Use five fields (minute hour day month weekday) or @hourly/@daily.", obj)
        )  # fmt: skip
    for key in ("interval", "grace"):
        value = item.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not value > 0:
            messages.append(_error(37, f"{obj}[{key!r}] = {value!r} is not positive.",
                                   f"Set {key!r} to a number of seconds above 0.", obj))  # fmt: skip
    return messages
