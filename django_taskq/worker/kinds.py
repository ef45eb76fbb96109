"""The worker kinds ``rqworker --worker-class`` offers, and how a worker is built."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from rq.job import Job
from rq.queue import Queue
from rq.serializers import resolve_serializer
from rq.worker import SimpleWorker, SpawnWorker, Worker
from rq.worker.base import BaseWorker

from ..conf import taskq_settings
from ..queues import get_queues
from .base import DjangoWorkerMixin
from .db import close_db_connections_before_fork, forget_inherited_db_connections
from .process import flush_telemetry

# Short names for ``--worker-class`` and RQ["WORKER_CLASS"]; dotted paths work as well.
WORKER_KINDS: dict[str, str] = {
    "prefork": "django_taskq.worker.DjangoPreforkWorker",
    "fork": "django_taskq.worker.DjangoWorker",
    "simple": "django_taskq.worker.DjangoSimpleWorker",
    "inprocess": "django_taskq.worker.DjangoSimpleWorker",
    "spawn": "django_taskq.worker.DjangoSpawnWorker",
}


class DjangoWorker(DjangoWorkerMixin, Worker):
    """RQ's forking worker (a fresh child process per job), Django-aware."""

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # The horse must never share the parent's database sockets, nor its unsent events.
        close_db_connections_before_fork()
        flush_telemetry()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        forget_inherited_db_connections()
        super().main_work_horse(job, queue)

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            if self.is_horse:  # RQ ends the horse with os._exit, which skips the SDKs' flush
                flush_telemetry()


class DjangoSimpleWorker(DjangoWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no per-job process."""

    _taskq_fold_idle_into_outcome = True

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # Nothing refreshes the heartbeats while an in-process job runs: cover the whole job.
        if job.timeout == -1 or not job.timeout:
            return int(self.worker_ttl) + self.heartbeat_grace
        return int(job.timeout) + self.heartbeat_grace


class DjangoSpawnWorker(DjangoWorkerMixin, SpawnWorker):
    """Starts a fresh interpreter per job (for platforms without a safe fork)."""

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        close_db_connections_before_fork()
        super().fork_work_horse(job, queue)


def resolve_worker_class(value: str | type[Worker] | None = None) -> type[Worker]:
    """A worker class from a short kind name (``prefork``, ``fork``, ``simple``...), a dotted path
    or a class; the WORKER_CLASS setting when None. Raises ImportError or TypeError."""
    value = value or taskq_settings.WORKER_CLASS
    if isinstance(value, str):
        value = import_string(WORKER_KINDS.get(value, value))
    if not (isinstance(value, type) and issubclass(value, BaseWorker)):
        raise TypeError(f"{value!r} is not an RQ worker class.")
    return value  # type: ignore[return-value]


def exception_handlers() -> list[Any]:
    """The callables named by RQ_EXCEPTION_HANDLERS."""
    return [import_string(path) for path in taskq_settings.EXCEPTION_HANDLERS]


def get_worker(
    *queue_names: str,
    worker_class: str | type[Worker] | None = None,
    job_class: str | type[Job] | None = None,
    queue_class: str | type[Queue] | None = None,
    serializer: Any = None,
    **kwargs: Any,
) -> Worker:
    """A worker for the named queues (``default`` when none), in priority order."""
    cls = resolve_worker_class(worker_class)
    queues = get_queues(*queue_names, job_class=job_class, queue_class=queue_class, serializer=serializer)
    kwargs.setdefault("exception_handlers", exception_handlers() or None)
    if not issubclass(cls, DjangoWorkerMixin):
        kwargs.pop("heartbeat_interval", None)
    return cls(
        queues,
        connection=queues[0].connection,
        job_class=queues[0].job_class,
        queue_class=type(queues[0]),
        serializer=resolve_serializer(serializer) if serializer else queues[0].serializer,
        **kwargs,
    )
