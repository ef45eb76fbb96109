"""Contract tests of django_taskq.rq_compat.hooks against the installed RQ: code that wraps
rq.Queue.enqueue_job or _enqueue_job, as sentry-sdk and OpenTelemetry do, sees every job that
django-taskq writes, on every enqueue path, still in one round trip per commit."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from rq.job import Job, JobStatus
from rq.queue import Queue

from django_taskq import enqueue, get_queue
from django_taskq.rq_compat import hooks
from tests.observability_helpers import fail, fail_later, failing_task

ALL_DATABASES = pytest.mark.django_db(transaction=True)


def test_the_installed_rq_defines_the_write_hooks_in_rq_queue() -> None:
    for name in hooks.WRITE_HOOKS:
        assert name in vars(Queue), (
            f"rq.queue.Queue.{name} is gone; update rq_compat.hooks.WRITE_HOOKS (the methods "
            "monitoring tools wrap to see enqueued jobs)"
        )
    assert not hooks.enqueue_wrapped(), "rq.queue.Queue's enqueue methods are no longer defined in rq.queue"


@pytest.fixture(params=hooks.WRITE_HOOKS)
def wrapped_hook(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Wrap one of RQ's enqueue methods as sentry-sdk (enqueue_job) or OpenTelemetry
    (_enqueue_job) do: the wrapper stamps the job's meta and records its id."""
    seen: list[str] = []
    original = vars(Queue)[request.param]

    @functools.wraps(original)
    def wrapper(self: Queue, job: Job, *args: Any, **kwargs: Any) -> Any:
        job.meta["traced"] = "yes"
        seen.append(job.id)
        return original(self, job, *args, **kwargs)

    monkeypatch.setattr(Queue, request.param, wrapper)
    assert hooks.enqueue_wrapped()
    return seen


@ALL_DATABASES
def test_a_wrapped_enqueue_sees_every_enqueue_path(wrapped_hook: list[str]) -> None:
    queue = get_queue()
    immediate = enqueue(fail, "immediate")
    with transaction.atomic():
        at_commit = fail_later.delay("commit")
        second = fail_later.delay("commit 2")
    many = queue.enqueue_many([Queue.prepare_data(fail, ("many",))])[0]
    task_job_id = failing_task.enqueue("task").id
    written = [immediate.id, at_commit.id, second.id, many.id, task_job_id]
    assert sorted(wrapped_hook) == sorted(written), (
        "rq.Queue.enqueue_job no longer calls Queue._enqueue_job for a job without dependencies; "
        "update rq_compat.hooks.WRITE_HOOKS"
    )
    assert queue.job_ids == written
    for job_id in written:
        assert Job.fetch(job_id, connection=queue.connection).meta["traced"] == "yes"


@ALL_DATABASES
def test_a_wrapped_enqueue_keeps_one_round_trip_per_commit(
    wrapped_hook: list[str], redis_client: Any
) -> None:
    redis_client.config_resetstat()
    with transaction.atomic():
        for tag in "abc":
            fail_later.delay(tag)
    stats = redis_client.info("commandstats")
    assert stats["cmdstat_exec"]["calls"] == 1
    assert stats["cmdstat_multi"]["calls"] == 1
    assert len(get_queue()) == 3


@ALL_DATABASES
def test_a_scheduled_job_is_shown_to_a_wrapped_enqueue_job_without_being_enqueued(
    monkeypatch: pytest.MonkeyPatch, redis_client: Any
) -> None:
    seen: list[str] = []
    original = vars(Queue)["enqueue_job"]

    @functools.wraps(original)
    def wrapper(self: Queue, job: Job, **kwargs: Any) -> Any:  # sentry-sdk's signature
        job.meta["traced"] = "yes"
        seen.append(job.id)
        return original(self, job, **kwargs)

    monkeypatch.setattr(Queue, "enqueue_job", wrapper)
    queue = get_queue()
    redis_client.config_resetstat()
    with transaction.atomic():
        later = queue.enqueue_in(timedelta(minutes=5), fail, "later")
        dependent = queue.enqueue_in(timedelta(minutes=5), fail, "dependent", depends_on=later)
    stats = redis_client.info("commandstats")
    assert seen == [later.id, dependent.id]
    assert stats["cmdstat_exec"]["calls"] == 1, (
        "rq.Queue.enqueue_job reads or writes Redis besides setup_dependencies, _enqueue_job and "
        "_enqueue_rate_limited_job; update rq_compat.hooks.run_enqueue_job_wrappers"
    )
    assert "cmdstat_watch" not in stats
    assert queue.job_ids == []
    assert sorted(queue.scheduled_job_registry.get_job_ids()) == sorted([later.id, dependent.id])
    for job in (later, dependent):
        stored = Job.fetch(job.id, connection=queue.connection)
        assert stored.meta["traced"] == "yes"
        assert stored.get_status() == JobStatus.SCHEDULED
        assert stored.enqueued_at is None
