"""RQ's scheduler for django-taskq's queues: ``get_scheduler`` and ``rqscheduler``'s runner."""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from typing import Any

import redis
from django.utils.module_loading import import_string
from rq.scheduler import RQScheduler

from .backoff import Backoff, sleep_unless
from .conf import taskq_settings
from .connections import connection_groups
from .queues import get_queue, get_queues
from .rq_compat.worker import clean_queue_registries
from .worker.abandoned import AbandonedJobsCheck
from .worker.base import MAINTENANCE_INTERVAL, REDIS_ERRORS
from .worker.kinds import exception_handlers

logger = logging.getLogger("django_taskq.worker")


def get_scheduler(*queue_names: str, interval: int | float | None = None) -> RQScheduler:
    """RQ's scheduler (``RQ["SCHEDULER_CLASS"]``) for the named queues, else for every queue
    sharing the first queue's connection."""
    if not queue_names:
        groups = connection_groups()
        queue_names = groups[0].names if groups else ("default",)
    queues = get_queues(*queue_names)
    kwargs: dict[str, Any] = {}
    if interval is not None:
        kwargs["interval"] = interval
    scheduler_class: type[RQScheduler] = import_string(taskq_settings.SCHEDULER_CLASS)
    return scheduler_class(queues, connection=queues[0].connection, serializer=queues[0].serializer, **kwargs)


class SchedulerRunner:
    """``rqscheduler``: RQ's scheduler for some queues as its own process, one scheduler per Redis
    connection; it also runs registry maintenance, and the quick abandoned-job check every few
    seconds, so that the jobs of dead workers are failed or retried even while no worker is
    alive. Redis outages are waited out."""

    def __init__(self, queue_names: list[str], interval: float = 1.0,
                 maintenance_interval: float = MAINTENANCE_INTERVAL) -> None:  # fmt: skip
        for name in queue_names:
            taskq_settings.queue_config(name)  # raises UnknownQueueError
        groups = connection_groups(queue_names or None)
        # RQ's scheduler keeps its lock for interval + 60 s and needs whole seconds there; this
        # loop itself looks for due jobs every ``interval`` seconds, fractions included.
        lock_interval = max(1, math.ceil(interval))
        self.schedulers = [get_scheduler(*group.names, interval=lock_interval) for group in groups]
        self.queues = [get_queue(name) for group in groups for name in group.names]
        self.abandoned_checks = [
            AbandonedJobsCheck([get_queue(name) for name in group.names]) for group in groups
        ]
        self.interval = interval
        self.maintenance_interval = maintenance_interval
        self._stop = False

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        self._stop = True

    def _stopped(self) -> bool:
        return self._stop

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        last_maintenance = 0.0
        backoff = Backoff()
        registered = False
        try:
            while not self._stop:
                try:
                    if not registered:
                        for scheduler in self.schedulers:
                            scheduler.register_birth()
                            scheduler.acquire_locks()  # type: ignore[no-untyped-call]
                        registered = True
                    for scheduler in self.schedulers:
                        if scheduler.should_reacquire_locks:
                            scheduler.acquire_locks()  # type: ignore[no-untyped-call]
                        scheduler.heartbeat()  # type: ignore[no-untyped-call]
                        scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
                    if time.monotonic() - last_maintenance >= self.maintenance_interval:
                        self.clean_registries()
                        last_maintenance = time.monotonic()
                    else:
                        self.clean_abandoned_jobs()
                    backoff.reset()
                except REDIS_ERRORS as exc:
                    wait = backoff.next_delay()
                    logger.error("Redis unreachable (%s); retrying in %.0f s", exc, wait)
                    sleep_unless(self._stopped, wait)
                    continue
                except redis.RedisError:
                    wait = backoff.next_delay()
                    logger.exception("Scheduler error; retrying in %.0f s", wait)
                    sleep_unless(self._stopped, wait)
                    continue
                sleep_unless(self._stopped, self.interval)
        finally:
            for scheduler in self.schedulers:
                with contextlib.suppress(*REDIS_ERRORS):
                    scheduler.stop()  # type: ignore[no-untyped-call]

    def clean_registries(self) -> None:
        handlers = exception_handlers()
        for queue in self.queues:
            clean_queue_registries(queue, handlers)
        for check in self.abandoned_checks:
            check.done_now()

    def clean_abandoned_jobs(self) -> None:
        """The quick check (``worker.abandoned``), each connection when due."""
        handlers = exception_handlers()
        for check in self.abandoned_checks:
            check.run(handlers)
