"""The run state of ``Schedule`` rows: written by the runner that wins a slot and by the job's callbacks.

Every write is one conditional ``UPDATE`` with ``F()`` expressions, so runners and workers that
write at the same time never lose a count or move ``last_run_at`` backwards:

- the winner of a slot sets ``last_run_at`` (the slot), ``last_job_id``, ``next_run_at``,
  ``last_status = "queued"`` and ``run_count`` (the count Redis keeps, never lowered), and
  disables the row when it reached ``max_runs``;
- the job's ``on_success``/``on_failure``/``on_stopped`` callbacks (in the worker) add one to
  ``success_count`` or ``failure_count`` and set ``last_status`` when the job is still the row's
  latest. A row that is gone, or a database that fails, never fails the job: it is logged.

None of these writes touches ``updated_at``: the runners reload the rows only when a person
changed them (see ``loader``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Greatest
from rq.job import Job

from ..models import Schedule
from .rows import ScheduleEntry

logger = logging.getLogger("django_taskq.cron")

QUEUED = "queued"


def record_run(
    entry: ScheduleEntry, *, at: datetime, job_id: str, runs: int, next_run: datetime | None
) -> None:
    """Record that ``entry``'s job ``job_id`` was enqueued for ``at``, its ``runs``-th run."""
    if not entry.may_run(runs):
        next_run = None  # its last run: the row is disabled below
    rows = Schedule.objects.using(entry.database).filter(pk=entry.pk)
    count = Greatest(F("run_count"), Value(runs))
    finished = Case(When(max_runs__isnull=False, max_runs__lte=runs, then=Value(False)), default=F("enabled"))
    newer = Q(last_run_at__isnull=True) | Q(last_run_at__lte=at)
    updated = rows.filter(newer).update(
        last_run_at=at,
        last_job_id=job_id,
        # The job may have finished (and its callback written) before this update: keep its status.
        last_status=Case(When(last_job_id=job_id, then=F("last_status")), default=Value(QUEUED)),
        next_run_at=next_run,
        run_count=count,
        enabled=finished,
    )
    if not updated:  # a later run is recorded already: only the count and the limit
        rows.update(run_count=count, enabled=finished)


def disable_finished(entry: ScheduleEntry, *, runs: int) -> None:
    """``entry`` has had ``runs`` runs, its maximum: disable its row (if the maximum still says so)."""
    Schedule.objects.using(entry.database).filter(
        pk=entry.pk, max_runs__isnull=False, max_runs__lte=runs
    ).update(enabled=False, next_run_at=None, run_count=Greatest(F("run_count"), Value(runs)))


def record_outcome(job: Job, status: str, *, success: bool) -> None:
    """Count the outcome of a row's job; never raises (the job's own outcome must stand)."""
    meta = job.meta or {}
    pk = meta.get("schedule")
    if pk is None:
        return
    alias = str(meta.get("schedule_db") or DEFAULT_DB_ALIAS)
    if alias not in connections:
        alias = DEFAULT_DB_ALIAS
    slot = _slot(meta)
    latest = Q(last_job_id=job.id)
    if slot is not None:
        latest |= Q(last_run_at__isnull=True) | Q(last_run_at__lt=slot)
    counter = "success_count" if success else "failure_count"
    changes: dict[str, Any] = {
        counter: F(counter) + 1,
        "last_status": Case(When(latest, then=Value(status)), default=F("last_status")),
        "last_job_id": Case(When(latest, then=Value(job.id)), default=F("last_job_id")),
    }
    if slot is not None:
        changes["last_run_at"] = Case(When(latest, then=Value(slot)), default=F("last_run_at"))
    try:
        Schedule.objects.using(alias).filter(pk=pk).update(**changes)
    except DatabaseError:
        logger.exception("schedule %s: could not record the outcome of job %s", pk, job.id)
        connections[alias].close()  # a broken connection must not poison the worker's next job
    except Exception:
        logger.exception("schedule %s: could not record the outcome of job %s", pk, job.id)


def _slot(meta: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(meta["cron_slot"]))
    except (KeyError, ValueError):
        return None


# --- the job callbacks (their dotted paths are stored in queued jobs: keep them) ----------------


def schedule_job_succeeded(job: Job, connection: Any, result: Any, *args: Any, **kwargs: Any) -> None:
    """RQ ``on_success`` callback of a row's jobs."""
    record_outcome(job, "finished", success=True)


def schedule_job_failed(job: Job, connection: Any, *exc_info: Any, **kwargs: Any) -> None:
    """RQ ``on_failure`` callback of a row's jobs."""
    record_outcome(job, "failed", success=False)


def schedule_job_stopped(job: Job, connection: Any, *args: Any, **kwargs: Any) -> None:
    """RQ ``on_stopped`` callback of a row's jobs (a stopped job counts as a failure)."""
    record_outcome(job, "stopped", success=False)
