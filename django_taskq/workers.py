"""The documented import path of django-taskq's workers, e.g.
``RQ = {"WORKER_CLASS": "django_taskq.workers.DjangoPreforkWorker"}``.

An alias: the workers live in the :mod:`django_taskq.worker` package and the scheduler runner
in :mod:`django_taskq.scheduler`; both paths name the same objects.
"""

from . import worker as _worker
from .scheduler import SchedulerRunner, get_scheduler
from .worker import *  # noqa: F403  (the alias re-exports exactly the package's public names)

__all__ = [*_worker.__all__, "SchedulerRunner", "get_scheduler"]
