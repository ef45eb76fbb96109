"""Django's own tests of the tasks framework (its ``tests/tasks``) pass on RQBackend.

The tests are fetched at test time (tests/django_tasks_contract.py): each test class runs
subclassed with ``TASKS`` on RQBackend, in place of DummyBackend (no worker) or ImmediateBackend
(an in-process burst worker runs the job as it reaches Redis). The tests that cannot apply to a
queue backend unmodified are listed below with the reason; every other one must run and pass,
so a new Django test, or one that changes, is noticed here.
"""

from __future__ import annotations

import io
import sys
import unittest
from pathlib import Path

import django
import pytest

from tests import django_tasks_contract as contract

pytestmark = pytest.mark.skipif(
    django.VERSION < (6, 0),
    reason="Django's tests/tasks import django.tasks (Django >= 6.0); the django_tasks backport "
    "names its API differently (InvalidTaskError, InvalidTaskBackendError, django_tasks.*), so "
    "they cannot run against it without editing them or aliasing modules",
)

DUMMY = "tasks.test_dummy_backend.DummyBackendTestCase"
IMMEDIATE = "tasks.test_immediate_backend.ImmediateBackendTestCase"
TASK = "tasks.test_tasks.TaskTestCase"

# Reason: ids of Django's tests (a class id covers all its tests).
EXCLUDED: dict[str, tuple[str, ...]] = {
    "tests custom backends and Task subclasses, not a backend": (
        "tasks.test_custom_backend.CustomBackendTestCase",
        "tasks.test_custom_backend.CustomTaskTestCase",
    ),
    "asserts the backend class is DummyBackend or ImmediateBackend": (
        f"{TASK}.test_using_correct_backend",
        f"{TASK}.test_get_backend",
        f"{DUMMY}.test_using_correct_backend",
        f"{IMMEDIATE}.test_using_correct_backend",
    ),
    "reads or edits DummyBackend's in-memory results (.results, .clear())": (
        f"{TASK}.test_enqueue_task",
        f"{TASK}.test_enqueue_task_async",
        f"{DUMMY}.test_enqueue_task",
        f"{DUMMY}.test_enqueue_task_async",
        f"{DUMMY}.test_refresh_result",
        f"{DUMMY}.test_refresh_result_async",
        f"{DUMMY}.test_clear",
    ),
    "sets TASKS to Django's own backend inside the test, so RQBackend would not run": (
        f"{DUMMY}.test_validate_on_enqueue",
        f"{DUMMY}.test_validate_on_aenqueue",
        f"{IMMEDIATE}.test_validate_on_enqueue",
        f"{IMMEDIATE}.test_validate_on_aenqueue",
        "tasks.test_dummy_backend.DummyBackendTransactionTestCase",
        "tasks.test_immediate_backend.ImmediateBackendTransactionTestCase",
    ),
    "asserts what ImmediateBackend lacks (results, run_after), which RQBackend supports": (
        f"{IMMEDIATE}.test_cannot_get_result",
        f"{IMMEDIATE}.test_cannot_refresh_result",
        f"{IMMEDIATE}.test_cannot_pass_run_after",
    ),
    "expects a task's KeyboardInterrupt out of enqueue(); a queue backend runs tasks in a worker": (
        f"{IMMEDIATE}.test_throws_keyboard_interrupt",
    ),
}


def exclusion(test_id: str) -> tuple[str, str] | None:
    """The reason ``test_id`` is excluded and the key of EXCLUDED that says so, if it is."""
    for reason, keys in EXCLUDED.items():
        for key in keys:
            if test_id == key or test_id.startswith(f"{key}."):
                return reason, key
    return None


def own_id(test: unittest.TestCase) -> str:
    """The id of the test itself, also for a failed ``subTest`` (which reports one of its own)."""
    return getattr(test, "test_case", test).id()


def test_djangos_tasks_tests_pass_on_rqbackend(processes: None) -> None:
    tests_dir = contract.django_tests_dir(Path(sys.prefix) / "django-src")  # pip: a process
    with contract.importable(tests_dir):
        loaded = contract.load_tests()
        excluded: dict[str, list[str]] = {reason: [] for reason in EXCLUDED}
        used_keys: set[str] = set()
        adapted: dict[type[unittest.TestCase], type[unittest.TestCase] | None] = {}
        to_run: list[unittest.TestCase] = []
        unknown: list[str] = []
        for test in loaded:
            test_id = test.id()
            found = exclusion(test_id)
            if found is not None:
                excluded[found[0]].append(test_id)
                used_keys.add(found[1])
                continue
            cls = type(test)
            if cls not in adapted:
                adapted[cls] = contract.adapt(cls)
            adapted_cls = adapted[cls]
            if adapted_cls is None:
                unknown.append(test_id)
            else:
                to_run.append(adapted_cls(test_id.rsplit(".", 1)[1]))
        assert not unknown, f"Django tests neither runnable on RQBackend nor excluded: {unknown}"
        stale = [key for keys in EXCLUDED.values() for key in keys if key not in used_keys]
        assert not stale, f"excluded tests that Django no longer has: {stale}"

        stream = io.StringIO()
        runner = unittest.TextTestRunner(stream=stream, verbosity=2)
        runner.warnings = None  # keep pytest's filters (RemovedInNextVersionWarning is an error here)
        result = runner.run(unittest.TestSuite(to_run))

    outcomes = [*result.errors, *result.failures, *result.skipped, *result.expectedFailures]
    not_passed = {own_id(test) for test, _ in outcomes} | set(map(own_id, result.unexpectedSuccesses))
    passed = result.testsRun - len(not_passed)
    n_excluded = sum(map(len, excluded.values()))
    report = [
        f"Django {django.__version__} tests/tasks: {len(loaded)} tests, {result.testsRun} run on "
        f"RQBackend, {passed} passed, {n_excluded} excluded",
        *(f"  excluded {len(ids)}: {reason}" for reason, ids in excluded.items()),
    ]
    print("\n".join(report))
    details = "\n".join([*report, stream.getvalue()])
    assert not result.errors and not result.failures, details
    assert result.testsRun == len(loaded) - n_excluded, details
    assert passed == result.testsRun, details
