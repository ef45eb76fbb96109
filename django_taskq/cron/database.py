"""What the admin does with a ``Schedule`` row: its next runs, the schedule in words, "Run now".

``upcoming_runs`` and ``describe_schedule`` read the row only (no query, no Redis), so the admin
can call them for every row of a page; ``run_now`` enqueues one job exactly as a scheduled run
would (same function, arguments, options and callbacks) and counts it in the run state.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.exceptions import WatchError
from rq.job import Job

from ..models import Schedule
from ..queues import get_queue
from .claims import HISTORY, CronRun, entry_job
from .rows import ScheduleEntry
from .run_state import record_run
from .schedule import CronConfigError

RUN_NOW = "run now"  # the outcome recorded in the row's history


def upcoming_runs(schedule: Schedule, count: int = 5, after: datetime | None = None) -> list[datetime]:
    """The next ``count`` run times of ``schedule`` after ``after`` (default now), aware and in UTC.

    Honours the cron string (in the row's time zone), the interval or ``run_at``, the
    ``start_at``/``end_at`` window and the runs left under ``max_runs``; ``enabled`` is ignored
    (the admin labels a disabled row's runs). A row that cannot run (an invalid cron string, an
    unknown time zone) has none.
    """
    try:
        entry = ScheduleEntry.from_row(schedule)
    except CronConfigError:
        return []
    if schedule.max_runs is not None:
        count = min(count, max(0, schedule.max_runs - schedule.run_count))
    moment = after or datetime.now(timezone.utc)
    runs: list[datetime] = []
    while len(runs) < count:
        slot = entry.next_slot(moment)
        if slot is None:
            break
        runs.append(slot)
        moment = slot
    return runs


def describe_schedule(schedule: Schedule) -> str:
    """The schedule in words: "every 30 seconds", "cron 0 9 * * 1-5 (Europe/Paris)", "once at ..."."""
    zone = _zone(schedule.time_zone)
    if schedule.cron.strip():
        words = f"cron {schedule.cron.strip()} ({schedule.time_zone})"
    elif schedule.interval is not None:
        words = f"every {_duration(schedule.interval)}"
    elif schedule.run_at is not None:
        words = f"once at {_when(schedule.run_at, zone)}"
    else:
        words = "no schedule"
    if schedule.start_at is not None:
        words += f", from {_when(schedule.start_at, zone)}"
    if schedule.end_at is not None:
        words += f", until {_when(schedule.end_at, zone)}"
    if schedule.max_runs is not None:
        words += f", at most {schedule.max_runs} run{'s' if schedule.max_runs != 1 else ''}"
    return words


def run_now(schedule: Schedule) -> Job:
    """Enqueue one job of ``schedule`` now, as a scheduled run would be; it counts as a run.

    Works for a disabled row too (an explicit request). The row's Redis run count and its
    ``run_count`` go up by one; reaching ``max_runs`` disables the row. Raises CronConfigError
    when the row cannot run (e.g. an invalid cron string) and redis errors as they come.
    """
    entry = ScheduleEntry.from_row(schedule)
    queue = get_queue(entry.queue)
    now = datetime.now(timezone.utc)
    job_id = f"schedule-{entry.pk}-now-{uuid.uuid4().hex[:12]}"
    job = entry_job(entry, queue, job_id, now, schedule_run=RUN_NOW)
    run = CronRun(now, job_id, now, 0.0, RUN_NOW, RUN_NOW)
    with queue.connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(entry.state_key)  # type: ignore[no-untyped-call]
                recorded = pipe.hget(entry.state_key, "runs")  # immediate while watching
                runs = entry.runs_so_far(int(recorded or 0)) + 1
                pipe.multi()
                pipe.hset(entry.state_key, "runs", runs)
                pipe.lpush(entry.runs_key, json.dumps(run.as_dict()))
                pipe.ltrim(entry.runs_key, 0, HISTORY - 1)
                if queue.is_async:  # RQ's enqueue with a pipeline only queues writes: one EXEC
                    queue.enqueue_job(job, pipeline=pipe)
                pipe.execute()
                break
            except WatchError:
                continue  # a runner counted a run meanwhile: count again
    if not queue.is_async:
        queue.enqueue_job(job)  # a synchronous queue runs it here
    record_run(entry, at=now, job_id=job_id, runs=runs, next_run=entry.next_slot(now))
    return job


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    seconds = f":{local.second:02d}" if local.second else ""
    return f"{local:%Y-%m-%d %H:%M}{seconds} {zone.key}"


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            amount = seconds // size
            return unit if amount == 1 else f"{amount} {unit}s"
    return "second" if seconds == 1 else f"{seconds} seconds"
