"""What the dashboard and ``rqcron --list`` show: each entry's schedule and runs, and the live runners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from ..conf import taskq_settings
from ..queues import get_queue
from .claims import HISTORY, CronRun
from .runner import RUNNERS_KEY
from .schedule import CronConfigError, CronEntry, cron_timezone, entry_name, validate_entries


@dataclass(frozen=True)
class CronEntryStatus:
    """One RQ_CRON entry as the dashboard shows it."""

    name: str
    func: str
    queue: str
    schedule: str
    timezone: str
    next_run: datetime | None
    last_runs: list[CronRun]
    error: str | None = None  # why this entry cannot run (invalid settings, Redis down)

    @property
    def last_run(self) -> datetime | None:
        """When the most recent slot was claimed (enqueued or skipped)."""
        return self.last_runs[0].at if self.last_runs else None

    @property
    def last_status(self) -> str | None:
        """``enqueued`` or ``skipped``: what happened to the most recent slot."""
        return self.last_runs[0].outcome if self.last_runs else None

    @property
    def last_job_id(self) -> str | None:
        return next((run.job_id for run in self.last_runs if run.job_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "func": self.func,
            "queue": self.queue,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_runs": [run.as_dict() for run in self.last_runs],
            "error": self.error,
        }


def cron_status(
    entries: Sequence[CronEntry] | None = None, *, now: datetime | None = None, limit: int = HISTORY
) -> list[CronEntryStatus]:
    """Schedule, next run and last runs of every entry; one pipelined round trip per connection.

    Never raises for bad settings or an unreachable Redis: the entry's ``error`` says what is wrong.
    """
    now = now or datetime.now(timezone.utc)
    zone = str(cron_timezone())
    rows: list[tuple[CronEntry | None, dict[str, Any], str | None]] = []
    if entries is not None:
        rows = [(entry, {}, None) for entry in entries]
    else:
        for item in taskq_settings.CRON:
            errors = [problem for problem in validate_entries([item]) if not problem.warning]
            if errors:
                rows.append((None, item if isinstance(item, dict) else {}, errors[0].msg))
            else:
                rows.append((CronEntry.from_setting(item), item, None))
    by_key, failures = _recent_runs([entry for entry, _item, _error in rows if entry is not None], limit)
    statuses = []
    for entry, item, error in rows:
        if entry is None:
            statuses.append(
                CronEntryStatus(
                    name=entry_name(item) if item else "?",
                    func=str(item.get("func", "")),
                    queue=str(item.get("queue", "default")),
                    schedule=str(item.get("cron") or item.get("interval") or ""),
                    timezone=zone,
                    next_run=None,
                    last_runs=[],
                    error=error,
                )
            )
            continue
        statuses.append(
            CronEntryStatus(
                name=entry.name,
                func=entry.func,
                queue=entry.queue,
                schedule=entry.schedule,
                timezone=zone if entry.cron is not None else "UTC",
                next_run=entry.next_slot(now),
                last_runs=by_key.get(entry.state_key, []),
                error=failures.get(entry.state_key),
            )
        )
    return statuses


@dataclass(frozen=True)
class ScheduleStatus(CronEntryStatus):
    """One ``Schedule`` row as the dashboard shows it: its RQ_CRON-like status plus its run state."""

    pk: int = 0
    enabled: bool = True
    last_job_status: str = ""  # the outcome of the latest job (queued, finished, failed, stopped)
    run_count: int = 0
    success_count: int = 0
    failure_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **super().as_dict(),
            "pk": self.pk,
            "enabled": self.enabled,
            "last_job_status": self.last_job_status,
            "run_count": self.run_count,
            "success_count": self.success_count,
            "failure_count": self.failure_count,
        }


def schedule_status(
    *, now: datetime | None = None, limit: int = HISTORY, using: str | None = None
) -> list[ScheduleStatus]:
    """Every ``Schedule`` row (disabled ones too) with its schedule in words, next run and last runs.

    One query, then one pipelined Redis round trip per connection for the runs. Never raises for
    an unreachable Redis or a row that cannot run: the row's ``error`` says what is wrong.
    """
    from ..models import Schedule  # the models: only once the app registry is ready
    from .database import describe_schedule, upcoming_runs
    from .rows import ScheduleEntry

    now = now or datetime.now(timezone.utc)
    rows = list(Schedule.objects.using(using) if using else Schedule.objects.all())
    entries: dict[int, ScheduleEntry] = {}
    errors: dict[int, str] = {}
    for row in rows:
        try:
            if row.queue not in taskq_settings.QUEUES:
                raise CronConfigError(f"The queue {row.queue!r} is not in RQ_QUEUES.")
            entries[row.pk] = ScheduleEntry.from_row(row)
        except CronConfigError as exc:
            errors[row.pk] = str(exc)
    runs, failures = _recent_runs(list(entries.values()), limit)
    statuses = []
    for row in rows:
        entry = entries.get(row.pk)
        key = entry.state_key if entry is not None else ""
        statuses.append(
            ScheduleStatus(
                name=row.name,
                func=row.func,
                queue=row.queue,
                schedule=describe_schedule(row),
                timezone=row.time_zone,
                next_run=next(iter(upcoming_runs(row, 1, after=now)), None) if row.enabled else None,
                last_runs=runs.get(key, []),
                error=errors.get(row.pk) or failures.get(key),
                pk=row.pk,
                enabled=row.enabled,
                last_job_status=row.last_status,
                run_count=row.run_count,
                success_count=row.success_count,
                failure_count=row.failure_count,
            )
        )
    return statuses


def _recent_runs(entries: Sequence[CronEntry], limit: int) -> tuple[dict[str, list[CronRun]], dict[str, str]]:
    """The last runs of each entry by state key, and the entries whose Redis could not be read."""
    runs: dict[str, list[CronRun]] = {}
    failures: dict[str, str] = {}
    by_connection: dict[int, tuple[redis.Redis, list[CronEntry]]] = {}
    for entry in entries:
        connection = get_queue(entry.queue).connection
        by_connection.setdefault(id(connection), (connection, []))[1].append(entry)
    for connection, group in by_connection.values():
        try:
            with connection.pipeline(transaction=False) as pipe:
                for entry in group:
                    pipe.lrange(entry.runs_key, 0, limit - 1)
                results = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            for entry in group:
                failures[entry.state_key] = f"Redis unreachable ({type(exc).__name__})"
            continue
        for entry, raw_runs in zip(group, results, strict=True):
            runs[entry.state_key] = [CronRun.from_json(item) for item in raw_runs]
    return runs, failures


def cron_runners(connection: redis.Redis | None = None, *, now: datetime | None = None) -> list[str]:
    """Names of the cron runners alive (ticked recently) on ``connection``.

    Default: the connection of the first RQ_CRON entry's queue (every runner ticks on the
    connections of all entries), else of the ``default`` queue.
    """
    if connection is None:
        items = [item for item in taskq_settings.CRON if isinstance(item, dict)]
        name = str(items[0].get("queue", "default")) if items else "default"
        connection = get_queue(name if name in taskq_settings.QUEUES else "default").connection
    stamp = (now or datetime.now(timezone.utc)).timestamp()
    names = connection.zrangebyscore(RUNNERS_KEY, stamp, "+inf")
    return sorted(name.decode() if isinstance(name, bytes) else str(name) for name in names)
