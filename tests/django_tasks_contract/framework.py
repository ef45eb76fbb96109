"""The names Django's tests/tasks import, from the framework this Django has: ``django.tasks``
(Django 6+) or the ``django_tasks`` backport (Django 5.2), whose spellings differ a little."""

from __future__ import annotations

from django_taskq.backends.compat import (
    FRAMEWORK,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    InvalidTask,
    Task,
    TaskContext,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task,
    task_backends,
)

# The logger of the framework's signal receivers ("Task id=... enqueued", "state=...").
LOGGER = "django.tasks" if FRAMEWORK == "django.tasks" else "django_tasks"

if FRAMEWORK == "django.tasks":
    from django.tasks import DEFAULT_TASK_QUEUE_NAME, default_task_backend
    from django.tasks.backends.dummy import DummyBackend
    from django.tasks.backends.immediate import ImmediateBackend
    from django.tasks.exceptions import InvalidTaskBackend, TaskResultMismatch
else:
    from django_tasks import DEFAULT_TASK_QUEUE_NAME, default_task_backend
    from django_tasks.backends.dummy import DummyBackend
    from django_tasks.backends.immediate import ImmediateBackend
    from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
    from django_tasks.exceptions import TaskResultMismatch

__all__ = [
    "DEFAULT_TASK_QUEUE_NAME",
    "FRAMEWORK",
    "LOGGER",
    "TASK_MAX_PRIORITY",
    "TASK_MIN_PRIORITY",
    "DummyBackend",
    "ImmediateBackend",
    "InvalidTask",
    "InvalidTaskBackend",
    "Task",
    "TaskContext",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskResultStatus",
    "default_task_backend",
    "task",
    "task_backends",
]
