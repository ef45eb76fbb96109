"""Why a ``Schedule`` row is invalid: the checks behind ``Schedule.clean()``.

The admin form, ``full_clean()`` and ``rqschedules import`` all go through ``schedule_errors``,
so each mistake gets the same field and the same message wherever the row comes from.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter  # type: ignore[import-untyped]
from django.utils.module_loading import import_string

from ..conf import taskq_settings
from ..cron.schedule import valid_cron

if TYPE_CHECKING:
    from ..models import Schedule

Errors = dict[str, list[str]]

# The fields of a five-field cron string, and the values each accepts.
CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day of month", "1-31, L"),
    ("month", "1-12 or jan-dec"),
    ("day of week", "0-7 or sun-sat (0 and 7 are Sunday)"),
)
CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
WHEN_FIELDS = ("cron", "interval", "run_at")


def schedule_errors(schedule: Schedule, skip: frozenset[str] = frozenset()) -> Errors:
    """The mistakes of ``schedule``, by field name (empty when it may be saved).

    Fields in ``skip`` (those a model form excluded, often because they already failed) are
    neither reported nor read by the checks that span several fields.
    """
    errors: Errors = {}

    def add(field: str, message: str) -> None:
        if field not in skip:
            errors.setdefault(field, []).append(message)

    target = _func_or_error(schedule.func, add) if "func" not in skip else None
    if not isinstance(schedule.args, list):
        add("args", f'Enter a JSON list such as [1, "a"], not a JSON {_json_kind(schedule.args)}.')
    if not isinstance(schedule.kwargs, dict):
        add("kwargs", f'Enter a JSON object such as {{"a": 1}}, not a JSON {_json_kind(schedule.kwargs)}.')
    if target is not None and not {"args", "kwargs"} & (skip | errors.keys()):
        _check_signature(schedule.func, target, schedule.args, schedule.kwargs, add)
    if not skip & set(WHEN_FIELDS):
        _check_when(schedule, add)
    elif "cron" not in skip and schedule.cron:
        _check_cron(schedule.cron, add)
    if schedule.queue not in taskq_settings.QUEUES:
        known = ", ".join(sorted(taskq_settings.QUEUES)) or "none"
        add("queue", f"{schedule.queue!r} is not a queue of RQ_QUEUES (known: {known}).")
    zone_problem = time_zone_problem(schedule.time_zone)
    if zone_problem:
        add("time_zone", zone_problem)
    _check_window(schedule, add)
    _check_numbers(schedule, add)
    return errors


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a usable cron string, or None when it is."""
    fields = expression.split()
    if valid_cron(expression):
        try:
            croniter(expression).get_next(datetime)
        except Exception:  # croniter gives up after years without a match (e.g. 30 February)
            return f"{expression!r} never matches a date."
        return None
    if not fields:
        return "Enter a cron string such as '*/5 * * * *'."
    if len(fields) == 1 and fields[0].startswith("@"):
        return f"{fields[0]!r} is not an alias; use one of {', '.join(CRON_ALIASES)}."
    if len(fields) != 5:
        return (
            f"{expression!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}; a cron string has "
            "five (minute hour day-of-month month day-of-week) or is an alias such as @daily."
        )
    for index, (label, allowed) in enumerate(CRON_FIELDS):
        alone = ["*"] * 5
        alone[index] = fields[index]
        if not valid_cron(" ".join(alone)):
            return f"The {label} field {fields[index]!r} is not valid (allowed: {allowed}, with * , - /)."
    return f"{expression!r} is not a valid cron string."  # pragma: no cover - some field is always at fault


def time_zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None when it is."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, available_timezones(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else " Use a name such as 'Europe/Paris' or 'UTC'."
        return f"{name!r} is not a time zone.{hint}"
    return None


def _func_or_error(func: str, add: Callable[[str, str], None]) -> Callable[..., Any] | None:
    if not func:
        return None  # the form's own "required" error
    try:
        target = import_string(func)
    except ImportError as exc:
        add("func", f"{func!r} cannot be imported: {exc}")
        return None
    except Exception as exc:  # importing the module ran its code, and that code failed
        add("func", f"Importing {func!r} raised {type(exc).__name__}: {exc}")
        return None
    if not callable(target):
        add("func", f"{func!r} is not callable (it is of type {type(target).__name__}).")
        return None
    return target  # type: ignore[no-any-return]


def _check_signature(
    func: str, target: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
    add: Callable[[str, str], None],
) -> None:  # fmt: skip
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # some builtins have no signature: nothing to check against
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        reason = str(exc)
        field = "kwargs" if "keyword" in reason or "multiple values" in reason else "args"
        plain = signature.replace(
            parameters=[param.replace(annotation=param.empty) for param in signature.parameters.values()],
            return_annotation=signature.empty,
        )
        add(field, f"{func}{plain} does not accept these arguments: {reason}.")


def _check_when(schedule: Schedule, add: Callable[[str, str], None]) -> None:
    given = [name for name in WHEN_FIELDS if _is_set(getattr(schedule, name))]
    if not given:
        add("cron", "Set one of cron, interval or run at.")
    elif len(given) > 1:
        labels = " and ".join(name.replace("_", " ") for name in given)
        for name in given:
            add(name, f"Set only one of cron, interval and run at ({labels} are set).")
    if schedule.cron:
        _check_cron(schedule.cron, add)
    if schedule.interval is not None and schedule.interval < 1:
        add("interval", "The interval must be a positive number of seconds.")


def _check_cron(expression: str, add: Callable[[str, str], None]) -> None:
    problem = cron_problem(expression)
    if problem:
        add("cron", problem)


def _check_window(schedule: Schedule, add: Callable[[str, str], None]) -> None:
    start, end, run_at = schedule.start_at, schedule.end_at, schedule.run_at
    if start is not None and end is not None and end <= start:
        add("end_at", "The end must be after the start.")
    if run_at is not None and start is not None and run_at < start:
        add("run_at", "This is before the start: the schedule would never run.")
    if run_at is not None and end is not None and run_at > end:
        add("run_at", "This is after the end: the schedule would never run.")


def _check_numbers(schedule: Schedule, add: Callable[[str, str], None]) -> None:
    if schedule.max_runs is not None and schedule.max_runs < 1:
        add("max_runs", "Enter at least 1, or leave empty for no limit.")
    for field in ("timeout", "ttl"):
        value = getattr(schedule, field)
        if value is not None and value < 1:
            add(field, "Enter at least 1 second, or leave empty for the default.")
    if schedule.result_ttl is not None and schedule.result_ttl < -1:
        add("result_ttl", "Enter -1 (keep forever), 0 (keep none) or a number of seconds.")


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")
