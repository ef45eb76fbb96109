"""Queue objects built from RQ_QUEUES, and commit-aware enqueueing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string
from redis import Redis
from redis.client import Pipeline
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import BaseRegistry

from .conf import COMMIT_MODES, taskq_settings
from .connections import connection_key, get_redis_connection, server_version
from .exceptions import MixedConnectionsError
from .rq_compat import hooks, jobs, priority
from .transactions import PendingJob, submit

__all__ = [
    "REGISTRY_STATES",
    "DjangoQueue",
    "enqueue",
    "enqueue_at",
    "enqueue_in",
    "get_queue",
    "get_queues",
    "state_registry",
]

# The states whose jobs a queue keeps in a registry (a sorted set); queued jobs are its list.
REGISTRY_STATES = ("started", "deferred", "finished", "failed", "scheduled", "canceled")


def state_registry(queue: Queue, state: str) -> BaseRegistry:
    """``queue``'s registry of the jobs in ``state`` (one of ``REGISTRY_STATES``)."""
    if state not in REGISTRY_STATES:
        raise ValueError(f"no registry holds {state!r} jobs; the states are {', '.join(REGISTRY_STATES)}")
    registry: BaseRegistry = getattr(queue, f"{state}_job_registry")  # RQ's public properties
    return registry


class DjangoQueue(Queue):
    """An ``rq.Queue`` whose enqueues honour COMMIT_MODE and take one Redis round trip."""

    def __init__(
        self,
        name: str = "default",
        connection: Redis | None = None,
        *,
        commit_mode: str | None = None,
        default_result_ttl: int | None = None,
        **kwargs: Any,
    ) -> None:
        if commit_mode is not None and commit_mode not in COMMIT_MODES:
            raise ValueError(f"commit_mode must be one of {', '.join(COMMIT_MODES)}, not {commit_mode!r}.")
        self._commit_mode = commit_mode
        self.default_result_ttl = default_result_ttl
        super().__init__(name, connection=connection, **kwargs)

    @property
    def commit_mode(self) -> str:
        return self._commit_mode or taskq_settings.COMMIT_MODE

    def get_redis_server_version(self) -> tuple[int, int, int]:
        return server_version(self.connection)

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        if kwargs.get("result_ttl") is None and self.default_result_ttl is not None:
            kwargs["result_ttl"] = self.default_result_ttl
        job: Job = super().create_job(*args, **kwargs)
        job.id  # noqa: B018 (RQ draws the id lazily: fixed now, repr() shows it before the commit)
        job.taskq_waiting_for_commit = False  # type: ignore[attr-defined]
        return job

    def push_job_id(self, job_id: str, pipeline: Pipeline | None = None, at_front: bool = False) -> None:
        priority.push_job_id(self, job_id, pipeline, at_front=at_front)  # a Django task: by its priority

    def enqueue_job(
        self, job: Job, pipeline: Pipeline | None = None, at_front: bool = False, unique: bool = False
    ) -> Job:
        options = {"unique": True} if unique else {}  # only when asked: RQ < 3 has no `unique`
        if pipeline is not None:  # the caller (often RQ itself) owns the write
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front, **options)
        job.origin = self.name
        submit(PendingJob(self, job, at_front=at_front, options=options), self.commit_mode)
        return job

    def schedule_job(
        self, job: Job, datetime: datetime, pipeline: Pipeline | None = None, unique: bool = False
    ) -> Job:
        options = {"unique": True} if unique else {}
        if pipeline is not None:
            return super().schedule_job(job, datetime, pipeline=pipeline, **options)
        job.origin = self.name
        submit(PendingJob(self, job, scheduled_for=datetime, options=options), self.commit_mode)
        return job

    def enqueue_many(  # type: ignore[override]
        self, job_datas: Iterable[Any], pipeline: Pipeline | None = None, group_id: str | None = None
    ) -> list[Job]:
        if pipeline is not None:  # the caller (e.g. rq.group.Group) owns the write
            return super().enqueue_many(job_datas, pipeline=pipeline, group_id=group_id)  # type: ignore[no-any-return]
        pendings = []
        seen_ids: set[str] = set()
        for job_data in job_datas:
            fields = jobs.enqueue_data_fields(job_data)
            job_id = fields.get("job_id")
            if job_id is not None:
                if job_id in seen_ids:  # the second would overwrite the first's hash
                    raise ValueError(f"Job ID {job_id!r} appears more than once in enqueue_many()")
                seen_ids.add(job_id)
            at_front = bool(fields.pop("at_front", False))
            if group_id is not None:
                fields["group_id"] = group_id
            job = self.create_job(**fields)
            job.origin = self.name
            pendings.append(PendingJob(self, job, at_front=at_front))
        submit(pendings, self.commit_mode)
        return [pending.job for pending in pendings]

    # Called by transactions.write() when the job's time has come.

    def can_pipeline(self, pending: PendingJob) -> bool:
        """Whether ``write_pending`` may add this job to a shared pipeline."""
        if pending.options.get("unique"):
            return False
        if pending.scheduled_for is not None:
            return True
        job = pending.job
        return (
            self.is_async
            and job.enqueued_at is None
            and job.get_status(refresh=False) in (None, JobStatus.QUEUED)
            and not jobs.dependency_ids(job)
            and not job.has_rate_limit
            and job.ttl != 0  # RQ deletes a job with ttl=0 at once; its own code does that
        )

    def write_pending(
        self, pending: PendingJob, pipe: Redis | Pipeline | None, *, through_rq: bool = False
    ) -> None:
        """Write one job: with RQ's own code when ``pipe`` is None, else (a job ``can_pipeline``
        accepted) on ``pipe``: a pipeline shared with other jobs, or the client itself.
        ``through_rq``: a monitoring tool wraps RQ's enqueue (``hooks.enqueue_wrapped()``)."""
        job = pending.job
        if pending.scheduled_for is not None:
            hooks.run_enqueue_job_wrappers(self, job)  # RQ's scheduler enqueues it outside any trace
            pipeline = pipe if isinstance(pipe, Pipeline) else None  # alone: RQ's own pipeline
            super().schedule_job(job, pending.scheduled_for, pipeline=pipeline, **pending.options)
        elif pipe is None:
            super().enqueue_job(job, at_front=pending.at_front, **pending.options)
        elif through_rq and isinstance(pipe, Pipeline):
            # The wrapper (trace headers into the meta) sees the job: RQ's own code writes it,
            # on the shared pipeline.
            super().enqueue_job(job, pipeline=pipe, at_front=pending.at_front)
        else:
            jobs.prepare_for_queue(self, job)
            if isinstance(pipe, Pipeline):
                job.save(pipeline=pipe)
                job.cleanup(ttl=job.ttl, pipeline=pipe)
                self.push_job_id(job.id, pipeline=pipe, at_front=pending.at_front)
            else:  # alone: one command (a script) instead of RQ's MULTI/EXEC
                jobs.write_queued(pipe, self, job, at_front=pending.at_front)


def get_queue(
    name: str = "default",
    *,
    is_async: bool | None = None,
    default_timeout: int | str | None = None,
    connection: Redis | None = None,
    commit_mode: str | None = None,
    serializer: Any = None,
    job_class: str | type[Job] | None = None,
    queue_class: str | type[Queue] | None = None,
) -> DjangoQueue:
    """The queue ``name`` of RQ_QUEUES; arguments override its settings for this object only."""
    plain = (is_async, default_timeout, connection, commit_mode, serializer, job_class, queue_class) == (
        None,
    ) * 7
    if plain:
        cached = _queue_cache.get(name)
        if cached is not None:
            return cached
    config = taskq_settings.queue_config(name)
    rq_settings = taskq_settings.RQ
    cls = _resolve(queue_class or config.get("QUEUE_CLASS") or taskq_settings.QUEUE_CLASS)
    kwargs: dict[str, Any] = {
        "connection": connection or get_redis_connection(config),
        "is_async": config.get("ASYNC", True) if is_async is None else is_async,
        "default_timeout": default_timeout if default_timeout is not None else config.get("DEFAULT_TIMEOUT"),
        "job_class": _resolve(job_class or config.get("JOB_CLASS") or taskq_settings.JOB_CLASS),
        "serializer": _resolve_serializer(
            serializer or config.get("SERIALIZER") or taskq_settings.SERIALIZER
        ),
    }
    if issubclass(cls, DjangoQueue):
        kwargs["commit_mode"] = commit_mode if commit_mode is not None else config.get("COMMIT_MODE")
        kwargs["default_result_ttl"] = config.get("DEFAULT_RESULT_TTL", rq_settings.get("DEFAULT_RESULT_TTL"))
    queue = cls(name, **kwargs)
    if plain:
        with _cache_lock:
            _queue_cache[name] = queue
    return queue  # type: ignore[no-any-return]


def get_queues(*names: str, **kwargs: Any) -> list[DjangoQueue]:
    """Queues by name (``default`` when none is given); they must share one Redis connection."""
    names = names or ("default",)
    configs = {name: taskq_settings.queue_config(name) for name in names}
    keys = {connection_key(config) for config in configs.values()}
    if len(keys) > 1 and kwargs.get("connection") is None:
        raise MixedConnectionsError(
            f"Queues {', '.join(names)} use different Redis connections; one worker serves one connection."
        )
    return [get_queue(name, **kwargs) for name in names]


def enqueue(func: Any, *args: Any, **kwargs: Any) -> Job:
    """Enqueue ``func(*args, **kwargs)`` on the default queue; RQ's job options are accepted."""
    return get_queue("default").enqueue(func, *args, **kwargs)


def enqueue_at(when: datetime, func: Any, *args: Any, **kwargs: Any) -> Job:
    """Schedule ``func`` on the default queue to run at ``when``."""
    return get_queue("default").enqueue_at(when, func, *args, **kwargs)  # type: ignore[no-any-return]


def enqueue_in(delay: timedelta, func: Any, *args: Any, **kwargs: Any) -> Job:
    """Schedule ``func`` on the default queue to run after ``delay``."""
    return get_queue("default").enqueue_in(delay, func, *args, **kwargs)  # type: ignore[no-any-return]


def _resolve(path: Any) -> Any:
    return _import_cached(path) if isinstance(path, str) else path


@lru_cache(maxsize=64)
def _import_cached(path: str) -> Any:
    return import_string(path)


def _resolve_serializer(value: Any) -> Any:
    return _import_cached(value) if isinstance(value, str) else value


_cache_lock = threading.Lock()
_queue_cache: dict[str, DjangoQueue] = {}


def _clear_queue_cache() -> None:
    _queue_cache.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_clear_queue_cache)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"RQ_QUEUES", "RQ", "CACHES"}:
        _clear_queue_cache()
