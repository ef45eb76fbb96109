"""The RQ job function of every Django task: plain ``rqworker`` runs tasks with no special job class."""

from __future__ import annotations

import os
import socket
from traceback import format_exception
from typing import Any

from rq.job import get_current_job

from .compat import (
    TaskContext,
    TaskError,
    TaskResultStatus,
    normalize_json,
    task_backends,
    task_finished,
    task_started,
)
from .results import (
    META_ATTEMPT_STARTED_AT,
    META_BACKEND,
    META_ERRORS,
    META_STARTED_AT,
    META_WORKER_IDS,
    build_result,
    class_path,
    load_task,
    to_iso,
    utc_now,
)


def run_task(*args: Any, **kwargs: Any) -> Any:
    """Run the task stored on the current RQ job with ``args``/``kwargs``; return its JSON-normalised value.

    Sends ``task_started`` and ``task_finished`` from this (the worker's) process and records
    the attempt (worker id, start time, error) on the job so that ``get_result`` can read it.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_task() runs inside an RQ job; enqueue a task with Task.enqueue().")
    alias = str(job.meta[META_BACKEND])
    backend = task_backends[alias]
    task = load_task(job, alias)

    started = job.started_at or utc_now()
    job.started_at = started
    job.meta.setdefault(META_WORKER_IDS, []).append(
        job.worker_name or f"{socket.gethostname()}.{os.getpid()}"
    )
    job.meta.setdefault(META_STARTED_AT, to_iso(started))
    job.meta[META_ATTEMPT_STARTED_AT] = to_iso(started)
    job.save_meta()  # type: ignore[no-untyped-call]

    result = build_result(job, task, alias)
    object.__setattr__(result, "status", TaskResultStatus.RUNNING)
    object.__setattr__(result, "last_attempted_at", started)
    sender = type(backend)
    task_started.send(sender=sender, task_result=result)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        value = normalize_json(value)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: the task failed with that class, not the worker
        error = {"exception_class_path": class_path(type(exc)), "traceback": "".join(format_exception(exc))}
        job.meta.setdefault(META_ERRORS, []).append(error)
        job.save_meta()  # type: ignore[no-untyped-call]
        result.errors.append(TaskError(**error))
        if (job.retries_left or 0) > 0:
            object.__setattr__(result, "status", TaskResultStatus.READY)  # RQ will run it again
        else:
            object.__setattr__(result, "status", TaskResultStatus.FAILED)
            object.__setattr__(result, "finished_at", utc_now())
            task_finished.send(sender=sender, task_result=result)
        raise
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "finished_at", utc_now())
    object.__setattr__(result, "_return_value", value)
    task_finished.send(sender=sender, task_result=result)
    return value
