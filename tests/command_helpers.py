"""Running management commands in-process (call_command) and as real subprocesses.

``manage`` and ``background`` start processes: a test calling them must request the
``processes`` fixture (tests/conftest.py refuses the call otherwise), which puts it in the slow lane.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def call(name: str, *args: str, **options: Any) -> str:
    """Run a command in this process; return what it wrote to stdout."""
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def manage_argv(*args: str, settings: str = "tests.settings") -> list[str]:
    return [sys.executable, "-m", "django", *args, f"--settings={settings}"]


def subprocess_env(**extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), extra.pop("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1", **extra}


def manage(
    *args: str, input: str | None = None, timeout: float = 120, settings: str = "tests.settings", **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m django <args>`` as a real process (same Redis through the environment)."""
    return subprocess.run(
        manage_argv(*args, settings=settings),
        env=subprocess_env(**extra),
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@contextmanager
def background(
    *args: str, settings: str = "tests.settings", merge_stderr: bool = False, **extra: str
) -> Iterator[subprocess.Popen[str]]:
    """A command running in the background, killed with its process group if still alive at the end."""
    process = subprocess.Popen(
        manage_argv(*args, settings=settings),
        env=subprocess_env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
