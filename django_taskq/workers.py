"""Worker and scheduler construction, and Django-aware worker classes.

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
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import math
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from django.db import connections
from django.utils.module_loading import import_string
from rq.callbacks import execute_stopped_callback
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.serializers import resolve_serializer
from rq.utils import now
from rq.worker import SimpleWorker, SpawnWorker, Worker
from rq.worker.base import BaseWorker, WorkerStatus

from . import counters
from .conf import taskq_settings
from .connections import queues_by_connection
from .queues import get_queue, get_queues

logger = logging.getLogger("django_taskq.worker")
T = TypeVar("T")

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

# How often (seconds) a busy worker refreshes the heartbeats of its job; a job whose
# heartbeat is older than 4 intervals (3 of grace) counts as abandoned. With registry
# maintenance every MAINTENANCE_INTERVAL seconds, the job of a worker that died is failed or
# retried within 4 * 10 + 30 = 70 s (plus the time until some worker or rqscheduler is
# alive to notice), instead of the ~11 minutes RQ's defaults allow.
HEARTBEAT_INTERVAL = 10
MIN_GRACE = 5
MAINTENANCE_INTERVAL = 30
MAX_BACKOFF = 30.0
IDLE_WAKEUP = 5  # longest blocking wait of an idle worker for a job, in seconds


def redis_location(client: Any) -> str:
    """Where a Redis client connects, for logs: host, port and db, never a password."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix:{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _in_transaction() -> set[str]:
    """Aliases of the database connections inside an atomic block right now."""
    return {conn.alias for conn in connections.all(initialized_only=True) if conn.in_atomic_block}


def close_unusable_db_connections(keep: frozenset[str] | set[str] = frozenset()) -> None:
    """Close the database connections a job left broken, inside a transaction, or past CONN_MAX_AGE.

    ``keep``: aliases whose transaction belongs to the caller (a test running jobs in-process),
    left alone. Stricter than Django's own check: any connection that saw an error is closed,
    because some backends (SQLite) report a closed handle as usable.
    """
    for conn in connections.all(initialized_only=True):
        if conn.alias in keep or conn.connection is None:
            continue
        if conn.in_atomic_block or conn.needs_rollback or conn.errors_occurred:
            # The job left a transaction open or broke the connection: the next job starts clean.
            conn.in_atomic_block = False
            conn.atomic_blocks = []
            conn.savepoint_ids = []
            conn.needs_rollback = False
            conn.closed_in_transaction = False
            with contextlib.suppress(Exception):
                conn.close()
            conn.connection = None
            continue
        with contextlib.suppress(Exception):
            conn.close_if_unusable_or_obsolete()


def close_db_connections_before_fork() -> None:
    """Close the idle database connections so a child process never inherits their sockets."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            with contextlib.suppress(Exception):
                conn.close()


_inherited_db_handles: list[Any] = []


def forget_inherited_db_connections() -> None:
    """In a forked child: drop the database connections of the parent without closing them.

    Closing (or garbage-collecting) them would end the parent's sessions on the server; the
    handles are kept referenced and the child opens its own connections when needed.
    """
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited_db_handles.append(conn.connection)
            conn.connection = None


if TYPE_CHECKING:
    _WorkerBase = BaseWorker
else:
    _WorkerBase = object


class DjangoWorkerMixin(_WorkerBase):
    """Django-aware behaviour shared by every worker kind.

    - Database connections are checked before and after each job: broken or stale ones
      are closed, so a database error in one job never poisons the next.
    - Redis outages are logged and waited out with exponential backoff instead of
      stopping the worker.
    - Each job outcome is counted (``django_taskq.counters``) in the pipeline RQ already
      uses to record it: no extra round trip.
    - Abandoned jobs are detected quickly: short execution heartbeats and frequent
      registry maintenance.
    """

    heartbeat_interval: int = HEARTBEAT_INTERVAL
    max_connection_wait_time = MAX_BACKOFF  # RQ's dequeue backoff cap (60 s by default)
    _taskq_job: Job | None = None
    _taskq_queue: Queue | None = None
    _taskq_outcome: str | None = None

    def __init__(self, *args: Any, heartbeat_interval: int | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        if heartbeat_interval is not None:
            self.heartbeat_interval = heartbeat_interval
        kwargs.setdefault("job_monitoring_interval", self.heartbeat_interval)
        super().__init__(*args, **kwargs)
        # Started in the process that runs the work loop (e.g. the RQ_CRON thread); each
        # returns a callable that stops what it started.
        self.startup_hooks: list[Callable[[], Callable[[], None]]] = []
        self._stoppers: list[Callable[[], None]] = []

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        super().bootstrap(*args, **kwargs)  # type: ignore[misc]
        for hook in self.startup_hooks:
            self._stoppers.append(hook())

    # --- database connections -----------------------------------------------------------

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        self._taskq_job = job
        callers = _in_transaction()
        close_unusable_db_connections(keep=callers)
        try:
            return super().perform_job(job, queue, *args, **kwargs)  # type: ignore[misc,no-any-return]
        finally:
            close_unusable_db_connections(keep=callers)

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._taskq_job = job
        self._taskq_queue = queue
        try:
            self._retrying(lambda: super(DjangoWorkerMixin, self).execute_job(job, queue))  # type: ignore[misc]
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
                self._fail_interrupted(job, queue, execution)
            raise

    def _fail_interrupted(self, job: Job, queue: Queue, execution: Execution | None) -> None:
        try:
            if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED):
                return
            job.ended_at = now()
            logger.warning("Job %s interrupted by a second stop signal", job.id)
            self.handle_job_failure(
                job, queue=queue, exc_string="Worker stopped by a second signal while running the job.",
                execution=execution,
            )  # fmt: skip
        except Exception:
            logger.exception("Could not record the interruption of job %s", job.id)

    # --- outcome counters, recorded in RQ's own pipelines -----------------------------------

    def increment_successful_job_count(self, pipeline: Any = None) -> None:
        super().increment_successful_job_count(pipeline)  # type: ignore[misc]
        self._count_outcome("finished", pipeline)

    def increment_failed_job_count(self, pipeline: Any = None) -> None:
        super().increment_failed_job_count(pipeline)  # type: ignore[misc]
        self._count_outcome("failed", pipeline)

    # In-process kinds write "idle" and the worker heartbeat in the pipeline that records the
    # job's outcome (the last write of a job) instead of two more round trips after it.
    _fold_idle_into_outcome = False

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        if not self._fold_idle_into_outcome or job._success_callback_name or job._failure_callback_name:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
        else:  # that heartbeat only covers a callback's run time: no callback, no round trip
            job.ended_at = now()

    def _count_outcome(self, outcome: counters.Outcome, pipeline: Any) -> None:
        job = self._taskq_job
        if job is None:
            return
        if self._fold_idle_into_outcome and pipeline is not None:
            super().set_state(WorkerStatus.IDLE, pipeline=pipeline)
            self.heartbeat(pipeline=pipeline)
        try:
            duration = (
                (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else 0.0
            )
            counters.record(
                pipeline if pipeline is not None else self.connection, job.origin, outcome, duration
            )  # type: ignore[attr-defined]
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

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[misc,no-untyped-call]
        except REDIS_ERRORS as exc:
            logger.error("Registry maintenance skipped, Redis at %s unreachable: %s", self._where, exc)
            self.last_cleaned_at = now()  # type: ignore[assignment]

    @property
    def dequeue_timeout(self) -> int:
        # An idle worker wakes up at least once per maintenance interval to clean the
        # registries (RQ blocks for worker_ttl - 15 s, ~7 minutes by default), and every few
        # seconds in any case: a stop signal that the kernel handed to another thread is only
        # acted on when the main thread's blocking read returns.
        return max(1, min(int(self.worker_ttl) - 15, int(self.maintenance_interval), IDLE_WAKEUP))

    # --- the scheduler process (--with-scheduler) ------------------------------------------

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's start-up of the scheduler, with RQ["SCHEDULER_CLASS"] instead of RQ's own class,
        # and a scheduler process that ends with this one.
        scheduler_class = ending_with_its_worker(import_string(taskq_settings.SCHEDULER_CLASS))
        scheduler = scheduler_class(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler = scheduler
        scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if not scheduler.acquired_locks:
            return
        if not burst:
            scheduler.start()  # type: ignore[no-untyped-call]
            return
        try:
            scheduler.register_birth()
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        finally:
            scheduler.release_locks()  # type: ignore[no-untyped-call]
            scheduler.register_death()

    # --- Redis outages ------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return redis_location(self.connection)  # type: ignore[attr-defined]

    def _retrying(self, func: Callable[[], T]) -> T:
        """Call ``func``; while Redis is unreachable, log and retry with exponential backoff."""
        wait = 1.0
        while True:
            try:
                return func()
            except REDIS_ERRORS as exc:
                logger.error("Redis at %s unreachable (%s); retrying in %.0f s", self._where, exc, wait)
                time.sleep(wait)
                wait = min(wait * 2, MAX_BACKOFF)

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
        self._retrying(lambda: super(DjangoWorkerMixin, self).check_for_suspension(burst))
        self._taskq_suspension_checked = time.monotonic()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
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

        self._retrying(send)
        self._taskq_beat = (time.monotonic(), ttl)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline=pipeline)
            return
        if state == self._state:
            return
        self._retrying(lambda: super(DjangoWorkerMixin, self).set_state(state))

    def teardown(self) -> None:
        while self._stoppers:
            try:
                self._stoppers.pop()()
            except Exception:
                logger.exception("Could not stop a worker companion")
        try:
            super().teardown()  # type: ignore[misc,no-untyped-call]
        except REDIS_ERRORS as exc:
            logger.error(
                "Could not register the worker's death, Redis at %s unreachable: %s", self._where, exc
            )


class DjangoWorker(DjangoWorkerMixin, Worker):
    """RQ's forking worker (a fresh child process per job), Django-aware."""

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # The horse must never share the parent's database sockets.
        close_db_connections_before_fork()
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        forget_inherited_db_connections()
        super().main_work_horse(job, queue)


class DjangoSimpleWorker(DjangoWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no per-job process."""

    _fold_idle_into_outcome = True

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


# ------------------------------------------------------------------------------------------
# prefork: one supervised, long-lived work process


def die_with_parent(parent_pid: int) -> None:
    """In a forked child: ask Linux to SIGKILL this process when its parent dies (no orphans).

    ``parent_pid`` is the parent's pid, taken before the fork: if the parent died before the
    request took effect, this child exits at once.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


@functools.cache
def ending_with_its_worker(scheduler_class: type[RQScheduler]) -> type[RQScheduler]:
    """``scheduler_class`` whose process (forked by the worker) dies with the worker.

    RQ's scheduler process would outlive a SIGKILLed worker, orphaned, holding the scheduler
    lock and running old code until someone kills it by hand.
    """

    class Scheduler(scheduler_class):  # type: ignore[valid-type,misc]
        def start(self) -> Any:
            self._taskq_worker_pid = os.getpid()
            return super().start()

        def work(self) -> Any:
            die_with_parent(self._taskq_worker_pid)
            return super().work()

    return Scheduler


class WorkerStartupError(Exception):
    """The work process could not start (reported by the supervisor to the command)."""


class DjangoPreforkWorker(DjangoWorkerMixin, SimpleWorker):
    """The default worker: a long-lived work process, supervised.

    ``work()`` forks one work process that runs RQ's loop (dequeue, run the job under its
    timeout, record the outcome) and reports each job start and end through a pipe. The
    calling process supervises it:

    - while a job runs it keeps the job's heartbeats fresh, and kills the work process if
      the job runs past its timeout by more than a minute (a job stuck in C code ignores
      the timeout alarm);
    - if the work process dies, the job it was running is failed (or retried per its
      ``Retry``) and a fresh work process takes over;
    - SIGTERM/SIGINT are forwarded: the first finishes the current job, the second stops it.

    Compared with ``fork`` (a process per job) this saves a fork, a Redis reconnection and
    a cold interpreter per job, while a crashing or hanging job still cannot take the
    worker down or be lost. Module-level state a job changes does persist to later jobs,
    as with Celery's prefork pool; ``--max-jobs`` bounds that if needed.
    """

    kill_grace = 60  # seconds past a job's timeout before the work process is killed
    idle_stop_grace = 10  # seconds an idle work process asked to stop may take before it is pressed
    kill_after_stop = 10  # seconds after the second stop signal before the work process is killed
    _fold_idle_into_outcome = True
    _report_fd: int | None = None
    _in_work_process = False

    # ------------------------------------------------------------------ in the work process

    def prepare_execution(self, job: Job) -> Execution:
        execution = super().prepare_execution(job)
        timeout = job.timeout or self.queue_class.DEFAULT_TIMEOUT
        self._report(f"S {job.id} {execution.id} {job.origin} {timeout}")
        return execution  # type: ignore[no-any-return]

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            self._report("E")

    def kill_horse(self, sig: Any = None) -> None:
        # RQ's "stop job" commands kill the work horse; a job running in the work process
        # can only be stopped by the supervisor, which kills and replaces the process.
        execution = next(iter(self.executions.values()), None)
        if self._in_work_process and execution is not None:
            self._report(f"K {execution.id}")

    def _report(self, line: str) -> None:
        if self._report_fd is not None:
            with contextlib.suppress(OSError):
                os.write(self._report_fd, (line + "\n").encode())

    # --------------------------------------------------------------------- in the supervisor

    def work(self, burst: bool = False, logging_level: str | None = None, **kwargs: Any) -> bool:  # type: ignore[override]
        if self._in_work_process:
            return super().work(burst=burst, logging_level=logging_level, **kwargs)  # type: ignore[no-any-return]
        return _Supervisor(self, burst=burst, logging_level=logging_level, **kwargs).run()


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while a child is forked and recorded, so that the parent's
    handler, run when they are let through, knows the child to pass them on to."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def restore_stop_signals() -> None:
    """In a child forked under ``stop_signals_held``: default handlers, then signals let through
    (the parent's handler, run here, would swallow them)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class _Supervisor:
    """Runs and watches the work process of a DjangoPreforkWorker."""

    def __init__(self, worker: DjangoPreforkWorker, **work_kwargs: Any) -> None:
        self.worker = worker
        self.work_kwargs = work_kwargs
        self.pid = 0
        self.signals = 0
        self.stop_sent_at: float | None = None
        self.job: tuple[str, str, str, int] | None = None  # job id, execution id, queue, timeout
        self.job_started = 0.0
        self.stop_job_requested: str | None = None
        self._first_signal_at = 0.0
        self.idle_since = 0.0

    def run(self) -> bool:
        level = self.work_kwargs.get("logging_level")
        if level:
            logger.setLevel(level)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        backoff = 1.0
        try:
            while True:
                started = time.monotonic()
                code = self._run_once()
                if code == 0 or self.signals:
                    return True
                if code == 3:
                    raise WorkerStartupError(self._startup_error or "the work process could not start")
                if time.monotonic() - started > 60:
                    backoff = 1.0
                logger.warning("Work process exited with %s; starting a new one in %.0f s", code, backoff)
                self._sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                if self.signals:
                    return True
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    _startup_error: str | None = None

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.signals and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signals and time.monotonic() - self._first_signal_at < 1:
            return  # the same Ctrl+C relayed twice (terminal and pool): not a second request
        if not self.signals:
            self._first_signal_at = time.monotonic()
        self.signals += 1
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signum)
            if self.signals >= 2 and self.stop_sent_at is None:
                self.stop_sent_at = time.monotonic()

    def _run_once(self) -> int:
        """Fork a work process, watch it until it exits; its exit code (or -signal)."""
        read_fd, write_fd = os.pipe()
        close_db_connections_before_fork()
        supervisor_pid = os.getpid()
        with stop_signals_held():
            pid = os.fork()
            if pid == 0:
                restore_stop_signals()  # before the block ends, which would let them through
            else:
                self.pid = pid
                self.idle_since = time.monotonic()
        if pid == 0:  # the work process
            os.close(read_fd)
            code = 0
            try:
                os.setpgrp()  # its own group: the supervisor can end it with all it started
                forget_inherited_db_connections()
                die_with_parent(supervisor_pid)
                worker = self.worker
                worker._in_work_process = True
                worker._report_fd = write_fd
                worker.work(**self.work_kwargs)
            except SystemExit:
                code = 0
            except BaseException as exc:
                if getattr(self.worker, "birth_date", None) is None:
                    self.worker._report(f"X {exc}")
                    code = 3
                else:
                    logger.exception("Work process failed")
                    code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        try:
            return self._watch(read_fd)
        finally:
            os.close(read_fd)
            self.pid = 0

    def _watch(self, read_fd: int) -> int:
        buffer = b""
        interval = self.worker.heartbeat_interval
        last_beat = time.monotonic()
        while True:
            try:
                ready, _, _ = select.select([read_fd], [], [], min(1.0, interval))
            except InterruptedError:
                ready = []
            if ready:
                chunk = os.read(read_fd, 65536)
                if not chunk:  # the work process is gone
                    return self._reap()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._on_report(line.decode())
            elif self._exited():
                # Gone without closing the pipe: a process it forked (RQ's scheduler) holds it.
                while select.select([read_fd], [], [], 0)[0]:
                    chunk = os.read(read_fd, 65536)
                    if not chunk:
                        break
                    buffer += chunk
                for line in buffer.split(b"\n"):
                    if line:
                        self._on_report(line.decode())
                return self._reap()
            if self.job is None:
                self._press_idle_stop()
                continue
            elapsed = time.monotonic() - self.job_started
            since_stop = time.monotonic() - self.stop_sent_at if self.stop_sent_at is not None else 0.0
            stopped = self.stop_job_requested or since_stop > self.worker.kill_after_stop
            if stopped or (self.job[3] > 0 and elapsed > self.job[3] + self.worker.kill_grace):
                if not stopped:
                    overdue = elapsed - self.job[3]
                    logger.warning(
                        "Job %s ran %.0f s past its timeout: killing the work process", self.job[0], overdue
                    )
                self._kill()
                continue
            if time.monotonic() - last_beat >= interval:
                last_beat = time.monotonic()
                self._maintain_heartbeats()

    def _press_idle_stop(self) -> None:
        """An idle work process that was asked to stop but still runs (stuck in a Redis call or
        in RQ's teardown) gets the second signal, then SIGKILL: no job of its is running, and
        one it took meanwhile is failed or retried by the second signal, not lost."""
        now = time.monotonic()
        if self.stop_sent_at is not None:
            if now - self.stop_sent_at > self.worker.kill_after_stop:
                self._kill()
        elif self.signals and now - max(self._first_signal_at, self.idle_since) > self.worker.idle_stop_grace:
            logger.warning("The idle work process did not stop within %s s: signalling it again",
                           self.worker.idle_stop_grace)  # fmt: skip
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            self.stop_sent_at = now

    def _on_report(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "S":
            job_id, execution_id, queue, timeout = rest.split(" ")
            self.job = (job_id, execution_id, queue, int(float(timeout)))
            self.job_started = time.monotonic()
            self.stop_job_requested = None
        elif kind == "E":
            self.job = None
            self.idle_since = time.monotonic()
        elif kind == "K" and self.job is not None and self.job[1] == rest:
            self.stop_job_requested = self.job[0]
        elif kind == "X":
            self._startup_error = rest

    def _kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)

    def _exited(self) -> bool:
        """Whether the work process has exited (without reaping it)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _reap(self) -> int:
        # The work process leads its own process group: end what it left behind (an orphaned
        # scheduler process) while its unreaped pid still reserves the group id.
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                status = 0
                break
        code = os.waitstatus_to_exitcode(status)
        if self.job is not None:
            self._fail_orphaned_job(code)
        elif code not in (0, 3):
            self._register_death()
        return code

    def _queue(self, name: str) -> Queue:
        worker = self.worker
        return worker.queue_class(  # type: ignore[no-any-return]
            name, connection=worker.connection, job_class=worker.job_class, serializer=worker.serializer
        )

    def _load(self) -> tuple[Job, Execution] | None:
        if self.job is None:
            return None
        job_id, execution_id, _queue, _timeout = self.job
        worker = self.worker
        try:
            job = worker.job_class.fetch(job_id, connection=worker.connection, serializer=worker.serializer)
        except Exception:
            return None
        try:
            execution = Execution.fetch(execution_id, job_id, connection=worker.connection)
        except ValueError:  # the execution expired: only its id is left
            execution = Execution(execution_id, job_id, connection=worker.connection)
        return job, execution

    def _maintain_heartbeats(self) -> None:
        try:
            loaded = self._load()
            if loaded is None:
                return
            job, execution = loaded
            if job.started_at is None:
                job.started_at = now()
            self.worker.maintain_heartbeats(job, execution)
        except REDIS_ERRORS as exc:
            logger.error(
                "Heartbeat failed, Redis at %s unreachable: %s", redis_location(self.worker.connection), exc
            )

    def _fail_orphaned_job(self, code: int) -> None:
        """The work process died during a job: fail it (or retry it, per its Retry)."""
        if self.job is None:
            return
        job_id, _, queue_name, _ = self.job
        worker = self.worker

        def fail() -> None:
            loaded = self._load()
            if loaded is None:
                return
            job, execution = loaded
            status = job.get_status()
            if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED):
                return
            job.ended_at = now()
            queue = self._queue(queue_name)
            worker._taskq_job = job
            try:
                if self.stop_job_requested == job_id:
                    logger.warning("Job %s stopped on request", job_id)
                    worker._stopped_job_id = job_id
                    try:
                        execute_stopped_callback(job, worker.death_penalty_class)
                    except Exception:
                        logger.exception("The stopped callback of job %s raised", job_id)
                    exc_string = "Job stopped by request; the work process was terminated."
                    worker.handle_job_failure(job, queue=queue, exc_string=exc_string, execution=execution)
                else:
                    reason = f"signal {-code}" if code < 0 else f"exit code {code}"
                    exc_string = f"Work process terminated unexpectedly ({reason}) while running the job."
                    logger.warning("Job %s failed: %s", job_id, exc_string)
                    worker.handle_job_failure(job, queue=queue, exc_string=exc_string, execution=execution)
            finally:
                worker._taskq_job = None

        try:
            worker._retrying(fail)
            self._register_death()
        finally:
            self.job = None
            self.stop_job_requested = None

    def _register_death(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            self.worker.register_death()  # type: ignore[no-untyped-call]


# ------------------------------------------------------------------------------------------
# construction

WORKER_KINDS: dict[str, str] = {
    "prefork": "django_taskq.workers.DjangoPreforkWorker",
    "fork": "django_taskq.workers.DjangoWorker",
    "simple": "django_taskq.workers.DjangoSimpleWorker",
    "inprocess": "django_taskq.workers.DjangoSimpleWorker",
    "spawn": "django_taskq.workers.DjangoSpawnWorker",
}


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


def get_scheduler(*queue_names: str, interval: int | float | None = None) -> RQScheduler:
    """RQ's scheduler (``RQ["SCHEDULER_CLASS"]``) for the named queues, else for every queue
    sharing the first queue's connection."""
    names = queue_names or tuple(next(iter(queues_by_connection().values()), ["default"]))
    queues = get_queues(*names)
    kwargs: dict[str, Any] = {}
    if interval is not None:
        kwargs["interval"] = interval
    scheduler_class: type[RQScheduler] = import_string(taskq_settings.SCHEDULER_CLASS)
    return scheduler_class(queues, connection=queues[0].connection, serializer=queues[0].serializer, **kwargs)


class SchedulerRunner:
    """``rqscheduler``: RQ's scheduler for some queues as its own process, one scheduler per Redis
    connection; it also runs registry maintenance so that abandoned jobs are failed or retried
    even while no worker is alive. Redis outages are waited out."""

    def __init__(self, queue_names: list[str], interval: float = 1.0,
                 maintenance_interval: float = MAINTENANCE_INTERVAL) -> None:  # fmt: skip
        groups = queues_by_connection()
        if queue_names:
            wanted = set(queue_names)
            names_by_group = [[n for n in group if n in wanted] for group in groups.values()]
            for name in queue_names:
                taskq_settings.queue_config(name)  # raises UnknownQueueError
        else:
            names_by_group = list(groups.values())
        # RQ's scheduler keeps its lock for interval + 60 s and needs whole seconds there; this
        # loop itself looks for due jobs every ``interval`` seconds, fractions included.
        lock_interval = max(1, math.ceil(interval))
        self.schedulers = [get_scheduler(*names, interval=lock_interval) for names in names_by_group if names]
        self.queues = [get_queue(name) for names in names_by_group for name in names]
        self.interval = interval
        self.maintenance_interval = maintenance_interval
        self._stop = False

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        self._stop = True

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        last_maintenance = 0.0
        wait = 1.0
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
                    wait = 1.0
                except REDIS_ERRORS as exc:
                    logger.error("Redis unreachable (%s); retrying in %.0f s", exc, wait)
                    self._sleep(wait)
                    wait = min(wait * 2, MAX_BACKOFF)
                    continue
                except redis.RedisError:
                    logger.exception("Scheduler error; retrying in %.0f s", wait)
                    self._sleep(wait)
                    wait = min(wait * 2, MAX_BACKOFF)
                    continue
                self._sleep(self.interval)
        finally:
            for scheduler in self.schedulers:
                with contextlib.suppress(*REDIS_ERRORS):
                    scheduler.stop()  # type: ignore[no-untyped-call]

    def clean_registries(self) -> None:
        handlers = exception_handlers()
        for queue in self.queues:
            if queue.acquire_maintenance_lock():
                try:
                    clean_registries(queue, handlers)
                finally:
                    queue.release_maintenance_lock()  # type: ignore[no-untyped-call]

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


__all__ = [
    "WORKER_KINDS",
    "DjangoPreforkWorker",
    "DjangoSimpleWorker",
    "DjangoSpawnWorker",
    "DjangoWorker",
    "SchedulerRunner",
    "StopRequested",
    "WorkerStartupError",
    "exception_handlers",
    "get_scheduler",
    "get_worker",
    "resolve_worker_class",
]
