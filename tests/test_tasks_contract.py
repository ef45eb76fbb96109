"""Django 6.1's own tests of the tasks framework (its tests/tasks), run against RQBackend.

The test modules are vendored in tests/django_tasks_contract (only their imports changed, so
that they also run on Django 5.2 with the django-tasks backport). Each class below subclasses
one of Django's and points TASKS at RQBackend:

- Django's tests of DummyBackend (a backend that stores tasks and runs nothing) and of the
  task API run against ``WaitingRQBackend``: RQBackend with no worker running, plus the
  ``results``/``clear()`` those tests read;
- its tests of ImmediateBackend (a backend that runs the task inside ``enqueue()``) run against
  ``RunningRQBackend``: RQBackend, then a burst worker (``django_taskq.testing.run_jobs``).

Counts (Django 6.1.3, 85 tests in tests/tasks): 71 apply to a queue backend and pass, 58 of
them unmodified; 13 are adapted, overridden below with the change named (the backend class a
test asserts, the task's module path, a test that edits DummyBackend's memory, a BACKEND path
written in the test, COMMIT_MODE "auto" for the two that enqueue inside ``atomic()``). 14 do
not apply: the 9 of test_custom_backend.py (other backends) and 5 skipped below, with why.
"""

from __future__ import annotations

import unittest
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils.module_loading import import_string

from django_taskq.testing import run_jobs
from tests.django_tasks_contract import dummy_backend_tests as dummy
from tests.django_tasks_contract import immediate_backend_tests as immediate
from tests.django_tasks_contract import task_tests
from tests.django_tasks_contract import tasks as test_tasks
from tests.django_tasks_contract.backends import RunningRQBackend, WaitingRQBackend
from tests.django_tasks_contract.framework import (
    FRAMEWORK,
    InvalidTask,
    TaskResultStatus,
    default_task_backend,
    task_backends,
)

WAITING = f"{WaitingRQBackend.__module__}.WaitingRQBackend"
RUNNING = f"{RunningRQBackend.__module__}.RunningRQBackend"
DJANGO_IMMEDIATE = f"{FRAMEWORK}.backends.immediate.ImmediateBackend"

# Task queue names are RQ_QUEUES names: the queues Django's tests name.
CONTRACT_QUEUES = {
    name: {"URL": settings.REDIS_URL} for name in ("default", "queue_1", "queue-1", "unknown_queue")
}


def rq_tasks(backend: str, **entry: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": backend, **entry}}


def backport_differs(how: str) -> Any:
    """Skip, on Django 5.2, a test of what the django-tasks backport does differently from Django."""
    return unittest.skipIf(FRAMEWORK != "django.tasks", f"Django 6+ only: the django-tasks backport {how}")


# The task API (tests/tasks/test_tasks.py): 39 tests, 36 unmodified.


@override_settings(
    TASKS={
        "default": {"BACKEND": WAITING, "QUEUES": ["default", "queue_1"]},
        "immediate": {"BACKEND": DJANGO_IMMEDIATE, "QUEUES": []},
        "missing": {"BACKEND": "does.not.exist"},
    },
    RQ_QUEUES=CONTRACT_QUEUES,
    USE_TZ=True,
)
class RQTaskTests(task_tests.TaskTestCase):
    def test_using_correct_backend(self) -> None:  # adapted: RQBackend instead of DummyBackend
        self.assertEqual(default_task_backend, task_backends["default"])
        self.assertIsInstance(task_backends["default"], WaitingRQBackend)

    def test_get_backend(self) -> None:  # adapted: RQBackend instead of DummyBackend
        self.assertEqual(test_tasks.noop_task.backend, "default")
        self.assertIsInstance(test_tasks.noop_task.get_backend(), WaitingRQBackend)
        immediate_task = test_tasks.noop_task.using(backend="immediate")
        self.assertEqual(immediate_task.backend, "immediate")
        self.assertEqual(type(immediate_task.get_backend()).__name__, "ImmediateBackend")

    def test_module_path(self) -> None:  # adapted: where the vendored tasks module lives
        self.assertEqual(test_tasks.noop_task.module_path, f"{test_tasks.__name__}.noop_task")
        self.assertEqual(test_tasks.noop_task_async.module_path, f"{test_tasks.__name__}.noop_task_async")
        self.assertIs(import_string(test_tasks.noop_task.module_path), test_tasks.noop_task)
        self.assertIs(import_string(test_tasks.noop_task_async.module_path), test_tasks.noop_task_async)

    @backport_differs("has no Task.__reduce__, so its tasks do not pickle")
    def test_pickle_task(self) -> None:
        super().test_pickle_task()

    @backport_differs("has no Task.__reduce__, so its tasks do not pickle")
    def test_pickle_task_result(self) -> None:
        super().test_pickle_task_result()

    @backport_differs("has no Task._reconstruct")
    def test_unpickle_arbitrary_string(self) -> None:
        super().test_unpickle_arbitrary_string()

    @backport_differs("has no Task._reconstruct")
    def test_unpickle_non_task_object(self) -> None:
        super().test_unpickle_non_task_object()

    @backport_differs("refuses run_after in @task with another message")
    def test_run_after_in_decorator(self) -> None:
        super().test_run_after_in_decorator()


# DummyBackend's tests (tests/tasks/test_dummy_backend.py): 16 apply, 10 unmodified.


@override_settings(TASKS=rq_tasks(WAITING, QUEUES=[]), RQ_QUEUES=CONTRACT_QUEUES)
class WaitingRQBackendTests(dummy.DummyBackendTestCase):
    def test_using_correct_backend(self) -> None:  # adapted: RQBackend instead of DummyBackend
        self.assertEqual(default_task_backend, task_backends["default"])
        self.assertIsInstance(task_backends["default"], WaitingRQBackend)
        self.assertEqual(default_task_backend.alias, "default")
        self.assertEqual(default_task_backend.options, {})

    def test_refresh_result(self) -> None:  # adapted: a worker runs it (not an edit of the memory)
        result = default_task_backend.enqueue(test_tasks.calculate_meaning_of_life, (), {})
        run_jobs("default").raise_failures()
        self.assertEqual(result.status, TaskResultStatus.READY)
        result.refresh()
        self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)

    async def test_refresh_result_async(self) -> None:  # adapted: as test_refresh_result
        result = await default_task_backend.aenqueue(test_tasks.calculate_meaning_of_life, (), {})
        await sync_run_jobs()
        self.assertEqual(result.status, TaskResultStatus.READY)
        await result.arefresh()
        self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)

    def test_validate_on_enqueue(self) -> None:  # adapted: BACKEND RQBackend
        task = test_tasks.noop_task.using(queue_name="unknown_queue")
        refusal = self.assertRaisesMessage(InvalidTask, "Queue 'unknown_queue' is not valid for backend")
        with override_settings(TASKS=rq_tasks(WAITING, QUEUES=["queue-1"])), refusal:
            task.enqueue()

    async def test_validate_on_aenqueue(self) -> None:  # adapted: BACKEND RQBackend
        task = test_tasks.noop_task.using(queue_name="unknown_queue")
        refusal = self.assertRaisesMessage(InvalidTask, "Queue 'unknown_queue' is not valid for backend")
        with override_settings(TASKS=rq_tasks(WAITING, QUEUES=["queue-1"])), refusal:
            await task.aenqueue()

    @backport_differs("says 'async tasks' in lower case")
    def test_validate_disallowed_async_task(self) -> None:
        super().test_validate_disallowed_async_task()

    @unittest.skip("not applicable: clear() is DummyBackend's own API (RQ jobs are deleted with RQ's)")
    def test_clear(self) -> None:
        pass


class WaitingRQBackendTransactionTests(dummy.DummyBackendTransactionTestCase):
    # adapted: COMMIT_MODE "auto"; RQBackend's default ("on_db_commit") waits for the commit.
    @override_settings(TASKS=rq_tasks(WAITING), RQ={"COMMIT_MODE": "auto"})
    def test_doesnt_wait_until_transaction_commit_by_default(self) -> None:
        with transaction.atomic():
            result = test_tasks.noop_task.enqueue()
            self.assertIsNotNone(result.enqueued_at)
            self.assertEqual(len(default_task_backend.results), 1)
        self.assertEqual(len(default_task_backend.results), 1)


# ImmediateBackend's tests (tests/tasks/test_immediate_backend.py): 16 apply, 12 unmodified.


@override_settings(TASKS=rq_tasks(RUNNING, QUEUES=[]), RQ_QUEUES=CONTRACT_QUEUES)
class RunningRQBackendTests(immediate.ImmediateBackendTestCase):
    def test_using_correct_backend(self) -> None:  # adapted: RQBackend instead of ImmediateBackend
        self.assertEqual(default_task_backend, task_backends["default"])
        self.assertIsInstance(task_backends["default"], RunningRQBackend)
        self.assertEqual(default_task_backend.alias, "default")
        self.assertEqual(default_task_backend.options, {})

    def test_validate_on_enqueue(self) -> None:  # adapted: BACKEND RQBackend
        task = test_tasks.noop_task.using(queue_name="unknown_queue")
        refusal = self.assertRaisesMessage(InvalidTask, "Queue 'unknown_queue' is not valid for backend")
        with override_settings(TASKS=rq_tasks(RUNNING, QUEUES=["queue-1"])), refusal:
            task.enqueue()

    async def test_validate_on_aenqueue(self) -> None:  # adapted: BACKEND RQBackend
        task = test_tasks.noop_task.using(queue_name="unknown_queue")
        refusal = self.assertRaisesMessage(InvalidTask, "Queue 'unknown_queue' is not valid for backend")
        with override_settings(TASKS=rq_tasks(RUNNING, QUEUES=["queue-1"])), refusal:
            await task.aenqueue()

    @unittest.skip("not applicable: a task runs in a worker, so Ctrl-C in the caller cannot reach it")
    def test_throws_keyboard_interrupt(self) -> None:
        pass

    @unittest.skip("not applicable: RQBackend supports get_result (ImmediateBackend does not)")
    async def test_cannot_get_result(self) -> None:
        pass

    @unittest.skip("not applicable: RQBackend supports refresh (ImmediateBackend does not)")
    async def test_cannot_refresh_result(self) -> None:
        pass

    @unittest.skip("not applicable: RQBackend supports run_after (ImmediateBackend does not)")
    def test_cannot_pass_run_after(self) -> None:
        pass


class RunningRQBackendTransactionTests(immediate.ImmediateBackendTransactionTestCase):
    # adapted: COMMIT_MODE "auto"; RQBackend's default ("on_db_commit") waits for the commit.
    @override_settings(TASKS=rq_tasks(RUNNING), RQ={"COMMIT_MODE": "auto"})
    def test_doesnt_wait_until_transaction_commit_by_default(self) -> None:
        with transaction.atomic():
            result = test_tasks.noop_task.enqueue()
            self.assertIsNotNone(result.enqueued_at)
            self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)
        self.assertEqual(result.status, TaskResultStatus.SUCCESSFUL)


async def sync_run_jobs() -> None:
    await sync_to_async(lambda: run_jobs("default").raise_failures(), thread_sensitive=True)()
