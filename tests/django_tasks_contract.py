"""Django's own tests of the tasks framework (``tests/tasks`` of its source distribution), run
against RQBackend by tests/test_django_tasks_contract.py.

None of Django's test code is kept in this repository: the sdist of the installed Django is
downloaded once into the virtualenv, only ``tests/tasks`` is extracted, and its test classes
are subclassed at runtime with ``TASKS`` pointing at RQBackend.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import inspect
import os
import pkgutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import unittest
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import django
import redis
from django.conf import settings
from django.test import SimpleTestCase, override_settings

from django_taskq.backends import RQBackend
from django_taskq.backends.compat import TaskResult, task_backends, task_enqueued
from django_taskq.testing import run_jobs
from tests.redis_server import started_by_this_suite

RQ_BACKEND = "django_taskq.backends.RQBackend"
DUMMY_BACKEND = "django.tasks.backends.dummy.DummyBackend"
IMMEDIATE_BACKEND = "django.tasks.backends.immediate.ImmediateBackend"

# Queue names Django's tests give tasks and expect a backend to accept; RQBackend accepts
# RQ_QUEUES names only, so they are defined (on the suite's Redis) for the run.
EXTRA_QUEUES = ("queue_1", "queue-2")

# The setUp of Django's DummyBackend test classes, replaced here by emptying Redis (the store
# RQBackend keeps results in); compared verbatim so that a changed setUp is noticed.
DUMMY_CLEAR_SETUP = "def setUp(self):\n    default_task_backend.clear()\n"


# Fetching Django's tests


def django_tests_dir(cache: Path) -> Path:
    """The ``tests`` directory of the installed Django's sdist, holding only ``tasks``; downloaded
    (with pip: a process) and extracted into ``cache`` on first use."""
    target = cache / f"django-{django.__version__}" / "tests"
    if (target / "tasks").is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs may share this virtualenv
        if not (target / "tasks").is_dir():
            with tempfile.TemporaryDirectory(dir=cache) as scratch:
                _extract_tasks_tests(_download_sdist(Path(scratch)), Path(scratch) / "x", target)
    return target


def _download_sdist(into: Path) -> Path:
    version = django.__version__
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
    command += [f"django=={version}", "-d", str(into)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    (sdist,) = into.glob("*.tar.gz")
    return sdist


def _extract_tasks_tests(sdist: Path, scratch: Path, target: Path) -> None:
    with tarfile.open(sdist) as archive:
        # Members are "<top>/tests/tasks/...": nothing else of the sdist is kept.
        members = [m for m in archive.getmembers() if m.name.split("/")[1:3] == ["tests", "tasks"]]
        if not members:
            raise RuntimeError(f"{sdist.name} has no tests/tasks directory")
        archive.extractall(scratch, members=members, filter="data")
    (top,) = scratch.iterdir()
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(top / "tests", target)  # atomic: a half-extracted directory is never seen


@contextmanager
def importable(tests_dir: Path) -> Iterator[None]:
    """``tasks`` importable as Django's runtests.py makes it (module paths ``tasks.tasks.*``)."""
    if "tasks" in sys.modules or importlib.util.find_spec("tasks") is not None:
        raise RuntimeError("a top-level 'tasks' module already exists: Django's tests/tasks would not load")
    sys.path.insert(0, str(tests_dir))
    try:
        yield
    finally:
        sys.path.remove(str(tests_dir))
        for name in [name for name in sys.modules if name == "tasks" or name.startswith("tasks.")]:
            del sys.modules[name]


def load_tests() -> list[unittest.TestCase]:
    """Every test of ``tasks``, loaded as Django's runner would (modules ``test*``)."""
    package = importlib.import_module("tasks")
    loader = unittest.TestLoader()
    tests: list[unittest.TestCase] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        if info.name.startswith("test"):
            tests.extend(_flatten(loader.loadTestsFromModule(importlib.import_module(f"tasks.{info.name}"))))
    return tests


def _flatten(suite: Iterable[Any]) -> Iterator[unittest.TestCase]:
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


# Adapting them to RQBackend


def adapt(cls: type[unittest.TestCase]) -> type[SimpleTestCase] | None:
    """``cls`` subclassed to run on RQBackend, or None if it is not a Django test case.

    The class's own ``TASKS`` (its ``override_settings``, applied by Django's ``setUpClass``)
    is read from the settings: each DummyBackend alias becomes RQBackend with no worker; each
    ImmediateBackend alias becomes RQBackend whose jobs an in-process burst worker runs as soon
    as they reach Redis, the returned result refreshed from Redis before ``enqueue()`` returns,
    as ImmediateBackend's is. A class that sets neither fails in ``setUpClass``: it must be
    excluded by the caller, with a reason.
    """
    if not issubclass(cls, SimpleTestCase):
        return None
    own_setup = vars(cls).get("setUp")
    skip_setup = own_setup is not None and textwrap.dedent(inspect.getsource(own_setup)) == DUMMY_CLEAR_SETUP
    run_at_once: set[str] = set()  # this class's ImmediateBackend aliases, known in setUpClass

    def setUpClass(klass: type[SimpleTestCase]) -> None:
        super(adapted, klass).setUpClass()  # Django's own override_settings of the class
        original: dict[str, dict[str, Any]] = settings.TASKS
        replaced = {DUMMY_BACKEND, IMMEDIATE_BACKEND}
        if not any(entry.get("BACKEND") in replaced for entry in original.values()):
            raise RuntimeError(f"{cls.__qualname__} sets no TASKS to replace with RQBackend: exclude it")
        tasks = {
            alias: {**entry, "BACKEND": RQ_BACKEND} if entry.get("BACKEND") in replaced else entry
            for alias, entry in original.items()
        }
        run_at_once.update(
            alias for alias, entry in original.items() if entry.get("BACKEND") == IMMEDIATE_BACKEND
        )
        rq_queues = {**settings.RQ_QUEUES, **{name: {"URL": settings.REDIS_URL} for name in EXTRA_QUEUES}}
        ours = override_settings(TASKS=tasks, RQ_QUEUES=rq_queues)
        ours.enable()
        klass.addClassCleanup(ours.disable)  # before Django's own: class cleanups run last-in first

    def setUp(self: SimpleTestCase) -> None:
        empty_redis()
        if run_at_once:
            receiver = _run_on_enqueue(frozenset(run_at_once))
            task_enqueued.connect(receiver, weak=False)
            self.addCleanup(task_enqueued.disconnect, receiver)
        if not skip_setup:
            cls.setUp(self)

    # Same module and qualified name: test ids stay Django's own (tasks.test_x.Class.test_y).
    names = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
    adapted: type[SimpleTestCase] = type(
        cls.__name__, (cls,), {"setUpClass": classmethod(setUpClass), "setUp": setUp, **names}
    )
    return adapted


def _run_on_enqueue(aliases: frozenset[str]) -> Callable[..., None]:
    def run_now(sender: object, task_result: TaskResult[..., Any], **kwargs: object) -> None:
        if task_result.backend not in aliases:
            return
        backend = task_backends[task_result.backend]
        assert isinstance(backend, RQBackend)
        run_jobs(backend.rq_queue_name(task_result.task))
        task_result.refresh()  # in place: the object enqueue() returns

    return run_now


def empty_redis() -> None:
    """Each Django test starts from an empty Redis, as the suite's own tests do (tests/conftest.py)."""
    url = settings.REDIS_URL
    assert started_by_this_suite(url), f"refusing to flush {url}: this suite did not start it"
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
