"""Worker behaviour with real processes: crashes, timeouts, stop requests, database hygiene,
dead workers' jobs, Redis restarts; plus the worker classes' own rules."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connections, transaction
from django.test import override_settings
from rq import Queue, Retry
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker

import django_taskq.scheduler as scheduler_module
import django_taskq.worker as worker_package
import django_taskq.workers as workers_alias
from django_taskq.connections import get_connection
from django_taskq.embedded import EmbeddedRedis
from django_taskq.worker.db import close_unusable_db_connections
from django_taskq.workers import (
    HEARTBEAT_INTERVAL,
    WORKER_KINDS,
    DjangoPreforkWorker,
    DjangoSimpleWorker,
    DjangoSpawnWorker,
    DjangoWorker,
    get_scheduler,
    get_worker,
    resolve_worker_class,
)
from tests.worker_helpers import order, output, run, running, started, status, wait_for


def enqueue(func: str, *args: object, connection: redis.Redis | None = None, **options: object) -> Job:
    return Queue("default", connection=connection or get_connection()).enqueue(func, *args, **options)


def exc_string(job: Job) -> str:
    result = job.latest_result()
    return str(getattr(result, "exc_string", "") or "")


# --- construction ------------------------------------------------------------------------


class LoggingScheduler(RQScheduler):
    """A project's own scheduler class, named by RQ["SCHEDULER_CLASS"]."""


def test_get_scheduler_uses_the_scheduler_class_setting() -> None:
    assert type(get_scheduler("default")) is RQScheduler
    with override_settings(RQ={"SCHEDULER_CLASS": f"{__name__}.LoggingScheduler"}):
        scheduler = get_scheduler("high", "default")
    assert type(scheduler) is LoggingScheduler
    assert scheduler._queue_names == {"high", "default"}


def test_a_worker_with_scheduler_uses_the_scheduler_class_setting() -> None:
    queue = Queue("default", connection=get_connection())
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    job = queue.enqueue_at(past, "tests.testapp.worker_jobs.record", "due")
    worker = get_worker("default")
    with override_settings(RQ={"SCHEDULER_CLASS": f"{__name__}.LoggingScheduler"}):
        worker._start_scheduler(burst=True)  # what work(burst=True, with_scheduler=True) does first
    assert isinstance(worker.scheduler, LoggingScheduler)
    assert queue.job_ids == [job.id]  # the due job was moved to its queue
    assert not get_connection().exists("rq:scheduler-lock:default")  # and the lock released


def test_worker_kinds_resolve_to_django_aware_classes() -> None:
    assert resolve_worker_class("prefork") is DjangoPreforkWorker
    assert resolve_worker_class("fork") is DjangoWorker
    assert resolve_worker_class("simple") is resolve_worker_class("inprocess") is DjangoSimpleWorker
    assert resolve_worker_class("spawn") is DjangoSpawnWorker
    assert resolve_worker_class("django_taskq.workers.DjangoWorker") is DjangoWorker
    assert resolve_worker_class(None) is DjangoPreforkWorker  # the default
    assert set(WORKER_KINDS) == {"prefork", "fork", "simple", "inprocess", "spawn"}
    with pytest.raises(TypeError):
        resolve_worker_class("tests.testapp.worker_jobs.record")
    with pytest.raises(ImportError):
        resolve_worker_class("no.such.Worker")


def test_abandoned_jobs_are_detected_within_20_seconds_by_default() -> None:
    worker = get_worker("high", "default", "low")
    job = Job.create("tests.testapp.jobs.add", args=(1, 2), connection=worker.connection, timeout=600)
    # The job's execution expires this long after its last heartbeat...
    ttl = worker.get_heartbeat_ttl(job)
    # ...and some live worker (or rqscheduler) looks for expired ones this often (and cleans
    # all registries every maintenance interval); the rest of 20 s is margin for load.
    assert ttl + worker.abandoned_check_interval <= 15
    assert ttl + worker.maintenance_interval <= 120
    assert worker.job_monitoring_interval == HEARTBEAT_INTERVAL == 3
    assert [queue.name for queue in worker.queues] == ["high", "default", "low"]


def abandoned_job(queue: Queue) -> Job:
    """A job started by a worker that died: its execution's heartbeat expired."""
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    queue.remove(job.id)
    execution = SimpleWorker([queue], connection=queue.connection).prepare_execution(job)
    job.set_status(JobStatus.STARTED)
    with queue.connection.pipeline() as pipe:
        queue.started_job_registry.add_execution(execution, pipeline=pipe, ttl=1)
        pipe.execute()
    wait_for(queue.started_job_registry.get_expired_job_ids, timeout=10, what="the heartbeat to expire")
    return job


@pytest.mark.parametrize("kind", ["prefork", "fork", "simple"])
def test_between_maintenances_a_worker_looks_for_abandoned_jobs_every_few_seconds(kind: str) -> None:
    queue = Queue("default", connection=get_connection())
    worker = get_worker("default", worker_class=kind)
    assert worker.should_run_maintenance_tasks
    worker.run_maintenance_tasks()  # the full one, as at start
    cleaned_at = worker.last_cleaned_at
    assert not worker.should_run_maintenance_tasks
    job = abandoned_job(queue)
    wait_for(lambda: worker.should_run_maintenance_tasks, timeout=5, what="the quick check to be due")
    worker.run_maintenance_tasks()
    assert status(job) == JobStatus.FAILED
    assert worker.last_cleaned_at == cleaned_at  # not a full maintenance: the quick check
    assert not worker.should_run_maintenance_tasks


def test_a_prefork_work_process_leaves_the_quick_check_to_its_supervisor() -> None:
    worker = get_worker("default", worker_class="prefork")
    worker.run_maintenance_tasks()
    worker.taskq_checks_abandoned = False  # what the work process sets
    job = abandoned_job(Queue("default", connection=get_connection()))
    worker._taskq_abandoned.interval = 0.0  # the check would be due at any moment
    assert not worker.should_run_maintenance_tasks
    worker.clean_abandoned_jobs()
    assert status(job) == JobStatus.STARTED


def test_the_documented_workers_path_names_the_same_objects() -> None:
    for name in workers_alias.__all__:
        home = scheduler_module if name in ("SchedulerRunner", "get_scheduler") else worker_package
        assert getattr(workers_alias, name) is getattr(home, name), name
    assert resolve_worker_class("django_taskq.workers.DjangoPreforkWorker") is DjangoPreforkWorker
    assert resolve_worker_class("django_taskq.worker.DjangoPreforkWorker") is DjangoPreforkWorker


def test_the_worker_modules_import_each_other_without_cycles() -> None:
    package = Path(worker_package.__file__).parent
    imports: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):  # TYPE_CHECKING imports count too
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        imports[path.stem] = found - {path.stem}
    imports.pop("__init__")  # re-exports every module, imported by none

    def cycle_from(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in path:
            return (*path, module)
        for other in sorted(imports.get(module, ())):
            cycle = cycle_from(other, (*path, module))
            if cycle:
                return cycle
        return None

    for module in imports:
        cycle = cycle_from(module, ())
        assert cycle is None, " -> ".join(cycle)


@pytest.mark.django_db(transaction=True, databases=list(settings.DATABASES))
@pytest.mark.parametrize("alias", list(settings.DATABASES))
def test_a_transaction_a_job_left_open_goes_with_its_connection(alias: str) -> None:
    left_open = transaction.atomic(using=alias)
    left_open.__enter__()  # a job that never leaves its atomic block
    old = connections[alias]
    try:
        with old.cursor() as cursor:
            cursor.execute("SELECT 1")
        close_unusable_db_connections()
        new = connections[alias]
        assert new is not old and not new.in_atomic_block, (
            "`del django.db.connections[alias]` no longer makes the next connections[alias] a new "
            "connection object; update django_taskq.worker.db.discard_connection"
        )
        with transaction.atomic(using=alias), new.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone()[0] == 1
        new.close()
    finally:
        # A worker process drops the old object for good; this test process puts it back and ends
        # its block, because others share it: the live server thread of the browser tests uses the
        # very object of the in-memory SQLite database, and a second connection to that database
        # would find its tables locked by the first.
        connections[alias] = old
        left_open.__exit__(None, None, None)


# --- the default (prefork) worker --------------------------------------------------------


def test_a_job_that_kills_its_process_fails_and_the_worker_goes_on(processes: None) -> None:
    crashed = enqueue("tests.testapp.worker_jobs.crash")
    after = enqueue("tests.testapp.worker_jobs.record", "after")
    result = run("rqworker", "--burst")
    assert result.returncode == 0, result.stderr
    assert status(crashed) == JobStatus.FAILED
    assert "terminated unexpectedly" in exc_string(crashed)
    assert status(after) == JobStatus.FINISHED
    totals = get_connection().hgetall("taskq:totals:default")
    assert (totals[b"finished"], totals[b"failed"]) == (b"1", b"1")


def test_a_crashed_job_with_retries_is_retried(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.crash", retry=Retry(max=2))
    result = run("rqworker", "--burst")
    assert result.returncode == 0, result.stderr
    assert status(job) == JobStatus.FAILED  # three attempts, all crashed
    job.refresh()
    assert job.retries_left == 0


def test_job_timeouts_are_enforced(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 20, job_timeout=1)
    begin = time.monotonic()
    result = run("rqworker", "--burst")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - begin < 20
    assert status(job) == JobStatus.FAILED
    assert "JobTimeoutException" in exc_string(job)


def test_jobs_share_one_long_lived_work_process(processes: None) -> None:
    first = enqueue("tests.testapp.worker_jobs.pid")
    second = enqueue("tests.testapp.worker_jobs.pid")
    result = run("rqworker", "--burst")
    assert result.returncode == 0, result.stderr
    first.refresh()
    second.refresh()
    assert first.return_value() == second.return_value()


def test_stop_job_command_stops_a_running_job(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 60)
    with running("rqworker") as worker:
        wait_for(started, what="the job to start")
        send_stop_job_command(get_connection(), job.id)
        wait_for(lambda: status(job) == JobStatus.STOPPED, what="the job to stop")
        enqueue("tests.testapp.worker_jobs.record", "next")
        wait_for(lambda: order() == ["next"], what="the next job")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0


@pytest.mark.parametrize("alias", list(settings.DATABASES))
@pytest.mark.parametrize("kind", ["prefork", "simple", "fork"])
def test_a_broken_database_connection_does_not_poison_the_next_job(
    alias: str, kind: str, processes: None
) -> None:
    broken = enqueue("tests.testapp.worker_jobs.break_db", alias)
    healthy = enqueue("tests.testapp.worker_jobs.db_query", alias)
    result = run("rqworker", "--burst", "--worker-class", kind, TASKQ_WORKER_PG_NAME="postgres")
    assert result.returncode == 0, result.stderr
    assert status(broken) == JobStatus.FAILED
    assert status(healthy) == JobStatus.FINISHED, exc_string(healthy)
    healthy.refresh()
    assert healthy.return_value() == 1


# --- jobs of workers that died ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["prefork", "fork"])
def test_the_job_of_a_killed_worker_is_failed_by_another_worker(kind: str, processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 300, "never")
    fast = ["--heartbeat-interval", "1", "--maintenance-interval", "1"]
    with running("rqworker", "--worker-class", kind, *fast) as doomed:
        wait_for(started, what="the job to start")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    assert status(job) == JobStatus.STARTED
    killed_at = time.monotonic()
    with running("rqworker", *fast) as rescuer:
        wait_for(lambda: status(job) == JobStatus.FAILED, timeout=120, what="the abandoned job to fail")
        assert time.monotonic() - killed_at < 120
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(30) == 0


def test_the_job_of_a_killed_worker_is_retried_per_its_retry(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow_once", 300, "second-try", retry=Retry(max=1))
    fast = ["--heartbeat-interval", "1", "--maintenance-interval", "1"]
    with running("rqworker", *fast) as doomed:
        wait_for(started, what="the job to start")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    with running("rqworker", *fast) as rescuer:
        wait_for(lambda: order() == ["second-try"], timeout=120, what="the abandoned job to be retried")
        wait_for(lambda: status(job) == JobStatus.FINISHED, what="the retry to finish")
        rescuer.send_signal(signal.SIGTERM)
        assert rescuer.wait(30) == 0
    job.refresh()
    assert job.retries_left == 0


def test_with_default_settings_a_dead_workers_job_fails_within_two_minutes(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 600, "never")
    with running("rqworker") as doomed:
        wait_for(started, what="the job to start")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    killed_at = time.monotonic()
    with running("rqworker"):
        wait_for(lambda: status(job) == JobStatus.FAILED, timeout=120, what="the abandoned job to fail")
    assert time.monotonic() - killed_at < 120


# --- Redis going away ---------------------------------------------------------------------


def test_the_worker_survives_a_redis_restart(tmp_path: Path, processes: None) -> None:
    server = EmbeddedRedis(tmp_path / "one").start()
    client = redis.Redis.from_url(server.url)
    try:
        with running("rqworker", TASKQ_TEST_REDIS_URL=server.url) as worker:
            enqueue("tests.testapp.worker_jobs.record", "before", connection=client)
            wait_for(lambda: order(client) == ["before"], what="a job before the restart")
            server.stop()
            time.sleep(3)
            assert worker.poll() is None
            server = EmbeddedRedis(tmp_path / "two", port=server.port).start()
            enqueue("tests.testapp.worker_jobs.record", "after", connection=client)
            wait_for(lambda: order(client) == ["after"], timeout=90, what="a job after the restart")
            assert worker.poll() is None
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                code = None
            log = output(worker)
            assert code == 0, log
        assert "unreachable" in log or "could not connect" in log.lower()
    finally:
        client.close()
        server.stop()


def test_an_idle_work_process_that_ignores_the_stop_signal_is_stopped_anyway(processes: None) -> None:
    deaf = enqueue("tests.testapp.worker_jobs.ignore_stop_signals")
    with running("rqworker") as worker:
        wait_for(lambda: status(deaf) == JobStatus.FINISHED, what="the job that ignores signals")
        started_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0
        assert time.monotonic() - started_at < 40  # 10 s of grace, 10 s more before SIGKILL
    assert "did not stop within 10 s" in output(worker)


def test_a_crash_is_handled_while_the_scheduler_process_runs(processes: None) -> None:
    # RQ's scheduler process inherits the work process's report pipe: the supervisor must
    # notice the death anyway, and end the orphaned scheduler.
    crashed = enqueue("tests.testapp.worker_jobs.crash")
    with running("rqworker", "--with-scheduler") as worker:
        wait_for(lambda: status(crashed) == JobStatus.FAILED, timeout=60, what="the crash to be handled")
        enqueue("tests.testapp.worker_jobs.record", "after")
        wait_for(lambda: order() == ["after"], timeout=60, what="the next job")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, output(worker)


def test_a_queue_name_with_a_space_survives_a_crash(processes: None) -> None:
    # The work process reports each job start (id, queue...) to its supervisor through a pipe:
    # any queue name Redis accepts must get through.
    queue = Queue("low priority", connection=get_connection())
    crashed = queue.enqueue("tests.testapp.worker_jobs.crash")
    after = queue.enqueue("tests.testapp.worker_jobs.record", "after the crash")
    result = run("rqworker", "low priority", "--burst")
    assert result.returncode == 0, result.stderr
    assert status(crashed) == JobStatus.FAILED
    assert "terminated unexpectedly" in exc_string(crashed)
    assert crashed.id in queue.failed_job_registry.get_job_ids()
    assert status(after) == JobStatus.FINISHED
    assert order() == ["after the crash"]
