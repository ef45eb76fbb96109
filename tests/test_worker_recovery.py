"""Recovery with default settings, real processes: the job of a SIGKILLed worker is failed (or
retried) within 20 s by another worker or rqscheduler; jobs that kill the work process do not
delay the next job; what the quick abandoned-job check costs on Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable

import pytest
import redis
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus

from django_taskq.connections import get_connection
from tests.worker_helpers import order, output, run, running, started, status, wait_for

DETECTION_LIMIT = 20.0  # seconds from the SIGKILL to the job failed or requeued


def enqueue(func: str, *args: object, **options: object) -> Job:
    return Queue("default", connection=get_connection()).enqueue(func, *args, **options)


def live_workers() -> int:
    return Worker.count(connection=get_connection())


def kill_mid_job(rescuer: str, outcome: Callable[[], bool], what: str) -> float:
    """Start a worker, let it start a slow job, start ``rescuer`` (``rqworker`` or
    ``rqscheduler``), SIGKILL the worker's top process: seconds until ``outcome()``."""
    with running("rqworker") as doomed:
        wait_for(started, what="the job to start")
        with running(rescuer) as helper:
            if rescuer == "rqworker":
                wait_for(lambda: live_workers() == 2, what="the rescuing worker to register")
            else:
                wait_for(lambda: get_connection().exists("rq:scheduler-lock:default"), what="rqscheduler")
            os.kill(doomed.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            doomed.wait(10)
            wait_for(outcome, timeout=60, what=what)
            elapsed = time.monotonic() - killed_at
            helper.send_signal(signal.SIGTERM)
            assert helper.wait(30) == 0
    return elapsed


@pytest.mark.parametrize("rescuer", ["rqworker", "rqscheduler"])
def test_the_job_of_a_sigkilled_worker_fails_within_20_seconds(rescuer: str, processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 600, "never")
    elapsed = kill_mid_job(rescuer, lambda: status(job) == JobStatus.FAILED, "the abandoned job to fail")
    print(f"SIGKILLed worker's job failed by {rescuer} after {elapsed:.1f} s")
    assert elapsed < DETECTION_LIMIT
    assert job.id in Queue("default", connection=get_connection()).failed_job_registry.get_job_ids()


def test_the_job_of_a_sigkilled_worker_is_requeued_per_its_retry(processes: None) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 600, "never", retry=Retry(max=1))
    queue = Queue("default", connection=get_connection())
    elapsed = kill_mid_job("rqscheduler", lambda: job.id in queue.job_ids, "the abandoned job to be requeued")
    print(f"SIGKILLed worker's job requeued after {elapsed:.1f} s")
    assert elapsed < DETECTION_LIMIT
    assert status(job) == JobStatus.QUEUED
    job.refresh()
    assert job.retries_left == 0


def test_jobs_that_kill_the_work_process_do_not_delay_the_next_job(processes: None) -> None:
    crashes = [enqueue("tests.testapp.worker_jobs.crash") for _ in range(6)]
    healthy = enqueue("tests.testapp.worker_jobs.record", "healthy")
    result = run("rqworker", "--burst")
    assert result.returncode == 0, result.stderr
    assert all(status(job) == JobStatus.FAILED for job in crashes)
    assert order() == ["healthy"]
    for job in [*crashes, healthy]:
        job.refresh()
    last_crash = max(job.ended_at for job in crashes if job.ended_at)
    assert healthy.started_at is not None
    delay = (healthy.started_at - last_crash).total_seconds()
    print(f"healthy job started {delay:.2f} s after the 6th crash")
    assert delay < 5


def work_process(supervisor: subprocess.Popen[str]) -> int:
    """The pid of the supervisor's current work process, 0 while there is none."""
    path = f"/proc/{supervisor.pid}/task/{supervisor.pid}/children"
    with open(path) as children:
        pids = children.read().split()
    return int(pids[0]) if pids else 0


def test_work_processes_that_die_without_a_job_are_restarted_with_backoff(processes: None) -> None:
    # No job running: the death is the worker's own (OOM killer, broken start-up), not a job's;
    # a second one in a row waits longer instead of restarting in a tight loop.
    with running("rqworker") as worker:
        wait_for(lambda: live_workers() == 1, what="the worker to register")
        for _ in range(2):
            pid = wait_for(lambda: work_process(worker), what="a work process")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda p=pid: work_process(worker) not in (0, p), timeout=30, what="a new work process")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        log = output(worker)
    assert "starting a new one in 1 s" in log, log
    assert "starting a new one in 2 s" in log, log


# --- what the quick abandoned-job check costs --------------------------------------------


def command_calls(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter({name[8:]: int(entry["calls"]) for name, entry in stats.items() if name != "cmdstat_info"})


def commands_per_second(client: redis.Redis, window: float) -> tuple[float, str]:
    """Redis commands per second over ``window`` seconds, and the busiest ones."""
    before = command_calls(client)
    begin = time.monotonic()
    time.sleep(window)  # a measurement window, not a wait for a condition
    seconds = time.monotonic() - begin
    calls = command_calls(client)
    calls.subtract(before)
    detail = ", ".join(f"{name} {count / seconds:.2f}" for name, count in calls.most_common(6) if count)
    return calls.total() / seconds, detail


def test_redis_cost_of_an_idle_and_a_busy_worker(processes: None) -> None:
    client = get_connection()
    with running("rqworker") as worker:
        wait_for(
            lambda: [w.get_state() for w in Worker.all(connection=client)] == ["idle"], what="an idle worker"
        )
        idle, idle_detail = commands_per_second(client, 10)
        enqueue("tests.testapp.worker_jobs.slow", 30, "busy")
        wait_for(started, what="the job to start")
        busy, busy_detail = commands_per_second(client, 10)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    print(
        f"Redis commands per second: idle worker {idle:.2f} ({idle_detail}), busy {busy:.2f} ({busy_detail})"
    )
    assert idle < 3
    assert busy < 6


def test_an_idle_worker_does_not_fail_a_running_job(processes: None) -> None:
    # The quick check only fails jobs whose heartbeat expired, never one that is still beating.
    job = enqueue("tests.testapp.worker_jobs.slow", 20, "beating")
    with running("rqworker") as first, running("rqworker") as second:
        wait_for(lambda: status(job) == JobStatus.FINISHED, timeout=60, what="the slow job to finish")
        for process in (first, second):
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(30) == 0
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert order() == ["beating"]
