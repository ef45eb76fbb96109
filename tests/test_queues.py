from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings
from rq import Retry
from rq.job import Job, JobStatus
from rq.queue import Queue

import django_taskq
from django_taskq import enqueue, get_connection, get_queue, get_queues
from django_taskq.exceptions import MixedConnectionsError, UnknownQueueError
from django_taskq.queues import DjangoQueue, enqueue_at, enqueue_in
from django_taskq.testing import run_jobs
from tests.testapp.jobs import add, fail


def test_public_api_is_exported() -> None:
    assert set(django_taskq.__all__) >= {"enqueue", "get_queue", "get_connection", "job", "get_worker"}
    assert django_taskq.get_queue is get_queue
    assert django_taskq.enqueue_at is enqueue_at and django_taskq.enqueue_in is enqueue_in
    with pytest.raises(AttributeError):
        django_taskq.no_such_thing  # noqa: B018


def test_get_queue_returns_rq_queue_subclass_with_settings_applied() -> None:
    queue = get_queue("default")
    assert isinstance(queue, DjangoQueue)
    assert isinstance(queue, Queue)
    assert queue.name == "default"
    assert queue._default_timeout == 60
    assert queue.is_async is True
    assert get_queue("sync").is_async is False


def test_get_queue_arguments_override_settings() -> None:
    queue = get_queue("default", is_async=False, default_timeout=5, commit_mode="auto")
    assert queue.is_async is False
    assert queue._default_timeout == 5
    assert queue.commit_mode == "auto"
    assert get_queue("default").is_async is True  # the override built a separate object


def test_unknown_queue_names_the_known_ones() -> None:
    with pytest.raises(UnknownQueueError) as info:
        get_queue("nope")
    assert str(info.value) == "Unknown queue 'nope': RQ_QUEUES defines default, high, low, other-db, sync."
    assert isinstance(info.value, KeyError)


def test_queues_share_one_client_per_connection() -> None:
    assert get_connection("default") is get_connection("high")
    assert get_queue("default").connection is get_queue("low").connection
    assert get_connection("other-db") is not get_connection("default")


def test_get_queues_requires_one_connection() -> None:
    assert [q.name for q in get_queues("high", "default", "low")] == ["high", "default", "low"]
    assert [q.name for q in get_queues()] == ["default"]
    with pytest.raises(MixedConnectionsError):
        get_queues("default", "other-db")


def test_enqueue_then_run() -> None:
    queue = get_queue()
    job = enqueue(add, 2, 3)
    assert job.get_status() == JobStatus.QUEUED
    assert queue.job_ids == [job.id]
    assert job.origin == "default"
    assert job.timeout == 60
    run = run_jobs("default")
    assert [j.id for j in run.finished] == [job.id]
    assert Job.fetch(job.id, connection=queue.connection).return_value() == 5


def test_enqueue_round_trips_compared_with_rq() -> None:
    """Count socket writes: our enqueue is one pipeline, RQ's takes two."""
    ours = get_queue(commit_mode="auto")
    raw = Queue("default", connection=ours.connection)
    ours.enqueue(add, 1, 1)
    raw.enqueue(add, 1, 1)  # warm up both (server version lookups)
    counts = {}
    for label, queue in (("ours", ours), ("rq", raw)):
        calls = []
        original = queue.connection.connection_pool.get_connection

        def counting(*args, _original=original, _calls=calls, **kwargs):
            _calls.append(1)
            return _original(*args, **kwargs)

        queue.connection.connection_pool.get_connection = counting
        try:
            queue.enqueue(add, 1, 2)
        finally:
            del queue.connection.connection_pool.get_connection
        counts[label] = len(calls)
    assert counts == {"ours": 1, "rq": 2}


@pytest.mark.parametrize(
    "options", [{}, {"ttl": 300, "at_front": True}, {"result_ttl": -1, "meta": {"k": 1}}]
)
def test_a_job_written_alone_is_stored_as_rq_stores_it(options: dict) -> None:
    connection = get_connection()
    queue = get_queue()
    queue.enqueue(add, 0, 0)  # something already queued, for at_front
    ours = queue.enqueue(add, 1, 2, **options)
    rq_queue = Queue("default", connection=connection, default_timeout=queue._default_timeout)
    theirs = rq_queue.enqueue(add, 1, 2, **options)
    stored = [connection.hgetall(job.key) for job in (ours, theirs)]
    assert set(stored[0]) == set(stored[1])
    different = {name for name in stored[0] if stored[0][name] != stored[1][name]}
    assert different <= {b"created_at", b"enqueued_at", b"data"}  # times, and the job id inside data
    assert connection.ttl(ours.key) == connection.ttl(theirs.key)
    ids = queue.get_job_ids()
    if options.get("at_front"):
        assert ids[:2] == [theirs.id, ours.id]
    else:
        assert ids[-2:] == [ours.id, theirs.id]
    assert connection.sismember(queue.redis_queues_keys, queue.key)
    assert Job.fetch(ours.id, connection=connection).get_status() == JobStatus.QUEUED


@pytest.mark.parametrize(
    "options",
    [
        {"job_timeout": 9},
        {"result_ttl": 77},
        {"ttl": 300},
        {"failure_ttl": 400},
        {"description": "hello"},
        {"job_id": "my-id"},
        {"meta": {"a": 1}},
        {"retry": Retry(max=2)},
        {"at_front": True},
    ],
)
def test_rq_options_pass_through(options: dict) -> None:
    get_queue().enqueue(add, 0, 0)
    job = enqueue(add, 1, 2, **options)
    fetched = Job.fetch(job.id, connection=get_connection())
    if "job_timeout" in options:
        assert fetched.timeout == 9
    if "result_ttl" in options:
        assert fetched.result_ttl == 77
    if "ttl" in options:
        assert fetched.ttl == 300
    if "failure_ttl" in options:
        assert fetched.failure_ttl == 400
    if "description" in options:
        assert fetched.description == "hello"
    if "job_id" in options:
        assert fetched.id == "my-id"
    if "meta" in options:
        assert fetched.meta == {"a": 1}
    if "retry" in options:
        assert fetched.retries_left == 2
    if "at_front" in options:
        assert get_queue().job_ids[0] == job.id


def test_args_and_kwargs_keywords_and_enqueue_call() -> None:
    job = enqueue(add, args=(1,), kwargs={"b": 4})
    assert (tuple(job.args), job.kwargs) == ((1,), {"b": 4})
    job2 = get_queue().enqueue_call(add, args=(2, 2), timeout=11)
    assert Job.fetch(job2.id, connection=get_connection()).timeout == 11
    assert [j.return_value() for j in run_jobs().finished] == [5, 4]


def test_depends_on_defers_until_parent_finishes() -> None:
    parent = enqueue(add, 1, 1)
    child = enqueue(add, 2, 2, depends_on=parent)
    assert child.get_status() == JobStatus.DEFERRED
    run = run_jobs()
    assert [j.id for j in run.finished] == [parent.id, child.id]


@override_settings(RQ={"DEFAULT_RESULT_TTL": 42})
def test_default_result_ttl_global_and_per_queue() -> None:
    assert get_queue().enqueue(add, 1, 1).result_ttl == 42
    with override_settings(RQ_QUEUES={"default": {"URL": get_connection_url(), "DEFAULT_RESULT_TTL": 7}}):
        assert get_queue().enqueue(add, 1, 1).result_ttl == 7
        assert get_queue().enqueue(add, 1, 1, result_ttl=3).result_ttl == 3


def get_connection_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


def test_enqueue_at_and_enqueue_in_schedule() -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    job = enqueue_at(when, add, 1, 2)
    job2 = enqueue_in(timedelta(minutes=5), add, 3, 4)
    registry = get_queue().scheduled_job_registry
    assert set(registry.get_job_ids()) == {job.id, job2.id}
    assert job.get_status() == JobStatus.SCHEDULED


def test_enqueue_many_is_one_pipeline_and_returns_jobs() -> None:
    queue = get_queue()
    datas = [Queue.prepare_data(add, (i, i), job_id=f"m{i}") for i in range(5)]
    jobs = queue.enqueue_many(datas)
    assert [j.id for j in jobs] == [f"m{i}" for i in range(5)]
    assert queue.job_ids == [f"m{i}" for i in range(5)]
    assert [j.return_value() for j in run_jobs().finished] == [0, 2, 4, 6, 8]


def test_sync_queue_runs_inline() -> None:
    job = get_queue("sync").enqueue(add, 20, 22)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 42


def test_failed_job_lands_in_failed_registry() -> None:
    job = enqueue(fail, "kaput")
    run = run_jobs()
    assert [j.id for j in run.failed] == [job.id]
    with pytest.raises(AssertionError, match="kaput"):
        run.raise_failures()


def test_unreachable_redis_error_names_host_not_password() -> None:
    import redis

    url = "redis://:sekrit-pass@127.0.0.1:1/0"
    queues = {"default": {"URL": url, "SOCKET_TIMEOUT": 1}}
    with override_settings(RQ_QUEUES=queues), pytest.raises(redis.ConnectionError) as info:
        enqueue(add, 1, 2)
    assert "127.0.0.1:1" in str(info.value)
    assert "sekrit" not in str(info.value)
