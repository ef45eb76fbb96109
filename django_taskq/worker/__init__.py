"""Django-aware RQ workers: the worker kinds, the prefork supervisor, and how to build a worker.

Worker kinds (``rqworker --worker-class``):

``prefork`` (default, :class:`DjangoPreforkWorker`)
    One long-lived work process, forked once and supervised by the ``rqworker`` process.
    Jobs run one after another in it, each under its own timeout; if a job kills the
    process (segfault, ``os._exit``, out of memory) or hangs past its timeout, the
    supervisor fails (or retries) the job and forks a fresh work process.
``fork`` (:class:`DjangoWorker`)
    RQ's classic model: a fresh process forked for every job.
``simple`` / ``inprocess`` (:class:`DjangoSimpleWorker`)
    Jobs run in the worker process itself.
``spawn`` (:class:`DjangoSpawnWorker`)
    A new interpreter for every job (platforms without a safe ``fork``).

Modules: ``base`` (DjangoWorkerMixin, what every kind changes in RQ's worker), ``kinds``
(the kinds and ``get_worker``), ``prefork`` and ``supervisor`` (the default kind),
``db`` (database connections around jobs and forks), ``process`` (fork hygiene),
``pool`` (``rqworker-pool``). ``django_taskq.workers`` is the documented alias of this package.
"""

from rq.exceptions import StopRequested

from .base import HEARTBEAT_INTERVAL, MAINTENANCE_INTERVAL, MAX_BACKOFF, DjangoWorkerMixin
from .kinds import (
    WORKER_KINDS,
    DjangoSimpleWorker,
    DjangoSpawnWorker,
    DjangoWorker,
    exception_handlers,
    get_worker,
    resolve_worker_class,
)
from .prefork import DjangoPreforkWorker
from .supervisor import WorkerStartupError

__all__ = [
    "HEARTBEAT_INTERVAL",
    "MAINTENANCE_INTERVAL",
    "MAX_BACKOFF",
    "WORKER_KINDS",
    "DjangoPreforkWorker",
    "DjangoSimpleWorker",
    "DjangoSpawnWorker",
    "DjangoWorker",
    "DjangoWorkerMixin",
    "StopRequested",
    "WorkerStartupError",
    "exception_handlers",
    "get_worker",
    "resolve_worker_class",
]
