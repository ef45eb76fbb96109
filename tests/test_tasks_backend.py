"""The Django Tasks framework backend (django_taskq.backends.RQBackend).

Runs on Django 6.x (django.tasks) and on Django 5.2 with the django-tasks backport: every
framework name comes from django_taskq.backends.compat. Jobs run in-process through
django_taskq.testing.run_jobs, or in real ``rqworker`` subprocesses where the process matters
(signals, worker ids, scheduling, stopping).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import django
import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.checks import run_checks
from django.core.checks.registry import CheckRegistry, registry
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django.utils.module_loading import import_string
from rq.command import send_stop_job_command
from rq.job import Job, JobStatus
from rq.worker import SimpleWorker

from django_taskq import enqueue, get_connection, get_queue
from django_taskq.backends import RQBackend, compat
from django_taskq.backends.checks import (
    FRAMEWORK_CHECK_MODULES,
    check_task_backends,
    check_task_backends_once,
    framework_checks_registered,
)
from django_taskq.backends.compat import (
    InvalidTask,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from django_taskq.backends.exceptions import InvalidTaskArguments, TaskCanceled, TaskStopped, WorkerLost
from django_taskq.backends.results import RUNNER_PATH, STATUSES
from django_taskq.backends.runner import run_task
from django_taskq.testing import run_jobs
from tests.testapp import jobs, tasks

if compat.FRAMEWORK == "django.tasks":
    from django.tasks.backends.dummy import DummyBackend
else:
    from django_tasks.backends.dummy import DummyBackend

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 45.0


# Helpers


@pytest.fixture(autouse=True)
def _database_reachable(django_db_blocker: Any) -> Iterator[None]:
    """In-process workers check the database connections around each job (without a test transaction)."""
    with django_db_blocker.unblock():
        yield


def fetch(result_id: str) -> Job:
    return Job.fetch(result_id, connection=get_connection("default"))


def signals_seen() -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in get_connection("default").lrange(tasks.SIGNALS_KEY, 0, -1)]


def order_seen() -> list[str]:
    return [raw.decode() for raw in get_connection("default").lrange(tasks.ORDER_KEY, 0, -1)]


def worker_command(*queues: str, burst: bool = True, scheduler: bool = False) -> list[str]:
    command = [sys.executable, "-m", "django", "rqworker", *queues, "--settings=tests.settings"]
    if burst:
        command.append("--burst")
    if scheduler:
        command.append("--with-scheduler")
    return command


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run_worker(*queues: str) -> subprocess.CompletedProcess[str]:
    """A real ``rqworker --burst`` in its own process; fails the test if it exits non-zero."""
    done = subprocess.run(
        worker_command(*queues), env=worker_env(), cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


# RQ's own Worker class, no Django-specific subclass: tasks need nothing from the worker.
RQ_WORKER = [
    sys.executable,
    "-c",
    "import django; django.setup();"
    "from rq.worker import Worker; from django_taskq import get_queue;"
    "queue = get_queue('default'); Worker([queue], connection=queue.connection).work()",
]


@contextmanager
def running_worker(*queues: str, scheduler: bool = False, command: list[str] | None = None) -> Iterator[Any]:
    """A long-running worker subprocess (``rqworker`` by default), shut down at the end."""
    process = subprocess.Popen(
        command or worker_command(*queues, burst=False, scheduler=scheduler),
        env={**worker_env(), "DJANGO_SETTINGS_MODULE": "tests.settings"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what} after {deadline:.0f} s")


def result_status(result_id: str) -> TaskResultStatus:
    return task_backends["default"].get_result(result_id).status


# The framework and the flags


def test_compat_picks_the_framework_of_this_django() -> None:
    expected = "django.tasks" if django.VERSION >= (6, 0) else "django_tasks"
    assert expected == compat.FRAMEWORK
    assert compat.Task.__module__.startswith(expected)


def test_backend_flags_are_all_supported() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, RQBackend)
    assert backend.supports_defer
    assert backend.supports_async_task
    assert backend.supports_get_result
    assert backend.supports_priority


def test_every_rq_status_is_mapped() -> None:
    assert {status.value for status in JobStatus} <= set(STATUSES)
    assert STATUSES["stopped"] == STATUSES["canceled"] == STATUSES["failed"] == TaskResultStatus.FAILED
    assert STATUSES["started"] == TaskResultStatus.RUNNING
    assert STATUSES["finished"] == TaskResultStatus.SUCCESSFUL
    for waiting in ("queued", "scheduled", "deferred", "created"):
        assert STATUSES[waiting] == TaskResultStatus.READY


# Enqueueing


def test_enqueue_writes_a_plain_rq_job_named_after_the_task() -> None:
    result = tasks.add.enqueue(2, b=3)
    assert result.status == TaskResultStatus.READY
    assert result.args == [2] and result.kwargs == {"b": 3}
    assert result.enqueued_at is not None and result.started_at is None
    assert result.backend == "default"
    job = fetch(result.id)
    assert job.func_name == RUNNER_PATH
    assert job.description == "tests.testapp.tasks.add"
    assert job.meta["task_name"] == "tests.testapp.tasks.add"
    assert job.args == [2] and job.kwargs == {"b": 3}
    assert job.origin == "default"
    assert get_queue("default").job_ids == [result.id]
    assert tasks.add.get_result(result.id).status == TaskResultStatus.READY


def test_tuples_and_nested_values_arrive_as_json() -> None:
    result = tasks.echo.enqueue((1, 2), {"a": [1, (2, 3)]}, flag=True, nothing=None)
    run_jobs("default").raise_failures()
    result.refresh()
    assert result.return_value == {
        "args": [[1, 2], {"a": [1, [2, 3]]}],
        "kwargs": {"flag": True, "nothing": None},
    }


def test_task_on_another_queue_goes_to_that_rq_queue() -> None:
    result = tasks.add.using(queue_name="low").enqueue(1, 1)
    assert get_queue("low").job_ids == [result.id]
    assert get_queue("default").job_ids == []


def test_sync_queue_runs_the_task_during_enqueue() -> None:
    result = tasks.add.using(queue_name="sync").enqueue(4, 5)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 9


def test_aenqueue_and_aget_result() -> None:
    result = async_to_sync(tasks.add.aenqueue)(5, 6)
    run_jobs("default").raise_failures()
    fetched = async_to_sync(tasks.add.aget_result)(result.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 11
    async_to_sync(result.arefresh)()
    assert result.return_value == 11


# Bad input: nothing reaches Redis


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((datetime(2026, 1, 1),), {}, "JSON-serialisable"),
        (({1, 2},), {}, "JSON-serialisable"),
        ((object(),), {}, "JSON-serialisable"),
        ((), {"when": timezone.now()}, "JSON-serialisable"),
        (({1: "one"},), {}, "change in a JSON round trip"),
        ((math.nan,), {}, "JSON-serialisable"),
        ((b"bytes",), {}, "JSON-serialisable"),
    ],
)
def test_arguments_that_do_not_survive_json_are_refused(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str, redis_client: redis.Redis
) -> None:
    with pytest.raises(InvalidTask, match=message) as info:
        tasks.echo.enqueue(*args, **kwargs)
    assert "tests.testapp.tasks.echo" in str(info.value)
    assert redis_client.keys("rq:job:*") == []


# Values Django's own backends refuse (normalize_json), and the exception class they raise.
REFUSED_BY_DJANGO = [datetime(2026, 1, 1), {1, 2}, object(), b"\xff not UTF-8", [1, {"a": timezone.now()}]]


@pytest.mark.parametrize("value", REFUSED_BY_DJANGO)
def test_refused_arguments_raise_what_djangos_own_backends_raise(value: Any) -> None:
    reference = DummyBackend("reference", {})
    with pytest.raises((TypeError, ValueError)) as django_refusal:
        reference.enqueue(tasks.echo, [value], {})
    with pytest.raises(InvalidTask) as ours:
        tasks.echo.enqueue(value)
    assert isinstance(ours.value, InvalidTaskArguments)
    assert isinstance(ours.value, type(django_refusal.value))  # TypeError, or ValueError for bytes
    assert str(django_refusal.value) in str(ours.value)  # e.g. "Unsupported type: <class 'set'>"


def test_invalid_task_arguments_is_an_invalid_task_and_a_type_error() -> None:
    assert issubclass(InvalidTaskArguments, InvalidTask)
    assert issubclass(InvalidTaskArguments, TypeError)
    with pytest.raises(TypeError, match="change in a JSON round trip"):  # refused by us only
        tasks.echo.enqueue({1: "one"})


def test_unknown_queue_is_refused() -> None:
    with pytest.raises(InvalidTask, match="'nope'"):
        tasks.add.using(queue_name="nope")
    # A queue RQ_QUEUES has that this backend's QUEUES leaves out.
    with pytest.raises(InvalidTask, match="other-db"):
        tasks.add.using(queue_name="other-db")


def test_without_queues_setting_any_rq_queue_is_allowed_and_others_are_named() -> None:
    config = {"default": {"BACKEND": "django_taskq.backends.RQBackend"}}
    with override_settings(TASKS=config):
        moved = tasks.add.using(queue_name="other-db")
        result = moved.enqueue(1, 2)
        assert get_queue("other-db").job_ids == [result.id]
        assert task_backends["default"].get_result(result.id).status == TaskResultStatus.READY
        with pytest.raises(InvalidTask) as info:
            tasks.add.using(queue_name="nope")
        assert "not in RQ_QUEUES (it defines default, high, low, other-db, sync)" in str(info.value)


@pytest.mark.parametrize("priority", [101, -101])
def test_priority_out_of_range_is_refused(priority: int) -> None:
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        tasks.add.using(priority=priority)


def test_naive_run_after_is_refused() -> None:
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=datetime(2030, 1, 1))


# Running and reading results


def test_result_after_running() -> None:
    result = tasks.add.enqueue(20, 22)
    run_jobs("default").raise_failures()
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 42
    assert fetched.is_finished
    assert fetched.enqueued_at is not None and fetched.started_at is not None
    assert fetched.last_attempted_at is not None and fetched.finished_at is not None
    assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
    assert fetched.attempts == 1 and len(fetched.worker_ids) == 1
    assert fetched.errors == []
    assert fetched.args == [20, 22]
    # refresh() updates a result object in place
    assert result.status == TaskResultStatus.READY
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42
    assert result.worker_ids == fetched.worker_ids


def test_get_result_of_unknown_or_foreign_ids() -> None:
    backend = task_backends["default"]
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result("no-such-id")
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(backend.aget_result)("no-such-id")
    plain = enqueue(jobs.add, 1, 2)  # an ordinary RQ job is not a task result
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(plain.id)
    other = tasks.flaky.enqueue(1)  # enqueued by the "retrying" alias
    with pytest.raises(TaskResultDoesNotExist):
        backend.get_result(other.id)
    assert task_backends["retrying"].get_result(other.id).id == other.id


def test_failure_keeps_class_path_and_traceback() -> None:
    result = tasks.fail.enqueue("nope")
    report = run_jobs("default")
    assert [job.id for job in report.failed] == [result.id]  # RQ's own failure handling still applies
    assert result.id in get_queue("default").failed_job_registry.get_job_ids()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.finished_at is not None
    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "ValueError: nope" in error.traceback
    assert "tests/testapp/tasks.py" in error.traceback
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018


def test_system_exit_fails_the_task_with_its_class_and_sends_task_finished() -> None:
    result = tasks.exit_early.enqueue(3)
    report = run_jobs("default")
    assert [job.id for job in report.failed] == [result.id]
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is SystemExit
    finished = [entry["status"] for entry in signals_seen() if entry["signal"] == "finished"]
    assert finished == ["FAILED"]


def test_return_value_that_is_not_json_fails_the_task() -> None:
    result = tasks.unserialisable_return.enqueue()
    run_jobs("default")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "builtins.TypeError"


def test_async_task_runs() -> None:
    result = tasks.async_multiply.enqueue(6, 7)
    run_jobs("default").raise_failures()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42


def test_context_has_the_result_and_the_attempt() -> None:
    result = tasks.describe_context.enqueue(7)
    run_jobs("default").raise_failures()
    result.refresh()
    value = result.return_value
    assert value["attempt"] == 1
    assert value["id"] == result.id
    assert value["status"] == "RUNNING"
    assert value["worker_ids"] == result.worker_ids
    assert value["value"] == 7


def test_retried_attempts_are_counted_and_their_errors_kept() -> None:
    result = tasks.flaky.enqueue(3)  # backend "retrying": MAX_RETRIES 2, so 3 attempts
    assert fetch(result.id).retries_left == 2
    run_jobs("default", max_jobs=1)
    result.refresh()
    assert result.status == TaskResultStatus.READY  # waiting for its retry
    assert result.attempts == 1 and len(result.errors) == 1
    run_jobs("default").raise_failures()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3  # the task saw attempt 3
    assert result.attempts == 3
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"] * 2
    assert "attempt 1 fails" in result.errors[0].traceback
    assert "attempt 2 fails" in result.errors[1].traceback
    assert result.started_at is not None and result.last_attempted_at is not None
    assert result.started_at < result.last_attempted_at


def test_retries_exhausted_fail_the_task() -> None:
    result = tasks.flaky.enqueue(10)
    run_jobs("default")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3 and len(result.errors) == 3


def test_canceled_job_is_failed_with_an_error() -> None:
    result = tasks.add.enqueue(1, 2)
    fetch(result.id).cancel()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class for e in result.errors] == [TaskCanceled]
    assert result.attempts == 0


def test_runner_outside_a_job_says_so() -> None:
    with pytest.raises(RuntimeError, match="inside an RQ job"):
        run_task(1, 2)


# Priority


def test_higher_priority_runs_first() -> None:
    tasks.record.enqueue("first")
    tasks.record.using(priority=-20).enqueue("low")
    tasks.record.enqueue("second")
    tasks.record.using(priority=10).enqueue("urgent")
    run_jobs("default").raise_failures()
    assert order_seen() == ["urgent", "first", "second", "low"]


# (priority, label) in enqueue order, over the whole range; equal priorities keep their order.
MIXED_PRIORITIES = [(0, "a"), (-10, "b"), (0, "c"), (10, "d"), (-100, "e"), (100, "f"), (10, "g"),
                    (-10, "h"), (0, "i"), (99, "j"), (-99, "k"), (1, "l"), (-1, "m")]  # fmt: skip
BY_PRIORITY = [label for _, label in sorted(MIXED_PRIORITIES, key=lambda pair: -pair[0])]


def test_priorities_over_the_whole_range_run_in_order() -> None:
    for priority, label in MIXED_PRIORITIES:
        tasks.record.using(priority=priority).enqueue(label)
    run_jobs("default").raise_failures()
    assert order_seen() == BY_PRIORITY


@pytest.mark.django_db(transaction=True)
def test_tasks_of_one_commit_are_placed_by_priority() -> None:
    tasks.record.using(priority=-50).enqueue("waiting low")
    with transaction.atomic():  # written at the commit, in one pipeline
        for priority, label in MIXED_PRIORITIES:
            tasks.record.using(priority=priority).enqueue(label)
    run_jobs("default").raise_failures()
    assert order_seen() == [*BY_PRIORITY[:-2], "waiting low", *BY_PRIORITY[-2:]]


def test_rqs_own_worker_takes_the_highest_priority_first() -> None:
    for priority, label in MIXED_PRIORITIES:
        tasks.record.using(priority=priority).enqueue(label)
    queue = get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert order_seen() == BY_PRIORITY


def test_jobs_enqueued_outside_the_framework_keep_rqs_order() -> None:
    low = tasks.record.using(priority=-10).enqueue("low task")
    plain = enqueue(jobs.add, 1, 2)  # pushed as RQ pushes it: at the back
    front = get_queue("default").enqueue(jobs.add, 2, 3, at_front=True)
    task = tasks.record.enqueue("task")  # priority 0: before the low task
    assert get_queue("default").job_ids == [front.id, task.id, low.id, plain.id]


def test_priority_queues_option_maps_bands_to_rq_queues() -> None:
    results = {
        "normal": tasks.banded_record.enqueue("normal"),
        "top": tasks.banded_record.using(priority=60).enqueue("top"),
        "bottom": tasks.banded_record.using(priority=-80).enqueue("bottom"),
        "edge": tasks.banded_record.using(priority=50).enqueue("edge"),
    }
    assert get_queue("high").job_ids == [results["top"].id, results["edge"].id]
    assert get_queue("default").job_ids == [results["normal"].id]
    assert get_queue("low").job_ids == [results["bottom"].id]
    run_jobs("high", "default", "low").raise_failures()
    assert order_seen() == ["top", "edge", "normal", "bottom"]
    banded = task_backends["banded"]
    fetched = banded.get_result(results["top"].id)
    assert fetched.task.queue_name == "default" and fetched.task.priority == 60


# Defer


def test_run_after_goes_to_the_scheduled_registry() -> None:
    run_after = timezone.now() + timedelta(minutes=5)
    result = tasks.add.using(run_after=run_after).enqueue(1, 1)
    queue = get_queue("default")
    assert queue.job_ids == []
    assert queue.scheduled_job_registry.get_job_ids() == [result.id]
    assert queue.scheduled_job_registry.get_scheduled_time(result.id) == run_after.replace(microsecond=0)
    run_jobs("default", with_scheduled=True)
    fetched = tasks.add.get_result(result.id)
    assert fetched.status == TaskResultStatus.READY
    assert fetched.task.run_after == run_after


def test_without_use_tz_a_naive_run_after_is_read_in_time_zone() -> None:
    with override_settings(USE_TZ=False, TIME_ZONE="Europe/Paris"):
        naive = datetime.now() + timedelta(minutes=10)
        result = tasks.add.using(run_after=naive).enqueue(1, 1)
        registry = get_queue("default").scheduled_job_registry
        expected = timezone.make_aware(naive).replace(microsecond=0)
        assert registry.get_scheduled_time(result.id) == expected


def test_run_after_in_the_past_is_queued_at_once() -> None:
    result = tasks.add.using(run_after=timezone.now() - timedelta(seconds=1)).enqueue(1, 1)
    assert get_queue("default").job_ids == [result.id]


# Result retention


def test_results_are_kept_for_the_configured_ttl(redis_client: redis.Redis) -> None:
    kept = tasks.add.enqueue(1, 2)  # "default": OPTIONS RESULT_TTL 3600
    default_ttl = tasks.flaky.enqueue(1)  # "retrying": no RESULT_TTL, so the queue's (RQ's 500 s)
    assert fetch(kept.id).result_ttl == 3600
    assert fetch(default_ttl.id).result_ttl is None
    run_jobs("default").raise_failures()
    assert 3000 < redis_client.ttl(f"rq:job:{kept.id}") <= 3600
    assert 0 < redis_client.ttl(f"rq:job:{default_ttl.id}") <= 500


# Commit safety


@pytest.mark.django_db(transaction=True, databases=list(settings.DATABASES))
@pytest.mark.parametrize("alias", list(settings.DATABASES))
def test_rolled_back_task_never_runs(alias: str, redis_client: redis.Redis) -> None:
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic(using=alias):
        result = tasks.record.enqueue("rolled back")
        assert redis_client.keys("rq:job:*") == []
        raise Rollback
    assert redis_client.keys("rq:job:*") == []
    with pytest.raises(TaskResultDoesNotExist):
        tasks.record.get_result(result.id)
    assert run_jobs("default").ran == []
    assert order_seen() == []
    assert signals_seen() == []  # task_enqueued fires only when the job reaches Redis


@pytest.mark.django_db(transaction=True, databases=list(settings.DATABASES))
@pytest.mark.parametrize("alias", list(settings.DATABASES))
def test_committed_task_is_written_on_commit(alias: str, redis_client: redis.Redis) -> None:
    with transaction.atomic(using=alias):
        result = tasks.record.enqueue("committed")
        assert redis_client.keys("rq:job:*") == []
        assert signals_seen() == []
    assert [s["signal"] for s in signals_seen()] == ["enqueued"]
    assert tasks.record.get_result(result.id).status == TaskResultStatus.READY
    run_jobs("default").raise_failures()
    assert order_seen() == ["committed"]


# Real worker processes


@pytest.mark.usefixtures("processes")
def test_plain_rqworker_runs_tasks_and_signals_fire_in_the_right_processes() -> None:
    ok = tasks.pid.enqueue()
    failed = tasks.fail.enqueue("in a worker")
    asynchronous = tasks.async_multiply.enqueue(3, 3)
    context = tasks.describe_context.enqueue(1)
    enqueued = signals_seen()
    assert [(s["signal"], s["id"], s["pid"]) for s in enqueued] == [
        ("enqueued", r.id, os.getpid()) for r in (ok, failed, asynchronous, context)
    ]
    assert {s["sender"] for s in enqueued} == {"RQBackend"}

    run_worker("default")

    ok.refresh()
    worker_pid = ok.return_value
    assert worker_pid != os.getpid()
    assert ok.worker_ids == [fetch(ok.id).latest_result().worker_name]  # RQ's worker name
    by_task = {}
    for entry in signals_seen()[4:]:
        by_task.setdefault(entry["id"], []).append(entry)
    ok_signals = by_task[ok.id]
    assert [(s["signal"], s["status"], s["pid"]) for s in ok_signals] == [
        ("started", "RUNNING", worker_pid),
        ("finished", "SUCCESSFUL", worker_pid),
    ]
    assert [(s["signal"], s["status"]) for s in by_task[failed.id]] == [
        ("started", "RUNNING"),
        ("finished", "FAILED"),
    ]
    assert all(s["pid"] != os.getpid() for entries in by_task.values() for s in entries)

    failed.refresh()
    assert failed.status == TaskResultStatus.FAILED
    assert "ValueError: in a worker" in failed.errors[0].traceback
    asynchronous.refresh()
    assert asynchronous.return_value == 9
    context.refresh()
    assert context.return_value["attempt"] == 1
    assert context.return_value["worker_ids"] == context.worker_ids
    assert len(context.worker_ids) == 1


@pytest.mark.usefixtures("processes")
def test_retries_in_a_worker_send_finished_once() -> None:
    result = tasks.flaky.enqueue(2)
    run_worker("default")
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.attempts == 2 and len(result.worker_ids) == 2
    names = [s["signal"] for s in signals_seen() if s["id"] == result.id]
    assert names == ["enqueued", "started", "started", "finished"]
    attempts = [s["attempts"] for s in signals_seen() if s["id"] == result.id and s["signal"] == "started"]
    assert attempts == [1, 2]


@pytest.mark.usefixtures("processes")
def test_deferred_task_runs_on_time_with_the_scheduler() -> None:
    run_after = timezone.now() + timedelta(seconds=3)
    result = tasks.add.using(run_after=run_after).enqueue(2, 2)
    assert get_queue("default").scheduled_job_registry.get_job_ids() == [result.id]
    with running_worker("default", scheduler=True):
        wait_for(lambda: result_status(result.id) == TaskResultStatus.SUCCESSFUL, "the deferred task")
    result.refresh()
    assert result.return_value == 4
    assert result.started_at is not None
    assert result.started_at >= run_after.replace(microsecond=0)


@pytest.mark.usefixtures("processes")
def test_stopped_task_is_failed_with_an_error() -> None:
    result = tasks.nap.enqueue(60)
    with running_worker(command=RQ_WORKER):
        wait_for(lambda: result_status(result.id) == TaskResultStatus.RUNNING, "the task to start")
        send_stop_job_command(get_connection("default"), result.id)
        wait_for(lambda: result_status(result.id) == TaskResultStatus.FAILED, "the task to stop")
    result.refresh()
    assert fetch(result.id).get_status() == JobStatus.STOPPED
    assert TaskStopped in [e.exception_class for e in result.errors]
    assert result.attempts == 1


@pytest.mark.usefixtures("processes")
def test_killed_work_horse_is_failed_with_an_error() -> None:
    result = tasks.report_pid_then_nap.enqueue(60)
    connection = get_connection("default")
    with running_worker(command=RQ_WORKER):
        wait_for(lambda: connection.llen(tasks.PIDS_KEY) == 1, "the task to report its pid")
        os.kill(int(connection.lindex(tasks.PIDS_KEY, 0)), signal.SIGKILL)
        wait_for(lambda: result_status(result.id) == TaskResultStatus.FAILED, "the worker to notice")
    result.refresh()
    assert result.id in get_queue("default").failed_job_registry.get_job_ids()  # not dropped
    [error] = result.errors
    assert error.exception_class is WorkerLost
    assert "Work-horse terminated unexpectedly" in error.traceback
    assert result.attempts == 1


# System checks


def check_ids(tasks_setting: dict[str, Any]) -> list[str]:
    with override_settings(TASKS=tasks_setting):
        return [message.id for message in check_task_backends()]


def backend(**entry: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": "django_taskq.backends.RQBackend", **entry}}


def test_checks_pass_on_the_test_settings() -> None:
    assert check_task_backends() == []
    assert all(list(task_backends[alias].check()) == [] for alias in settings.TASKS)


def test_backend_check_returns_its_own_entrys_messages() -> None:
    entries = {**backend(QUEUES=["default", "nope"]), "other": {"BACKEND": "django_taskq.backends.RQBackend",
                                                                 "QUEUES": ["gone"]}}  # fmt: skip
    with override_settings(TASKS=entries):
        [message] = task_backends["default"].check()
        assert (message.id, message.obj) == ("django_taskq.E050", "TASKS['default']")
        assert "'nope'" in message.msg
        assert [m.obj for m in task_backends["other"].check()] == ["TASKS['other']"]


def test_each_message_is_reported_once_by_the_check_framework() -> None:
    assert framework_checks_registered()  # django.tasks, or the backport's app, calls RQBackend.check()
    with override_settings(TASKS=backend(QUEUES=["nope"])):
        ids = [message.id for message in run_checks()]
        assert ids.count("django_taskq.E050") == 1
        assert check_task_backends_once() == []  # left to the framework's check_tasks


def test_without_the_frameworks_check_our_registered_check_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = registry.registered_checks
    others = {check for check in checks if check.__module__ not in FRAMEWORK_CHECK_MODULES}
    monkeypatch.setattr(registry, "registered_checks", others)
    assert not framework_checks_registered()
    with override_settings(TASKS=backend(QUEUES=["nope"])):
        assert [message.id for message in run_checks()].count("django_taskq.E050") == 1
        assert [message.id for message in check_task_backends_once()] == ["django_taskq.E050"]


def test_framework_checks_registered_looks_for_the_frameworks_check_tasks() -> None:
    checks = CheckRegistry()
    assert not framework_checks_registered(checks)
    checks.register(import_string(f"{compat.FRAMEWORK}.checks.check_tasks"))
    assert framework_checks_registered(checks)


def test_checks_ignore_other_backends() -> None:
    other = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": ["nope"]}}
    assert check_ids(other) == []


@pytest.mark.parametrize(
    ("entry", "ids"),
    [
        ({"QUEUES": ["default", "nope"]}, ["django_taskq.E050"]),
        ({"QUEUES": "default"}, ["django_taskq.E055"]),
        ({"OPTIONS": {"RESULT_TTTL": 5}}, ["django_taskq.E051"]),
        ({"OPTIONS": []}, ["django_taskq.E052"]),
        ({"OPTIONS": {"RESULT_TTL": "1 day"}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"RESULT_TTL": -5}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"FAILURE_TTL": True}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"TIMEOUT": 0}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"MAX_RETRIES": -1}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"RETRY_INTERVALS": [1, "x"]}}, ["django_taskq.E052"]),
        ({"OPTIONS": {"PRIORITY_QUEUES": ["high"]}}, ["django_taskq.E053"]),
        ({"OPTIONS": {"PRIORITY_QUEUES": {"default": [("50", "high")]}}}, ["django_taskq.E053"]),
        ({"OPTIONS": {"PRIORITY_QUEUES": {"default": [(500, "high")]}}}, ["django_taskq.E053"]),
        ({"OPTIONS": {"PRIORITY_QUEUES": {"default": [(50, "nope")]}}}, ["django_taskq.E050"]),
        (
            {
                "OPTIONS": {
                    "RESULT_TTL": -1,
                    "FAILURE_TTL": None,
                    "TIMEOUT": -1,
                    "MAX_RETRIES": 3,
                    "RETRY_INTERVALS": [1, 5],
                    "PRIORITY_QUEUES": {"default": [[10, "high"]]},
                }
            },
            [],
        ),
    ],
)
def test_check_ids(entry: dict[str, Any], ids: list[str]) -> None:
    assert check_ids(backend(**entry)) == ids


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"PRIORITY_QUEUES": ["high"]}, "django_taskq.E053"),
        ({"MAX_RETRIES": "three"}, "django_taskq.E052"),
        ({"RESULT_TTLS": 5}, "Did you mean 'RESULT_TTL'?"),
    ],
)
def test_malformed_options_are_refused_when_the_backend_is_built(
    options: dict[str, Any], message: str
) -> None:
    with override_settings(TASKS=backend(OPTIONS=options)), pytest.raises(ImproperlyConfigured) as info:
        task_backends["default"]
    assert message in str(info.value)
    assert "TASKS['default']" in str(info.value)


def test_unknown_queue_check_has_a_hint() -> None:
    with override_settings(TASKS=backend(QUEUES=["nope"])):
        [message] = check_task_backends()
    assert message.obj == "TASKS['default']"
    assert "'nope'" in message.msg
    assert "default, high, low, other-db, sync" in (message.hint or "")


@pytest.mark.usefixtures("processes")
def test_check_command_reports_the_tasks_checks() -> None:
    env = {**worker_env(), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    code = (
        "import django; django.setup();"
        "from django.core.management import call_command;"
        "from django.test import override_settings;"
        "s = {'default': {'BACKEND': 'django_taskq.backends.RQBackend', 'QUEUES': ['nope']}};"
        "override_settings(TASKS=s).enable();"
        "call_command('check')"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode != 0
    assert "django_taskq.E050" in done.stderr
