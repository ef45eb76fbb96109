"""The documented import path of django-taskq's workers, e.g.
``RQ = {"WORKER_CLASS": "django_taskq.workers.DjangoPreforkWorker"}``.

An alias: the workers live in the :mod:`django_taskq.worker` package and the scheduler runner
in :mod:`django_taskq.scheduler`; both paths name the same objects.
"""

from .scheduler import SchedulerRunner, get_scheduler
from .worker import (
    HEARTBEAT_INTERVAL,
    MAINTENANCE_INTERVAL,
    MAX_BACKOFF,
    WORKER_KINDS,
    DjangoPreforkWorker,
    DjangoSimpleWorker,
    DjangoSpawnWorker,
    DjangoWorker,
    DjangoWorkerMixin,
    StopRequested,
    WorkerStartupError,
    exception_handlers,
    get_worker,
    resolve_worker_class,
)

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
    "SchedulerRunner",
    "StopRequested",
    "WorkerStartupError",
    "exception_handlers",
    "get_scheduler",
    "get_worker",
    "resolve_worker_class",
]
