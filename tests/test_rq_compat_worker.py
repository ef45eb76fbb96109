"""Contract tests of django_taskq.rq_compat.worker against the installed RQ, on the suite's Redis.

Every RQ hook our worker classes override or call must still exist and take the parameters we
pass; every compat function must still do, on a real RQ worker, what our workers rely on. A
failure names the RQ symbol that moved.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone
from importlib import import_module
from typing import Any

import pytest
import redis
from rq import Callback, Retry
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker, SpawnWorker, Worker
from rq.worker.base import BaseWorker

from django_taskq.connections import get_connection
from django_taskq.rq_compat import worker as compat
from django_taskq.worker import DjangoPreforkWorker, DjangoSimpleWorker, DjangoSpawnWorker, DjangoWorker
from django_taskq.worker.base import DjangoWorkerMixin
from django_taskq.worker.process import ending_with_its_worker
from tests.command_helpers import wait_for

STOPPED_KEY = "taskq-test:stopped-callbacks"


def on_stopped(job: Job, connection: redis.Redis) -> None:
    """An ``on_stopped`` callback (importable by RQ)."""
    connection.rpush(STOPPED_KEY, job.id)


def on_success(job: Job, connection: redis.Redis, result: Any) -> None:
    """An ``on_success`` callback (importable by RQ)."""


def _resolve(path: str) -> tuple[Any, str, Any]:
    """The owner of the last name in ``path``, that name, and what it names (None when gone)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:-1]:
            owner = getattr(owner, name, None)
        return owner, parts[-1], inspect.getattr_static(owner, parts[-1], None)
    raise AssertionError(f"Cannot import any module of {path}")


def _queue() -> Queue:
    return Queue("default", connection=get_connection())


def _started(queue: Queue, *args: Any, **options: Any) -> tuple[SimpleWorker, Job, Any]:
    """A job that a real RQ worker has taken from its queue and started (its execution is in the
    started registry)."""
    job = queue.enqueue("tests.testapp.jobs.add", *(args or (1, 2)), **options)
    queue.remove(job.id)
    worker = SimpleWorker([queue], connection=queue.connection)
    execution = worker.prepare_execution(job)
    job.set_status(JobStatus.STARTED)
    return worker, job, execution


# --- the hooks we override or call ----------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "use"),
    [(hook, "OVERRIDDEN") for hook in compat.OVERRIDDEN] + [(hook, "CALLED") for hook in compat.CALLED],
    ids=lambda value: value.path if isinstance(value, compat.Hook) else value,
)
def test_every_rq_hook_we_rely_on_still_takes_our_parameters(hook: compat.Hook, use: str) -> None:
    owner, name, found = _resolve(hook.path)
    assert found is not None, f"{hook.path} is gone from the installed RQ; update rq_compat.worker.{use}"
    if hook.params is None:
        assert not inspect.isfunction(found), (
            f"{hook.path} is now a method, we rely on an attribute; update rq_compat.worker.{use}"
        )
        return
    target = getattr(owner, name)
    parameters = inspect.signature(target).parameters
    missing = [param for param in hook.params if param not in parameters]
    assert not missing, f"{hook.path} no longer takes {missing}; update our use and rq_compat.worker.{use}"


OUR_CLASSES = [
    (compat.PrivateHooks, BaseWorker),
    (DjangoWorkerMixin, BaseWorker),
    (DjangoWorker, Worker),
    (DjangoSimpleWorker, SimpleWorker),
    (DjangoSpawnWorker, SpawnWorker),
    (DjangoPreforkWorker, SimpleWorker),
    (ending_with_its_worker(RQScheduler), RQScheduler),
]


@pytest.mark.parametrize(("ours", "rq_class"), OUR_CLASSES, ids=lambda cls: cls.__qualname__)
def test_every_rq_method_our_classes_replace_is_listed(ours: type, rq_class: type) -> None:
    listed = {hook.path.rsplit(".", 1)[1] for hook in compat.OVERRIDDEN}
    for name in vars(ours):
        if name.startswith("__") and name != "__init__":
            continue
        if hasattr(rq_class, name):
            assert name in listed, (
                f"{ours.__qualname__}.{name} replaces {rq_class.__module__}.{rq_class.__qualname__}.{name}: "
                "list it in rq_compat.worker.OVERRIDDEN"
            )


# --- each compat function on a real RQ worker --------------------------------------------------


def test_work_with_scheduler_starts_it_through_private_hooks() -> None:
    asked: list[str] = []

    class Probe(compat.PrivateHooks, SimpleWorker):
        def taskq_scheduler_class(self) -> type[RQScheduler]:
            asked.append("scheduler class")
            return RQScheduler

    queue = _queue()
    due = queue.enqueue_at(datetime.now(timezone.utc) - timedelta(seconds=5), "tests.testapp.jobs.add", 1, 2)
    Probe([queue], connection=queue.connection).work(burst=True, with_scheduler=True)
    assert asked == ["scheduler class"], (
        "rq.worker.base.BaseWorker.work(with_scheduler=True) no longer starts the scheduler through "
        "BaseWorker._start_scheduler; update rq_compat.worker.PrivateHooks"
    )
    assert due.get_status() == JobStatus.FINISHED  # moved to its queue by that scheduler, then run
    assert not queue.connection.exists(RQScheduler.get_locking_key("default"))  # lock released (burst)


def test_fail_job_fails_the_job_as_rq_does() -> None:
    queue = _queue()
    worker, job, execution = _started(queue)
    compat.fail_job(worker, job, queue, "it broke", execution)
    assert job.get_status() == JobStatus.FAILED, (
        "rq.worker.base.BaseWorker.handle_job_failure(exc_string=...) no longer fails the job; "
        "update rq_compat.worker.fail_job"
    )
    assert job.id in queue.failed_job_registry.get_job_ids()
    assert job.id not in queue.started_job_registry.get_job_ids()
    result = job.latest_result()
    assert result is not None and result.exc_string == "it broke"


def test_fail_job_retries_a_job_with_retries_left() -> None:
    queue = _queue()
    worker, job, execution = _started(queue, retry=Retry(max=1))
    compat.fail_job(worker, job, queue, "it broke", execution)
    assert job.get_status() == JobStatus.QUEUED, (
        "rq.worker.base.BaseWorker.handle_job_failure no longer retries"
    )
    assert queue.job_ids == [job.id]


def test_mark_stopped_by_request_makes_the_failure_a_stop() -> None:
    queue = _queue()
    worker, job, execution = _started(queue, retry=Retry(max=1))
    compat.mark_stopped_by_request(worker, job.id)
    compat.fail_job(worker, job, queue, "stopped", execution)
    assert job.get_status() == JobStatus.STOPPED, (
        "rq.worker.base.BaseWorker.handle_job_failure no longer reads BaseWorker._stopped_job_id; "
        "update rq_compat.worker.mark_stopped_by_request"
    )
    assert queue.job_ids == []  # a stopped job is never retried
    _, other, other_execution = _started(queue)
    compat.fail_job(worker, other, queue, "it broke", other_execution)
    assert other.get_status() == JobStatus.FAILED  # the mark applied to that one job only


def test_run_stopped_callback_runs_the_jobs_on_stopped_callback() -> None:
    queue = _queue()
    worker, job, _ = _started(queue, on_stopped=Callback(on_stopped))
    compat.run_stopped_callback(worker, job)
    assert queue.connection.lrange(STOPPED_KEY, 0, -1) == [job.id.encode()], (
        "rq.callbacks.execute_stopped_callback no longer runs Job.stopped_callback; "
        "update rq_compat.worker.run_stopped_callback"
    )


def test_load_execution_fetches_it_or_stands_in_for_an_expired_one() -> None:
    queue = _queue()
    worker, job, execution = _started(queue)
    loaded = compat.load_execution(execution.id, job.id, queue.connection)
    assert (loaded.id, loaded.job_id, loaded.worker_name) == (execution.id, job.id, worker.name), (
        "rq.executions.Execution.fetch no longer loads an execution; update rq_compat.worker.load_execution"
    )
    queue.connection.delete(execution.key)
    stand_in = compat.load_execution(execution.id, job.id, queue.connection)
    assert (stand_in.id, stand_in.job_id) == (execution.id, job.id), (
        "rq.executions.Execution.fetch no longer raises ValueError for an expired execution; "
        "update rq_compat.worker.load_execution"
    )


def test_has_callbacks_sees_success_and_failure_callbacks() -> None:
    connection = get_connection()
    plain = Job.create("tests.testapp.jobs.add", args=(1, 2), connection=connection)
    with_success = Job.create("tests.testapp.jobs.add", args=(1, 2), connection=connection,
                              on_success=Callback(on_success))  # fmt: skip
    with_failure = Job.create("tests.testapp.jobs.add", args=(1, 2), connection=connection,
                              on_failure=Callback(on_stopped))  # fmt: skip
    seen = [compat.has_callbacks(job) for job in (plain, with_success, with_failure)]
    assert seen == [False, True, True], (
        "rq.job.Job._success_callback_name or _failure_callback_name moved; "
        "update rq_compat.worker.has_callbacks"
    )


def test_maintenance_done_now_postpones_the_next_maintenance() -> None:
    worker = SimpleWorker([_queue()], connection=get_connection())
    assert worker.should_run_maintenance_tasks
    compat.maintenance_done_now(worker)
    assert not worker.should_run_maintenance_tasks, (
        "rq.worker.base.BaseWorker.should_run_maintenance_tasks no longer reads last_cleaned_at; "
        "update rq_compat.worker.maintenance_done_now"
    )


def test_clean_queue_registries_fails_abandoned_jobs_under_the_maintenance_lock() -> None:
    queue = _queue()
    _, job, execution = _started(queue)
    with queue.connection.pipeline() as pipe:  # its heartbeat expires in a second
        queue.started_job_registry.add_execution(execution, pipeline=pipe, ttl=1)
        pipe.execute()
    wait_for(queue.started_job_registry.get_expired_job_ids, timeout=10, what="the heartbeat to expire")
    assert queue.acquire_maintenance_lock()  # another process is cleaning this queue
    compat.clean_queue_registries(queue, [])
    assert job.get_status() == JobStatus.STARTED, "rq.queue.Queue.acquire_maintenance_lock no longer locks"
    queue.release_maintenance_lock()
    compat.clean_queue_registries(queue, [])
    assert job.get_status() == JobStatus.FAILED, (
        "rq.registry.clean_registries no longer fails abandoned jobs; "
        "update rq_compat.worker.clean_queue_registries"
    )
    assert queue.acquire_maintenance_lock(), "the maintenance lock was not released"


def _expired(queue: Queue, **options: Any) -> tuple[Job, Any]:
    """A started job whose heartbeat expired (its worker died)."""
    _, job, execution = _started(queue, **options)
    with queue.connection.pipeline() as pipe:
        queue.started_job_registry.add_execution(execution, pipeline=pipe, ttl=1)
        pipe.execute()
    wait_for(queue.started_job_registry.get_expired_job_ids, timeout=10, what="the heartbeat to expire")
    return job, execution


def test_worker_exception_handlers_are_those_it_was_built_with() -> None:
    handlers = [lambda *args: True]
    worker = SimpleWorker([_queue()], connection=get_connection(), exception_handlers=handlers)
    assert compat.worker_exception_handlers(worker) == handlers, (
        "rq.worker.base.BaseWorker._exc_handlers no longer holds the exception handlers; "
        "update rq_compat.worker.worker_exception_handlers"
    )


def test_queues_with_expired_executions_sees_only_expired_heartbeats() -> None:
    queue, other = _queue(), Queue("high", connection=get_connection())
    _started(queue)  # beating: its heartbeat expires in a minute
    assert compat.queues_with_expired_executions([queue, other]) == []
    _expired(other)
    found = compat.queues_with_expired_executions([queue, other])
    assert [q.name for q in found] == ["high"], (
        "rq.registry.StartedJobRegistry no longer scores an execution with the time its heartbeat "
        "expires; update rq_compat.worker.queues_with_expired_executions"
    )
    assert compat.queues_with_expired_executions([]) == []


@pytest.mark.parametrize("retry", [None, Retry(max=1)])
def test_clean_abandoned_jobs_fails_or_retries_under_the_maintenance_lock(retry: Retry | None) -> None:
    queue = _queue()
    job, _ = _expired(queue, retry=retry)
    assert queue.acquire_maintenance_lock()  # another process is cleaning this queue
    compat.clean_abandoned_jobs(queue, [])
    assert job.get_status() == JobStatus.STARTED, "rq.queue.Queue.acquire_maintenance_lock no longer locks"
    queue.release_maintenance_lock()
    compat.clean_abandoned_jobs(queue, [])
    expected = JobStatus.QUEUED if retry else JobStatus.FAILED
    assert job.get_status() == expected, (
        "rq.registry.StartedJobRegistry.cleanup no longer fails or retries abandoned jobs; "
        "update rq_compat.worker.clean_abandoned_jobs"
    )
    assert compat.queues_with_expired_executions([queue]) == []
    assert queue.acquire_maintenance_lock(), "the maintenance lock was not released"
