"""Running worker commands as real subprocesses in the worker tests, and what their jobs left.

``run`` and ``running`` start processes: the calling test requests the ``processes`` fixture.
"""

from __future__ import annotations

import signal
import subprocess
from contextlib import AbstractContextManager

import redis
from rq.job import Job, JobStatus

from django_taskq.connections import get_connection
from tests.command_helpers import background, manage, wait_for
from tests.testapp.worker_jobs import ORDER_KEY, STARTED_KEY

__all__ = ["order", "output", "run", "running", "started", "status", "stop", "wait_for"]

SETTINGS = "tests.worker_settings"


def run(
    *args: str, timeout: float = 90, settings: str = SETTINGS, **extra: str
) -> subprocess.CompletedProcess[str]:
    return manage(*args, timeout=timeout, settings=settings, **extra)


def running(
    *args: str, settings: str = SETTINGS, **extra: str
) -> AbstractContextManager[subprocess.Popen[str]]:
    """A command in the background, stdout and stderr in one stream."""
    return background(*args, settings=settings, merge_stderr=True, **extra)


def output(process: subprocess.Popen[str]) -> str:
    """All output of a process that has exited."""
    assert process.stdout is not None
    return process.stdout.read()


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    process.send_signal(sig)
    return process.wait(timeout)


def status(job: Job) -> JobStatus:
    return JobStatus(job.get_status(refresh=True))


def order(connection: redis.Redis | None = None) -> list[str]:
    """What ``tests.testapp.worker_jobs.record`` recorded, in the order the jobs ran."""
    return [item.decode() for item in (connection or get_connection()).lrange(ORDER_KEY, 0, -1)]


def started() -> int:
    """How many ``slow`` jobs have started."""
    return int(get_connection().llen(STARTED_KEY))
