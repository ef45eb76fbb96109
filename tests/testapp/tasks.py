"""Django tasks the backend tests enqueue (importable by worker processes).

The receivers at the bottom record every task signal, with the process that sent it, in a
Redis list, so that a test can see which process fired which signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from django_taskq import get_connection
from django_taskq.backends.compat import TaskContext, task, task_enqueued, task_finished, task_started

ORDER_KEY = "tasks-test:order"
SIGNALS_KEY = "tasks-test:signals"


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@task
async def async_multiply(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a * b


@task
def fail(message: str = "boom") -> None:
    raise ValueError(message)


@task
def exit_early(code: int = 3) -> None:
    raise SystemExit(code)


@task
def unserialisable_return() -> object:
    return {1, 2, 3}


@task
def record(label: str) -> str:
    """Append ``label`` to a Redis list, to see the order in which tasks ran."""
    get_connection("default").rpush(ORDER_KEY, label)
    return label


@task
def pid() -> int:
    return os.getpid()


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


PIDS_KEY = "tasks-test:pids"


@task
def report_pid_then_nap(seconds: float) -> float:
    """Publish this process's pid (so a test can kill it), then sleep."""
    get_connection("default").rpush(PIDS_KEY, os.getpid())
    time.sleep(seconds)
    return seconds


@task(takes_context=True)
def describe_context(context: TaskContext, value: int) -> dict[str, Any]:
    return {
        "attempt": context.attempt,
        "id": context.task_result.id,
        "status": str(context.task_result.status),
        "worker_ids": context.task_result.worker_ids,
        "value": value,
    }


@task(takes_context=True, backend="retrying")
def flaky(context: TaskContext, succeed_on: int) -> int:
    """Fails until attempt ``succeed_on``, then returns the attempt number."""
    if context.attempt < succeed_on:
        raise RuntimeError(f"attempt {context.attempt} fails")
    return context.attempt


@task(backend="banded")
def banded_record(label: str) -> str:
    get_connection("default").rpush(ORDER_KEY, label)
    return label


def _recorder(name: str) -> Any:
    def receiver(sender: type, task_result: Any, **kwargs: Any) -> None:
        entry = {"signal": name, "id": task_result.id, "pid": os.getpid(), "status": str(task_result.status),
                 "sender": sender.__name__, "attempts": task_result.attempts}  # fmt: skip
        get_connection("default").rpush(SIGNALS_KEY, json.dumps(entry))

    return receiver


_on_enqueued = _recorder("enqueued")
_on_started = _recorder("started")
_on_finished = _recorder("finished")
task_enqueued.connect(_on_enqueued, dispatch_uid="tests.tasks.enqueued")
task_started.connect(_on_started, dispatch_uid="tests.tasks.started")
task_finished.connect(_on_finished, dispatch_uid="tests.tasks.finished")
