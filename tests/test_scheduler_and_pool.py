"""rqscheduler and rqworker-pool as real processes."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from rq import Queue, Worker
from rq.job import JobStatus

from django_taskq.connections import get_connection
from tests.testapp.worker_jobs import STARTED_KEY
from tests.worker_helpers import order, output, run, running, status, wait_for

pytestmark = pytest.mark.usefixtures("processes")  # every test here starts processes


def queue() -> Queue:
    return Queue("default", connection=get_connection())


def live_worker_pids() -> set[int]:
    return {worker.pid for worker in Worker.all(connection=get_connection()) if worker.pid}


def at_least(count: int, pids: set[int]) -> set[int] | None:
    return pids if len(pids) >= count else None


def test_rqscheduler_moves_scheduled_jobs_on_time() -> None:
    with running("rqscheduler", "--interval", "0.5") as scheduler, running("rqworker") as worker:
        due = time.time() + 2
        job = queue().enqueue_in(timedelta(seconds=2), "tests.testapp.worker_jobs.record", "on-time")
        # The job's function records "on-time" a moment before the worker marks the job finished.
        wait_for(lambda: status(job) == JobStatus.FINISHED, timeout=60, what="the scheduled job")
        assert order() == ["on-time"]
        job.refresh()
        # RQ's scheduled registry keeps whole seconds: a job is due from the start of its second.
        assert job.ended_at is not None and job.ended_at.timestamp() >= math.floor(due)
        for process in (scheduler, worker):
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, output(process)


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains ``marker`` (forked ones share their parent's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize(
    ("command", "processes"),
    [
        (["rqworker", "--worker-class", "prefork"], 3),  # supervisor, work process, scheduler
        (["rqworker", "--worker-class", "simple"], 2),  # worker, scheduler
        (["rqworker-pool", "-n", "2"], 6),  # pool, 2 x (supervisor, work process), scheduler
    ],
)
def test_a_sigkilled_worker_leaves_no_process_behind(
    command: list[str], processes: int, tmp_path: Path
) -> None:
    marker = str(tmp_path / f"{uuid.uuid4().hex}.pid")  # on every process's command line
    with running(*command, "--with-scheduler", "--pid", marker) as worker:
        wait_for(lambda: len(processes_with(marker)) >= processes, timeout=60, what="the worker's processes")
        os.kill(worker.pid, signal.SIGKILL)  # that process alone, as the OOM killer does
        worker.wait(10)
        try:
            wait_for(lambda: not processes_with(marker), timeout=15, what="every worker process to end")
        finally:  # orphans would serve the queues of the tests that follow
            for pid in processes_with(marker):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["nope"], "Unknown queue 'nope'"), (["--interval", "0"], "must be greater than 0")],
)
def test_rqscheduler_bad_input_is_a_clean_error(args: list[str], fragment: str) -> None:
    result = run("rqscheduler", *args)
    assert result.returncode != 0
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_rqscheduler_fails_the_job_of_a_dead_worker() -> None:
    job = queue().enqueue("tests.testapp.worker_jobs.slow", 300, "never")
    with running("rqworker", "--heartbeat-interval", "1") as doomed:
        wait_for(lambda: get_connection().llen(STARTED_KEY), what="the job to start")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    with running("rqscheduler", "--maintenance-interval", "1") as scheduler:
        wait_for(lambda: status(job) == JobStatus.FAILED, timeout=120, what="the abandoned job to fail")
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(30) == 0


def test_pool_in_burst_mode_runs_every_job_and_exits_0() -> None:
    for number in range(20):
        queue().enqueue("tests.testapp.worker_jobs.record", str(number))
    result = run("rqworker-pool", "--num-workers", "2", "--burst")
    assert result.returncode == 0, result.stderr
    assert sorted(order(), key=int) == [str(number) for number in range(20)]


def test_pool_replaces_a_dead_member_and_stops_on_sigterm() -> None:
    with running("rqworker-pool", "-n", "2") as pool:
        first = wait_for(lambda: at_least(2, live_worker_pids()), what="two workers")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: live_worker_pids() - first - {victim}, timeout=60, what="a replacement worker")
        queue().enqueue("tests.testapp.worker_jobs.record", "still-served")
        wait_for(lambda: order() == ["still-served"], what="the pool to run a job")
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(60) == 0, output(pool)


def test_pool_bad_input_is_a_clean_error() -> None:
    result = run("rqworker-pool", "--num-workers", "0", "--burst")
    assert result.returncode != 0
    assert "must be greater than 0" in result.stderr
    result = run("rqworker-pool", "nope", "--burst")
    assert result.returncode == 1
    assert "Unknown queue 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
