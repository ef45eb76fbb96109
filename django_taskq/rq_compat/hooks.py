"""The rq.Queue methods that monitoring tools wrap to see enqueued jobs, and how our writes
reach those wrappers.

sentry-sdk's RqIntegration wraps ``rq.Queue.enqueue_job`` (it copies the current trace into
the job's meta); OpenTelemetry's RQ instrumentation wraps ``rq.Queue._enqueue_job``. Our
one-command write skips both, so while either is wrapped the jobs are written through RQ's
``enqueue_job`` (``queues.DjangoQueue.write_pending``); a scheduled job, which RQ writes with
``schedule_job``, is shown to the wrappers of ``enqueue_job`` by ``run_enqueue_job_wrappers``.
``tests/test_observability.py`` proves these against the installed RQ.
"""

from __future__ import annotations

import copy
from types import FunctionType
from typing import Any

import rq.queue
from redis.client import Pipeline
from rq.job import Job
from rq.queue import Queue

__all__ = ["WRITE_HOOKS", "enqueue_wrapped", "run_enqueue_job_wrappers"]

# The rq.Queue methods that our one-round-trip write stands in for.
WRITE_HOOKS = ("enqueue_job", "_enqueue_job")


def _wrapped(name: str) -> bool:
    """Whether ``rq.Queue.<name>`` is not the function RQ defined (a ``functools.wraps``
    wrapper, a wrapt proxy...)."""
    method = vars(Queue).get(name)
    return not (isinstance(method, FunctionType) and method.__globals__ is vars(rq.queue))


def enqueue_wrapped() -> bool:
    """Whether some code wrapped one of ``WRITE_HOOKS``: jobs must then be written through
    ``rq.Queue.enqueue_job``, so that the wrapper sees them."""
    return any(_wrapped(name) for name in WRITE_HOOKS)


def run_enqueue_job_wrappers(queue: Queue, job: Job) -> None:
    """Run what wraps ``rq.Queue.enqueue_job`` on ``job`` without enqueueing it or touching
    Redis: for a job that RQ will put on ``queue`` later (a scheduled one), so that sentry-sdk
    stamps the trace of the code that scheduled it. Nothing to do when nothing wraps it.

    RQ's own ``enqueue_job`` runs on a copy of ``queue`` whose steps that write or read Redis
    (``setup_dependencies``, ``_enqueue_job``, ``_enqueue_rate_limited_job``) do nothing, with
    a pipeline that is never sent.
    """
    if not _wrapped("enqueue_job") or job.has_rate_limit:  # RQ refuses those with a pipeline
        return
    probe = copy.copy(queue)
    probe.__class__ = _probe_class(type(queue))
    scratch = queue.connection.pipeline()
    try:
        Queue.enqueue_job(probe, job, pipeline=scratch)
    finally:
        scratch.reset()


_probe_classes: dict[type[Queue], type[Queue]] = {}


def _probe_class(queue_class: type[Queue]) -> type[Queue]:
    probe = _probe_classes.get(queue_class)
    if probe is None:

        class Probe(queue_class):  # type: ignore[valid-type,misc]
            def setup_dependencies(self, job: Job, pipeline: Pipeline | None = None) -> Job:
                return job

            def _enqueue_job(self, job: Job, *args: Any, **kwargs: Any) -> Job:
                return job

            def _enqueue_rate_limited_job(self, job: Job, *args: Any, **kwargs: Any) -> Job:
                return job

        probe = _probe_classes.setdefault(queue_class, Probe)
    return probe
