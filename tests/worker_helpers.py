"""Running worker commands as real subprocesses in the worker tests."""

from __future__ import annotations

import signal
import subprocess
from contextlib import AbstractContextManager

from tests.command_helpers import background, manage, wait_for

__all__ = ["output", "run", "running", "stop", "wait_for"]

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
