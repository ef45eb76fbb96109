"""How a Django task is stored on an RQ job, and the TaskResult read back from one.

A task is an ordinary RQ job: its function is :func:`django_taskq.backends.runner.run_task`,
its ``args``/``kwargs`` are the task's own (JSON-normalised) arguments, its description is
the task's dotted path and ``job.meta`` holds the rest under the ``META_*`` keys below.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, ParamSpec, TypeVar

from django.utils.module_loading import import_string
from rq.job import Job

from ..rq_compat.storage import latest_exc_string
from .compat import DEFAULT_TASK_PRIORITY, InvalidTask, Task, TaskError, TaskResult, TaskResultStatus
from .exceptions import TaskCanceled, TaskStopped, WorkerLost

P = ParamSpec("P")
R = TypeVar("R")

RUNNER_PATH = "django_taskq.backends.runner.run_task"

META_TASK_NAME = "task_name"  # the task's dotted path: what the dashboard shows instead of run_task
META_BACKEND = "task_backend"  # the TASKS alias that enqueued it
# Left out when they are the defaults:
META_QUEUE_NAME = "task_queue_name"  # the task's queue_name, when the job sits on another (priority) queue
META_PRIORITY = "task_priority"  # when not 0
META_RUN_AFTER = "task_run_after"  # ISO 8601, UTC, when set
META_WORKER_IDS = "task_worker_ids"  # one entry per attempt, appended by the runner
META_STARTED_AT = "task_started_at"  # ISO 8601, UTC: the first attempt's start
META_ATTEMPT_STARTED_AT = "task_attempt_started_at"  # ISO 8601, UTC: the latest recorded attempt's start
META_ERRORS = "task_errors"  # [{"exception_class_path", "traceback"}], one per failed attempt

# Every RQ job status, as the four states of the tasks framework.
STATUSES: dict[str, TaskResultStatus] = {
    "created": TaskResultStatus.READY,
    "queued": TaskResultStatus.READY,
    "deferred": TaskResultStatus.READY,
    "scheduled": TaskResultStatus.READY,  # run_after in the future, or waiting for a retry
    "rate_limited": TaskResultStatus.READY,
    "ready_to_enqueue": TaskResultStatus.READY,
    "started": TaskResultStatus.RUNNING,
    "finished": TaskResultStatus.SUCCESSFUL,
    "failed": TaskResultStatus.FAILED,
    "stopped": TaskResultStatus.FAILED,
    "canceled": TaskResultStatus.FAILED,
}


_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def from_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def is_task_job(job: Job) -> bool:
    return job.func_name == RUNNER_PATH and isinstance(job.meta.get(META_TASK_NAME), str)


def load_task(job: Job, alias: str) -> Task[..., Any]:
    """The Task a job runs, with the priority, queue and run_after it was enqueued with."""
    meta = job.meta
    path = meta[META_TASK_NAME]
    try:
        task = import_string(path)
    except ImportError as exc:
        raise InvalidTask(f"Job {job.id} runs the task {path!r}, which cannot be imported: {exc}") from exc
    if not isinstance(task, Task):
        raise InvalidTask(f"Job {job.id} names {path!r}, which is not a task (decorate it with @task).")
    return task.using(
        priority=meta.get(META_PRIORITY, DEFAULT_TASK_PRIORITY),
        queue_name=meta.get(META_QUEUE_NAME, job.origin),
        run_after=from_iso(meta.get(META_RUN_AFTER)),
        backend=alias,
    )


def rq_status(job: Job) -> str | None:
    status = job.get_status(refresh=False)
    return None if status is None else str(getattr(status, "value", status))


def build_result(job: Job, task: Task[P, R], alias: str) -> TaskResult[P, R]:
    """The TaskResult of ``job`` as loaded (no further Redis reads but the return value's)."""
    meta = job.meta
    raw_status = rq_status(job)
    status = STATUSES.get(raw_status or "queued", TaskResultStatus.READY)
    worker_ids = [str(worker) for worker in meta.get(META_WORKER_IDS, [])]
    if _unrecorded_attempt(job):
        # RQ started an attempt that the runner has not recorded (yet, or ever: stopped, killed).
        worker_ids.append(job.worker_name or "unknown")
    errors = [
        TaskError(exception_class_path=str(e["exception_class_path"]), traceback=str(e["traceback"]))
        for e in meta.get(META_ERRORS, [])
    ]
    if raw_status in ("stopped", "canceled", "failed"):
        extra = _unreported_error(job, raw_status, attempts=len(worker_ids), reported=len(errors))
        if extra is not None:
            errors.append(extra)
    attempted = bool(worker_ids) or status == TaskResultStatus.RUNNING
    result: TaskResult[P, R] = TaskResult(
        task=task,
        id=job.id,
        status=status,
        enqueued_at=job.created_at,
        started_at=(from_iso(meta.get(META_STARTED_AT)) or job.started_at) if attempted else None,
        finished_at=job.ended_at
        if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
        else None,
        last_attempted_at=job.started_at if attempted else None,
        args=list(job.args),
        kwargs=dict(job.kwargs),
        backend=alias,
        errors=errors,
        worker_ids=worker_ids,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.return_value())
    return result


def _unrecorded_attempt(job: Job) -> bool:
    started = job.started_at
    if started is None or rq_status(job) not in ("started", "stopped", "failed"):
        return False
    recorded = from_iso(job.meta.get(META_ATTEMPT_STARTED_AT))
    return recorded is None or started - recorded > timedelta(milliseconds=1)


def _unreported_error(job: Job, raw_status: str, *, attempts: int, reported: int) -> TaskError | None:
    """An error for an ending that the task itself did not raise (stopped, canceled, worker died)."""
    if raw_status == "canceled":
        return TaskError(
            exception_class_path=class_path(TaskCanceled), traceback=f"Job {job.id} was canceled."
        )
    if raw_status == "stopped":
        return TaskError(exception_class_path=class_path(TaskStopped),
                         traceback=f"Job {job.id} was stopped while it ran.")  # fmt: skip
    if reported >= attempts and reported:
        return None  # the runner recorded the last attempt's exception
    detail = latest_exc_string(job) or f"Job {job.id} failed without reporting an error."
    return TaskError(exception_class_path=class_path(WorkerLost), traceback=detail)
