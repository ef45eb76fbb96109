"""A ``Schedule`` row as a runner entry: its slots in its own time zone and window, its ids and keys.

Pure: nothing here queries the database or Redis. A row has *slots* as an ``RQ_CRON`` entry has:

- ``cron``: the instants the cron string names, read in the row's ``time_zone`` (DST as for
  ``RQ_CRON``: a fixed-hour slot in the repeated autumn hour runs once, a missing spring time
  runs at the first instant after it);
- ``interval``: ``start_at`` (or the Unix epoch) plus a whole number of intervals;
- ``run_at``: that one instant.

No slot lies before ``start_at`` or after ``end_at``. A row's Redis keys and job ids carry its
primary key under their own prefix, so they never meet an ``RQ_CRON`` entry's, whatever its name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import DEFAULT_DB_ALIAS
from rq import Callback

from .schedule import DEFAULT_GRACE, CronConfigError, CronEntry, valid_cron

if TYPE_CHECKING:
    from ..models import Schedule

ROW_KEY_PREFIX = "taskq:schedule:"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# One object each, shared by every entry: entries built from the same row compare equal.
CALLBACKS = {
    "on_success": Callback("django_taskq.cron.run_state.schedule_job_succeeded"),
    "on_failure": Callback("django_taskq.cron.run_state.schedule_job_failed"),
    "on_stopped": Callback("django_taskq.cron.run_state.schedule_job_stopped"),
}


@dataclass(frozen=True)
class ScheduleEntry(CronEntry):
    """The runner's view of one ``Schedule`` row (built by ``from_row``; equal while the row is)."""

    pk: int = 0
    run_at: datetime | None = None
    time_zone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_runs: int | None = None
    # As loaded (Redis keeps the count the runners agree on); not compared: a row that ran is
    # the same entry, whose next slot the runner keeps.
    run_count: int = field(default=0, compare=False)
    database: str = DEFAULT_DB_ALIAS

    def __post_init__(self) -> None:
        given = [self.cron is not None, self.interval is not None, self.run_at is not None]
        if given.count(True) != 1:
            raise CronConfigError(f"Schedule {self.name!r} needs exactly one of cron, interval and run_at.")
        if self.cron is not None and not valid_cron(self.cron):
            raise CronConfigError(f"Schedule {self.name!r}: {self.cron!r} is not a valid cron string.")
        if self.interval is not None and not self.interval > 0:
            raise CronConfigError(f"Schedule {self.name!r}: the interval must be positive.")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CronConfigError(f"Schedule {self.name!r}: unknown time zone {self.time_zone!r}.") from exc

    @classmethod
    def from_row(cls, row: Schedule, *, database: str | None = None) -> ScheduleEntry:
        """The entry of ``row``; raises CronConfigError when the row cannot run (say why)."""
        if not isinstance(row.args, list) or not isinstance(row.kwargs, dict):
            raise CronConfigError(
                f"Schedule {row.name!r}: args must be a JSON list and kwargs a JSON object."
            )
        options: dict[str, Any] = {
            key: value
            for key, value in (("timeout", row.timeout), ("result_ttl", row.result_ttl), ("ttl", row.ttl))
            if value is not None
        }
        options["description"] = row.description or row.name
        options.update(CALLBACKS)
        alias = database or row._state.db or DEFAULT_DB_ALIAS
        options["meta"] = {"schedule": row.pk, "schedule_db": alias}
        return cls(
            name=row.name,
            func=row.func,
            queue=row.queue,
            cron=row.cron.strip() or None,
            interval=float(row.interval) if row.interval is not None else None,
            args=tuple(row.args),
            kwargs=dict(row.kwargs),
            grace=DEFAULT_GRACE,
            options=options,
            pk=int(row.pk or 0),
            run_at=row.run_at,
            time_zone=row.time_zone or "UTC",
            start_at=row.start_at,
            end_at=row.end_at,
            max_runs=row.max_runs,
            run_count=row.run_count,
            database=alias,
        )

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.time_zone)

    @property
    def schedule(self) -> str:
        if self.run_at is not None:
            return f"once at {self.run_at.astimezone(self.zone):%Y-%m-%d %H:%M:%S}"
        return super().schedule

    def slot_at(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now`` inside the window, in UTC (None: no slot yet)."""
        limit = min(now, self.end_at) if self.end_at is not None else now
        slot: datetime | None
        if self.run_at is not None:
            slot = self.run_at if self.run_at <= limit else None
        elif self.interval is not None:
            anchor, step = self._anchor, timedelta(seconds=self.interval)
            slot = anchor + (limit - anchor) // step * step if limit >= anchor else None
        else:
            slot = super().slot_at(limit)
        if slot is None or (self.start_at is not None and slot < self.start_at):
            return None
        return slot.astimezone(timezone.utc)

    def next_slot(self, now: datetime) -> datetime | None:
        """The first slot strictly after ``now`` inside the window (None when the schedule is over)."""
        slot: datetime | None
        if self.run_at is not None:
            slot = self.run_at if self.run_at > now else None
        elif self.interval is not None:
            anchor, step = self._anchor, timedelta(seconds=self.interval)
            slot = anchor if now < anchor else anchor + ((now - anchor) // step + 1) * step
        else:
            after = now
            if self.start_at is not None and self.start_at > now:
                after = self.start_at - timedelta(microseconds=1)  # a slot at start_at counts
            slot = super().next_slot(after)
        if slot is None or (self.start_at is not None and slot < self.start_at):
            return None
        if self.end_at is not None and slot > self.end_at:
            return None
        return slot.astimezone(timezone.utc)

    @property
    def _anchor(self) -> datetime:
        return self.start_at if self.start_at is not None else EPOCH

    def job_id(self, slot: datetime) -> str:
        when = slot.astimezone(timezone.utc)
        fraction = f"{when.microsecond:06d}" if when.microsecond else ""
        return f"schedule-{self.pk}-{when:%Y%m%dT%H%M%S}{fraction}"

    @property
    def state_key(self) -> str:
        return f"{ROW_KEY_PREFIX}{self.pk}"

    @property
    def runs_key(self) -> str:
        return f"{ROW_KEY_PREFIX}{self.pk}:runs"

    def runs_so_far(self, recorded: int) -> int:
        # Redis counts the runs the runners agree on; the row's count covers a Redis that lost it.
        return max(recorded, self.run_count)

    def may_run(self, runs: int) -> bool:
        return self.max_runs is None or runs < self.max_runs
