"""The RQ worker and scheduler internals our worker classes override, call, read or set.

``OVERRIDDEN`` lists every RQ method (or attribute) our classes replace, ``CALLED`` the RQ
methods we call with keyword arguments or that RQ does not document, each with the
parameters we rely on. The functions below are the only places that touch RQ's private
worker state. ``tests/test_rq_compat_worker.py`` checks the lists against the installed RQ
and proves each function on a real worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from redis import Redis
from rq.callbacks import execute_stopped_callback
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.utils import current_timestamp, now
from rq.worker.base import BaseWorker


class Hook(NamedTuple):
    """An RQ class attribute or function we rely on: ``params`` are the parameters we pass or
    accept, None for a class attribute or property. (Instance attributes, such as the private
    ones set or read below, are proven by the behavioural tests instead.)"""

    path: str
    params: tuple[str, ...] | None


_BASE = "rq.worker.base.BaseWorker"

# RQ methods and attributes our classes replace, and the parameters RQ calls them with.
OVERRIDDEN: tuple[Hook, ...] = (
    Hook(f"{_BASE}.__init__", ("queues", "connection", "job_class", "queue_class", "serializer",
                               "exception_handlers", "maintenance_interval", "job_monitoring_interval")),
    Hook(f"{_BASE}._start_scheduler", ("burst", "logging_level", "date_format", "log_format")),
    Hook(f"{_BASE}.bootstrap", ("logging_level", "date_format", "log_format")),
    Hook(f"{_BASE}.check_for_suspension", ("burst",)),
    Hook(f"{_BASE}.dequeue_timeout", None),
    Hook(f"{_BASE}.execute_job", ("job", "queue")),
    Hook(f"{_BASE}.get_heartbeat_ttl", ("job", "working_time")),
    Hook(f"{_BASE}.handle_execution_ended", ("job", "queue", "heartbeat_ttl")),
    Hook(f"{_BASE}.heartbeat", ("timeout", "pipeline")),
    Hook(f"{_BASE}.increment_failed_job_count", ("pipeline",)),
    Hook(f"{_BASE}.increment_successful_job_count", ("pipeline",)),
    Hook(f"{_BASE}.kill_horse", ("sig",)),
    Hook(f"{_BASE}.main_work_horse", ("job", "queue")),
    Hook(f"{_BASE}.maintain_heartbeats", ("job", "execution")),
    Hook(f"{_BASE}.max_connection_wait_time", None),
    Hook(f"{_BASE}.perform_job", ("job", "queue", "execution")),
    Hook(f"{_BASE}.prepare_execution", ("job",)),
    Hook(f"{_BASE}.request_force_stop", ("signum", "frame")),
    Hook(f"{_BASE}.run_maintenance_tasks", ()),
    Hook(f"{_BASE}.set_state", ("state", "pipeline")),
    Hook(f"{_BASE}.should_run_maintenance_tasks", None),
    Hook(f"{_BASE}.subscribe", ()),
    Hook(f"{_BASE}.unsubscribe", ()),
    Hook(f"{_BASE}.teardown", ()),
    Hook(f"{_BASE}.work", ("burst", "logging_level", "max_jobs", "max_idle_time", "with_scheduler",
                           "dequeue_strategy")),
    Hook("rq.worker.Worker.fork_work_horse", ("job", "queue")),
    Hook("rq.worker.SpawnWorker.fork_work_horse", ("job", "queue")),
    Hook("rq.worker.SimpleWorker.get_heartbeat_ttl", ("job", "working_time")),
    Hook("rq.scheduler.RQScheduler.start", ()),
    Hook("rq.scheduler.RQScheduler.work", ()),
)  # fmt: skip

# RQ methods we call that RQ does not document, or with keyword arguments.
CALLED: tuple[Hook, ...] = (
    Hook(f"{_BASE}.handle_job_failure", ("job", "queue", "exc_string", "execution")),
    Hook(f"{_BASE}.register_death", ()),
    Hook("rq.callbacks.execute_stopped_callback", ("job", "death_penalty_class")),
    Hook("rq.executions.Execution.__init__", ("id", "job_id", "connection")),
    Hook("rq.executions.Execution.fetch", ("id", "job_id", "connection")),
    Hook("rq.queue.Queue.acquire_maintenance_lock", ()),
    Hook("rq.queue.Queue.release_maintenance_lock", ()),
    Hook("rq.registry.clean_registries", ("queue", "exception_handlers")),
    Hook("rq.registry.StartedJobRegistry.cleanup", ("timestamp", "exception_handlers")),
    Hook("rq.scheduler.RQScheduler.__init__", ("queues", "connection", "interval", "logging_level",
                                               "date_format", "log_format", "serializer")),
    Hook("rq.scheduler.RQScheduler.acquire_locks", ()),
    Hook("rq.scheduler.RQScheduler.acquired_locks", None),
    Hook("rq.scheduler.RQScheduler.enqueue_scheduled_jobs", ()),
    Hook("rq.scheduler.RQScheduler.heartbeat", ()),
    Hook("rq.scheduler.RQScheduler.register_birth", ()),
    Hook("rq.scheduler.RQScheduler.register_death", ()),
    Hook("rq.scheduler.RQScheduler.release_locks", ()),
    Hook("rq.scheduler.RQScheduler.should_reacquire_locks", None),
    Hook("rq.scheduler.RQScheduler.stop", ()),
)  # fmt: skip


if TYPE_CHECKING:
    _WorkerBase = BaseWorker
else:
    _WorkerBase = object


class PrivateHooks(_WorkerBase):
    """RQ's private worker hooks, forwarded to named methods of our worker classes.

    ``BaseWorker.work(with_scheduler=True)`` starts the scheduler through the private
    ``_start_scheduler``; here it does what RQ's does, with the class that
    ``taskq_scheduler_class()`` returns instead of RQ's own.
    """

    def taskq_scheduler_class(self) -> type[RQScheduler]:
        return RQScheduler

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        scheduler = self.taskq_scheduler_class()(
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


def fail_job(
    worker: BaseWorker, job: Job, queue: Queue, exc_string: str, execution: Execution | None
) -> None:
    """Record the failure of ``job`` as RQ's worker does (failed, or retried per its Retry;
    STOPPED after ``mark_stopped_by_request``), with ``exc_string`` as its traceback."""
    worker.handle_job_failure(job, queue=queue, exc_string=exc_string, execution=execution)


def mark_stopped_by_request(worker: BaseWorker, job_id: str) -> None:
    """Make the next ``fail_job`` of ``job_id`` record it as STOPPED (never retried)."""
    worker._stopped_job_id = job_id


def run_stopped_callback(worker: BaseWorker, job: Job) -> None:
    """Run the job's ``on_stopped`` callback under its timeout, as RQ does; raises what it raises."""
    execute_stopped_callback(job, worker.death_penalty_class)


def load_execution(execution_id: str, job_id: str, connection: Redis) -> Execution:
    """The execution ``execution_id`` of a job; one with only its ids when its hash expired."""
    try:
        return Execution.fetch(execution_id, job_id, connection=connection)
    except ValueError:  # RQ's "not found": only the id is left to clean up
        return Execution(execution_id, job_id, connection=connection)


def has_callbacks(job: Job) -> bool:
    """Whether the job has a success or failure callback (without importing it)."""
    return bool(job._success_callback_name or job._failure_callback_name)


def maintenance_done_now(worker: BaseWorker) -> None:
    """Count registry maintenance as done now: the next is due a maintenance interval later."""
    worker.last_cleaned_at = now()  # type: ignore[assignment]


def clean_queue_registries(queue: Queue, exception_handlers: list[Any]) -> None:
    """What RQ's worker maintenance does for one queue, under the queue's maintenance lock:
    abandoned jobs are failed (or retried), expired entries dropped. Skipped while another
    process holds the lock."""
    if queue.acquire_maintenance_lock():
        try:
            clean_registries(queue, exception_handlers)
        finally:
            queue.release_maintenance_lock()  # type: ignore[no-untyped-call]


def worker_exception_handlers(worker: BaseWorker) -> list[Any]:
    """The exception handlers the worker calls for a failed job (what it was built with)."""
    return list(worker._exc_handlers)


def queues_with_expired_executions(queues: list[Queue]) -> list[Queue]:
    """Those of ``queues`` (one connection) whose started registry holds an execution whose
    heartbeat expired: its worker died. One round trip; per queue one ZRANGEBYSCORE that stops
    at the first entry, O(log n) and nothing returned while every running job beats."""
    if not queues:
        return []
    stamp = current_timestamp()  # RQ scores an execution with the time its heartbeat expires
    with queues[0].connection.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrangebyscore(queue.started_job_registry.key, 0, stamp, start=0, num=1)
        found = pipe.execute()
    return [queue for queue, expired in zip(queues, found, strict=True) if expired]


def clean_abandoned_jobs(queue: Queue, exception_handlers: list[Any]) -> None:
    """Fail (or retry, per its Retry) each job of ``queue`` whose heartbeat expired, as RQ's
    registry maintenance does, under the same lock (a job is never retried twice by two
    cleaners). Skipped while another process holds the lock: that one cleans them."""
    if queue.acquire_maintenance_lock():
        try:
            queue.started_job_registry.cleanup(exception_handlers=exception_handlers)
        finally:
            queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
