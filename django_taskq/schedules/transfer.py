"""``Schedule`` rows to and from ``RQ_CRON`` entries (``manage.py rqschedules export|import``).

A row says more than an entry can (run once, a run limit, a window, its own time zone) and an
entry a little more than a row (``failure_ttl``, ``meta``, ``at_front``, a custom ``grace``):
what does not carry over is reported, never dropped silently, unless the caller asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, router, transaction

from ..cron.schedule import DEFAULT_GRACE, entry_name, validate_entries
from ..models import Schedule, default_time_zone

# Entry keys a row has no field for.
UNSUPPORTED_KEYS = ("failure_ttl", "meta", "at_front", "grace")
# RQ_CRON problems (E033-E037: func, queue, schedule) that Schedule.clean() reports with more detail.
ROW_CHECKED = frozenset({33, 34, 35, 36, 37})


class TransferError(ValueError):
    """Entries or rows that cannot be carried over; ``problems`` lists each, one line apiece."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- rows -> RQ_CRON -------------------------------------------------------------------------


def unsupported_features(schedule: Schedule) -> list[str]:
    """What ``schedule`` uses that an RQ_CRON entry cannot say."""
    features = [
        label
        for label, used in (
            ("run at (one-off)", schedule.run_at is not None),
            ("max runs", schedule.max_runs is not None),
            ("start at", schedule.start_at is not None),
            ("end at", schedule.end_at is not None),
            (
                f"time zone {schedule.time_zone} (RQ_CRON reads cron strings in TIME_ZONE)",
                bool(schedule.cron) and schedule.time_zone != default_time_zone(),
            ),
        )
        if used
    ]
    return features


def to_entry(schedule: Schedule) -> dict[str, Any]:
    """The RQ_CRON entry of ``schedule`` (its run limits, window and zone left out: see above)."""
    entry: dict[str, Any] = {"name": schedule.name, "func": schedule.func, "queue": schedule.queue}
    if schedule.cron:
        entry["cron"] = schedule.cron
    if schedule.interval is not None:
        entry["interval"] = schedule.interval
    if schedule.args:
        entry["args"] = list(schedule.args)
    if schedule.kwargs:
        entry["kwargs"] = dict(schedule.kwargs)
    for key in ("timeout", "result_ttl", "ttl"):
        if getattr(schedule, key) is not None:
            entry[key] = getattr(schedule, key)
    if schedule.description:
        entry["description"] = schedule.description
    return entry


@dataclass
class Export:
    entries: list[dict[str, Any]] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)  # names left out: RQ_CRON would run them
    skipped: list[str] = field(default_factory=list)  # "name: features" left out on request


def export_entries(schedules: Iterable[Schedule], *, skip_unsupported: bool = False) -> Export:
    """The enabled rows as RQ_CRON entries; TransferError if one cannot be said in RQ_CRON."""
    result = Export()
    problems: list[str] = []
    for schedule in schedules:
        if not schedule.enabled:
            result.disabled.append(schedule.name)
            continue
        features = unsupported_features(schedule)
        if features:
            line = f"{schedule.name}: {', '.join(features)}"
            (result.skipped if skip_unsupported else problems).append(line)
            continue
        result.entries.append(to_entry(schedule))
    if problems:
        raise TransferError([f"RQ_CRON cannot express {line}." for line in problems])
    return result


# --- RQ_CRON -> rows -------------------------------------------------------------------------


@dataclass
class Import:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # "name: keys" dropped on request


def import_entries(items: Any, *, update: bool = False, drop_unsupported: bool = False) -> Import:
    """Save RQ_CRON entries as rows, all or none: TransferError lists every problem found."""
    if not isinstance(items, list):
        raise TransferError([f"Expected a list of RQ_CRON entries, got a {type(items).__name__}."])
    by_entry: dict[str, list[str]] = {}
    for problem in validate_entries(items):  # unknown keys too: they would be lost here
        if problem.number not in ROW_CHECKED:
            by_entry.setdefault(problem.obj, []).append(problem.msg)
    problems = by_entry.pop("RQ_CRON", [])
    named = [item for item in items if isinstance(item, dict)]
    existing = {row.name: row for row in Schedule.objects.filter(name__in=[entry_name(i) for i in named])}
    result = Import()
    rows: list[Schedule] = []
    for index, item in enumerate(items):
        if f"RQ_CRON[{index}]" in by_entry:
            problems.extend(by_entry[f"RQ_CRON[{index}]"])
            continue
        name = entry_name(item)
        where = f"RQ_CRON[{index}] ({name})"
        unsupported = [key for key in UNSUPPORTED_KEYS if key in item and not _is_default(key, item[key])]
        if unsupported and not drop_unsupported:
            problems.append(f"{where}: a schedule row has no {', '.join(unsupported)}.")
            continue
        if unsupported:
            result.dropped.append(f"{name}: {', '.join(unsupported)}")
        row = existing.get(name)
        if row is not None and not update:
            problems.append(f"{where}: a schedule named {name!r} exists (use --update to overwrite it).")
            continue
        try:
            row = _fill(row or Schedule(), name, item)
            row.full_clean(validate_unique=row.pk is None)
        except (ValidationError, ValueError) as exc:
            problems.extend(f"{where}: {message}" for message in _messages(exc))
            continue
        rows.append(row)
    if problems:
        raise TransferError(problems)
    try:
        with transaction.atomic(using=router.db_for_write(Schedule)):
            for row in rows:
                (result.updated if row.pk is not None else result.created).append(row.name)
                row.save()
    except IntegrityError as exc:  # a row of the same name was saved meanwhile
        raise TransferError([f"The schedules changed while importing ({exc}); nothing was saved."]) from exc
    return result


def _fill(row: Schedule, name: str, item: dict[str, Any]) -> Schedule:
    row.name = name
    row.func = item["func"]
    row.queue = item.get("queue") or "default"
    row.cron = item.get("cron") or ""
    interval = item.get("interval")
    if interval is not None and interval != int(interval):
        raise ValueError(f"interval {interval!r}: a schedule row counts whole seconds.")
    row.interval = int(interval) if interval is not None else None
    row.args = list(item.get("args") or [])
    row.kwargs = dict(item.get("kwargs") or {})
    row.timeout = _seconds(item.get("timeout"))
    row.result_ttl = item.get("result_ttl")
    row.ttl = item.get("ttl")
    row.description = item.get("description") or ""
    row.time_zone = default_time_zone()  # RQ_CRON reads cron strings in TIME_ZONE
    row.run_at = row.start_at = row.end_at = row.max_runs = None
    row.enabled = True
    return row


def _seconds(timeout: Any) -> int | None:
    if timeout is None or isinstance(timeout, int):
        return timeout
    if isinstance(timeout, str) and timeout.strip().isdigit():
        return int(timeout)
    raise ValueError(f"timeout {timeout!r}: give a whole number of seconds.")


def _is_default(key: str, value: Any) -> bool:
    defaults: dict[str, Any] = {"grace": DEFAULT_GRACE, "at_front": False, "meta": {}}
    return key in defaults and value == defaults[key]


def _messages(exc: ValidationError | ValueError) -> list[str]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [f"{name}: {' '.join(errors)}" for name, errors in exc.message_dict.items()]
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]
