"""Logging for jobs: which job logged a record, and JSON lines without another dependency.

In ``LOGGING``, put :class:`JobContextFilter` on a handler; every record that handler emits
then carries ``job_id``, ``job_queue`` and ``job_func`` (None outside a job) for a format
string such as ``"%(levelname)s [%(job_id)s] %(message)s"``, or for :class:`JsonFormatter`.
See docs/observability.rst.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from rq import get_current_job
from rq.job import Job

__all__ = ["JOB_FIELDS", "JobContextFilter", "JsonFormatter", "job_context"]

JOB_FIELDS = ("job_id", "job_queue", "job_func")

# The job our worker is handling, from its start to its recorded outcome: RQ's current job
# only covers the call of the job's function, not the worker's own records of its failure.
_handled_job: ContextVar[Job | None] = ContextVar("taskq_handled_job", default=None)


@contextlib.contextmanager
def job_context(job: Job) -> Iterator[None]:
    """Within this block, records name ``job`` (used by our workers around each job)."""
    token = _handled_job.set(job)
    try:
        yield
    finally:
        _handled_job.reset(token)


class JobContextFilter(logging.Filter):
    """Adds the running job's id, queue and function to every record; never drops one.

    The job is the one our worker is handling in this thread, from its start to its recorded
    outcome (the worker's own "exception raised" record included), else RQ's current job
    (``rq.get_current_job()``, for jobs run by other workers).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        job = _handled_job.get() or get_current_job()
        if job is None:
            record.job_id = record.job_queue = record.job_func = None
        else:
            record.job_id = job.id
            record.job_queue = job.origin
            record.job_func = job.func_name
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, the job fields when :class:`JobContextFilter` added them, ``exc_info`` and
    ``stack_info`` when present. Values that JSON cannot hold are written with ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
