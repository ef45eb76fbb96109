"""DjangoWorkerMixin: what every django-taskq worker kind changes in RQ's worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from django.utils.module_loading import import_string
from rq.exceptions import InvalidJobOperation
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.utils import now
from rq.worker.base import WorkerStatus

from .. import counters
from ..backoff import MAX_BACKOFF, Backoff
from ..conf import taskq_settings
from ..connections import client_location
from ..log import job_context
from ..rq_compat.worker import (
    PrivateHooks,
    fail_job,
    has_callbacks,
    maintenance_done_now,
    worker_exception_handlers,
)
from .abandoned import ABANDONED_CHECK_INTERVAL, AbandonedJobsCheck
from .db import close_unusable_db_connections, in_transaction
from .process import ending_with_its_worker

if TYPE_CHECKING:
    from ..outbox.relay import PeriodicRelay

logger = logging.getLogger("django_taskq.worker")
T = TypeVar("T")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

# How often (seconds) a busy worker refreshes the heartbeats of its job; a job whose
# heartbeat is older than 4 intervals (3 of grace) counts as abandoned. Every live worker and
# rqscheduler looks for such jobs every ABANDONED_CHECK_INTERVAL seconds (worker.abandoned),
# so the job of a worker that died is failed or retried within 4 * 3 + 2 = 14 s (plus the time
# until some worker or rqscheduler is alive to notice), instead of the ~11 minutes RQ's
# defaults allow. Only busy workers write heartbeats: an idle one pays for the check only.
HEARTBEAT_INTERVAL = 3
MIN_GRACE = 5
MAINTENANCE_INTERVAL = 30
IDLE_WAKEUP = 5  # longest blocking wait of an idle worker for a job, in seconds

__all__ = [
    "ABANDONED_CHECK_INTERVAL",
    "HEARTBEAT_INTERVAL",
    "IDLE_WAKEUP",
    "MAINTENANCE_INTERVAL",
    "MAX_BACKOFF",
    "MIN_GRACE",
    "REDIS_ERRORS",
    "DjangoWorkerMixin",
]


class DjangoWorkerMixin(PrivateHooks):
    """Django-aware behaviour shared by every worker kind.

    - Database connections are checked before and after each job: broken or stale ones
      are closed, so a database error in one job never poisons the next.
    - Redis outages are logged and waited out with exponential backoff instead of
      stopping the worker.
    - Each job outcome is counted (``django_taskq.counters``) in the pipeline RQ already
      uses to record it: no extra round trip.
    - Abandoned jobs are detected quickly: short execution heartbeats, a cheap look at the
      started registries every few seconds and frequent registry maintenance.
    """

    heartbeat_interval: int = HEARTBEAT_INTERVAL
    max_connection_wait_time = MAX_BACKOFF  # RQ's dequeue backoff cap (60 s by default)
    abandoned_check_interval: float = ABANDONED_CHECK_INTERVAL
    taskq_checks_abandoned = True  # False in a prefork work process: its supervisor checks
    _taskq_job: Job | None = None
    _taskq_queue: Queue | None = None
    # Pushes what the outbox holds (rqworker and rqworker-pool set it: django_taskq.outbox.relay).
    taskq_outbox_relay: PeriodicRelay | None = None

    def __init__(self, *args: Any, heartbeat_interval: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        if heartbeat_interval is not None:
            self.heartbeat_interval = heartbeat_interval
        kwargs.setdefault("job_monitoring_interval", self.heartbeat_interval)
        super().__init__(*args, **kwargs)
        self._taskq_abandoned = AbandonedJobsCheck(list(self.queues), self.abandoned_check_interval)
        # Started in the process that runs the work loop (e.g. the RQ_CRON thread); each
        # returns a callable that stops what it started.
        self.startup_hooks: list[Callable[[], Callable[[], None]]] = []
        self._taskq_stoppers: list[Callable[[], None]] = []

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)
        for hook in self.startup_hooks:
            self._taskq_stoppers.append(hook())
        if self.taskq_outbox_relay is not None:  # before the first job, --burst included
            self.taskq_outbox_relay.run()

    # --- database connections -----------------------------------------------------------

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        self._taskq_job = job
        callers = in_transaction()
        close_unusable_db_connections(keep=callers)
        try:
            with job_context(job):
                return super().perform_job(job, queue, *args, **kwargs)
        finally:
            close_unusable_db_connections(keep=callers)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._taskq_job = job
        self._taskq_queue = queue
        try:
            self._taskq_retrying(lambda: super(DjangoWorkerMixin, self).execute_job(job, queue))
        finally:
            self._taskq_job = None
            self._taskq_queue = None

    def request_force_stop(self, signum: int, frame: Any) -> None:
        """Second signal: RQ kills the work horse but leaves its job STARTED until registry
        maintenance notices; fail it (or retry it, per its Retry) right away instead."""
        job, queue = self._taskq_job, self._taskq_queue
        execution = next(iter(self.executions.values()), None)
        had_horse = bool(self.horse_pid)
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            if had_horse and job is not None and queue is not None:
                self._taskq_fail_interrupted(job, queue, execution)
            raise

    def _taskq_fail_interrupted(self, job: Job, queue: Queue, execution: Execution | None) -> None:
        try:
            if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED):
                return
            job.ended_at = now()
            logger.warning("Job %s interrupted by a second stop signal", job.id)
            fail_job(self, job, queue, "Worker stopped by a second signal while running the job.", execution)
        except (redis.RedisError, InvalidJobOperation):
            # Redis cannot record it, or the job is gone. The worker is exiting: nothing can
            # wait and retry here; registry maintenance fails (or retries) the job once its
            # heartbeat expires.
            logger.exception("Could not record the interruption of job %s", job.id)

    # --- outcome counters, recorded in RQ's own pipelines -----------------------------------

    def increment_successful_job_count(self, pipeline: Any = None) -> None:
        super().increment_successful_job_count(pipeline)
        self._taskq_count_outcome("finished", pipeline)

    def increment_failed_job_count(self, pipeline: Any = None) -> None:
        super().increment_failed_job_count(pipeline)
        self._taskq_count_outcome("failed", pipeline)

    # In-process kinds write "idle" and the worker heartbeat in the pipeline that records the
    # job's outcome (the last write of a job) instead of two more round trips after it.
    _taskq_fold_idle_into_outcome = False

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if not self._taskq_fold_idle_into_outcome or has_callbacks(job):
            super().handle_execution_ended(job, queue, heartbeat_ttl)
        else:  # that heartbeat only covers a callback's run time: no callback, no round trip
            job.ended_at = now()

    def _taskq_count_outcome(self, outcome: counters.Outcome, pipeline: Any) -> None:
        job = self._taskq_job
        if job is None:
            return
        if self._taskq_fold_idle_into_outcome and pipeline is not None:
            super().set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
        try:
            duration = (
                (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else 0.0
            )
            counters.record(
                pipeline if pipeline is not None else self.connection, job.origin, outcome, duration
            )
        except Exception:  # counting must never cost a job its outcome
            logger.exception("Could not count the outcome of job %s", job.id)

    # --- abandoned-job detection ------------------------------------------------------------

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.heartbeat_interval
        if job.timeout and job.timeout > 0:
            interval = max(1, int(min(job.timeout - working_time, interval)))
        return interval + self.heartbeat_grace

    @property
    def heartbeat_grace(self) -> int:
        """Seconds a job may miss heartbeats before it counts as abandoned."""
        return max(3 * self.heartbeat_interval, MIN_GRACE)

    @property
    def should_run_maintenance_tasks(self) -> bool:
        # RQ's loop asks this before each wait for a job: full maintenance, or the quick check.
        full: bool = super().should_run_maintenance_tasks  # type: ignore[misc]
        return full or (self.taskq_checks_abandoned and self._taskq_abandoned.due)

    def run_maintenance_tasks(self) -> None:
        if not super().should_run_maintenance_tasks:  # type: ignore[misc]
            self.clean_abandoned_jobs()
            return
        try:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
            self._taskq_abandoned.done_now()  # the full maintenance cleaned the started registries
        except REDIS_ERRORS as exc:
            logger.error(
                "Registry maintenance skipped, Redis at %s unreachable: %s",
                client_location(self.connection),
                exc,
            )
            maintenance_done_now(self)

    def clean_abandoned_jobs(self) -> None:
        """Fail or retry the jobs of dead workers on this worker's queues, if the quick check is
        due (every ``abandoned_check_interval`` seconds). Never raises a Redis error: the loop
        that calls it reports outages."""
        if not self.taskq_checks_abandoned:
            return
        try:
            self._taskq_abandoned.run(worker_exception_handlers(self))
        except REDIS_ERRORS:
            pass
        except redis.RedisError:
            logger.exception("Could not look for abandoned jobs")

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        # Called every heartbeat interval while a job runs (by the fork kind's main process and
        # the prefork supervisor): a busy worker looks for other workers' abandoned jobs too.
        super().maintain_heartbeats(job, execution)  # type: ignore[no-untyped-call]
        self.clean_abandoned_jobs()

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker wakes up at least once per maintenance interval to clean the
        # registries (RQ blocks for worker_ttl - 15 s, ~7 minutes by default), and every few
        # seconds in any case: a stop signal that the kernel handed to another thread is only
        # acted on when the main thread's blocking read returns.
        return max(1, min(int(self.worker_ttl) - 15, int(self.maintenance_interval), IDLE_WAKEUP))

    # --- the scheduler process (--with-scheduler) ------------------------------------------

    def taskq_scheduler_class(self) -> type[RQScheduler]:
        # RQ["SCHEDULER_CLASS"] instead of RQ's own class, in a process that ends with this one.
        return ending_with_its_worker(import_string(taskq_settings.SCHEDULER_CLASS))

    # --- Redis outages ------------------------------------------------------------------------

    def _taskq_retrying(self, func: Callable[[], T]) -> T:
        """Call ``func``; while Redis is unreachable, log and retry with exponential backoff."""
        backoff = Backoff()
        while True:
            try:
                return func()
            except REDIS_ERRORS as exc:
                wait = backoff.next_delay()
                logger.error(
                    "Redis at %s unreachable (%s); retrying in %.0f s",
                    client_location(self.connection),
                    exc,
                    wait,
                )
                time.sleep(wait)

    # --- fewer round trips per job ---------------------------------------------------------
    # RQ writes the worker's heartbeat three times and its state twice around every job, each
    # a separate round trip, and asks Redis whether workers are suspended before every job.
    # The same writes are batched, and repeats that change nothing are skipped.

    _taskq_beat: tuple[float, int] | None = None
    _taskq_suspension_checked = 0.0
    suspension_check_interval = 1.0  # seconds; ``rqsuspend`` takes effect within this delay
    heartbeat_min_interval = 5.0  # seconds between two identical heartbeats

    def check_for_suspension(self, burst: bool) -> None:
        if time.monotonic() - self._taskq_suspension_checked < self.suspension_check_interval:
            return
        self._taskq_retrying(lambda: super(DjangoWorkerMixin, self).check_for_suspension(burst))
        self._taskq_suspension_checked = time.monotonic()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is None and self.taskq_outbox_relay is not None:
            # RQ beats after each job and at each wake-up of an idle wait: every few seconds,
            # the outbox relay (one query when the outbox is empty).
            self.taskq_outbox_relay.maybe_run()
        ttl = int(timeout or self.worker_ttl + 60)
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            self._taskq_beat = (time.monotonic(), ttl)
            return
        beat = self._taskq_beat
        if beat is not None and beat[1] == ttl and time.monotonic() - beat[0] < self.heartbeat_min_interval:
            return

        def send() -> None:
            with self.connection.pipeline(transaction=False) as pipe:
                super(DjangoWorkerMixin, self).heartbeat(timeout, pipeline=pipe)
                pipe.execute()

        self._taskq_retrying(send)
        self._taskq_beat = (time.monotonic(), ttl)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline=pipeline)
            return
        if state == self.get_state():
            return
        self._taskq_retrying(lambda: super(DjangoWorkerMixin, self).set_state(state))

    def teardown(self) -> None:
        while self._taskq_stoppers:
            try:
                self._taskq_stoppers.pop()()
            except Exception:
                logger.exception("Could not stop a worker companion")
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except REDIS_ERRORS as exc:
            logger.error(
                "Could not register the worker's death, Redis at %s unreachable: %s",
                client_location(self.connection),
                exc,
            )
