"""Contract tests of django_taskq.rq_compat.jobs against the installed RQ, on the suite's Redis.

Each test writes the same thing twice, once with RQ's own code and once with ours, and compares
what Redis holds afterwards; a failure names the RQ symbol whose behaviour moved.
"""

from __future__ import annotations

import inspect
import pickle
import re
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from django.conf import settings
from rq import Retry
from rq.executions import Execution
from rq.group import Group
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.results import Result

from django_taskq import maintenance
from django_taskq.queues import get_queue
from django_taskq.rq_compat import jobs
from django_taskq.rq_compat.encoding import as_text
from tests.maintenance_helpers import CountingRedis
from tests.testapp.jobs import add

DEFAULT_TIMEOUT = settings.RQ_QUEUES["default"]["DEFAULT_TIMEOUT"]


def _rq_queue(connection: redis.Redis) -> Queue:
    return Queue("default", connection=connection, default_timeout=DEFAULT_TIMEOUT)


# What an enqueue leaves in Redis, decoded: the job id and execution ids replaced by
# placeholders, timestamps by whether they are set, and scores and TTLs kept apart to be
# compared within a few seconds.


def _decoded_field(name: str, value: bytes, job_id: str) -> Any:
    if name == "data":
        return pickle.loads(zlib.decompress(value))  # noqa: S301 -- written by this test
    if name == "meta":
        return pickle.loads(value)  # noqa: S301 -- written by this test
    if name == "exc_info":
        return zlib.decompress(value).decode() if value else ""
    text = as_text(value)
    if name.endswith("_at") or name == "last_heartbeat":
        return "<time>" if text else ""
    return text.replace(job_id, "<job>")


def _state(connection: redis.Redis, job_id: str) -> tuple[dict[str, Any], dict[str, float]]:
    contents: dict[str, Any] = {}
    numbers: dict[str, float] = {}  # TTLs and zset scores, compared within a tolerance
    for raw in connection.keys("*"):
        key = as_text(raw).replace(job_id, "<job>")
        kind = as_text(connection.type(raw))
        if kind == "hash":
            contents[key] = {
                as_text(name): _decoded_field(as_text(name), value, job_id)
                for name, value in connection.hgetall(raw).items()
            }
        elif kind == "list":
            contents[key] = [as_text(item).replace(job_id, "<job>") for item in connection.lrange(raw, 0, -1)]
        elif kind == "set":
            contents[key] = sorted(
                as_text(item).replace(job_id, "<job>") for item in connection.smembers(raw)
            )
        elif kind == "zset":
            members = connection.zrange(raw, 0, -1, withscores=True)
            contents[key] = [as_text(member).replace(job_id, "<job>") for member, _ in members]
            for member, score in members:
                numbers[f"{key} {as_text(member).replace(job_id, '<job>')}"] = score
        else:
            contents[key] = kind
        numbers[f"ttl {key}"] = connection.ttl(raw)
    return contents, numbers


def _written_by(
    enqueue: Callable[[], Job], connection: redis.Redis
) -> tuple[dict[str, Any], dict[str, float]]:
    connection.flushdb()
    already = Job.create(add, args=(0, 0), id="already-queued", connection=connection, origin="default")
    already.save()
    connection.rpush(_rq_queue(connection).key, already.id)  # queued before, for at_front; not in rq:queues
    job = enqueue()
    return _state(connection, job.id)


ENQUEUES = [
    ("enqueue", {}),
    ("enqueue", {"at_front": True}),
    ("enqueue", {"job_id": "chosen-id", "at_front": True}),
    (
        "enqueue",
        {
            "job_timeout": 9,
            "result_ttl": 77,
            "ttl": 300,
            "failure_ttl": 400,
            "description": "hello",
            "meta": {"a": 1},
            "retry": Retry(max=2, interval=[1, 5]),
        },
    ),
    ("enqueue_in", {}),
    ("enqueue_in", {"at_front": True, "ttl": 300, "description": "later"}),
]


@pytest.mark.parametrize(("method", "options"), ENQUEUES)
def test_our_enqueue_writes_what_rq_writes(method: str, options: dict[str, Any]) -> None:
    client = CountingRedis.from_url(settings.REDIS_URL)
    ours = get_queue("default", connection=client, commit_mode="auto")
    ours.enqueue(add, 0, 0)  # warm up: server version and script cached on the client
    theirs = _rq_queue(client)
    args: tuple[Any, ...] = (timedelta(minutes=5), add, 1, 2) if method == "enqueue_in" else (add, 1, 2)

    def our_enqueue() -> Job:
        client.round_trips = 0
        job: Job = getattr(ours, method)(*args, **options)
        assert client.round_trips == 1, "django-taskq's enqueue did not take its one-round-trip path"
        return job

    ours_written, ours_numbers = _written_by(our_enqueue, client)
    rq_written, rq_numbers = _written_by(lambda: getattr(theirs, method)(*args, **options), client)

    assert ours_written == rq_written, (
        f"rq.Queue.{method} now stores a job differently from rq_compat.jobs (job_hash_fields, "
        "prepare_for_queue / rq.Queue._prepare_for_queue, write_queued): "
        f"ours {ours_written}, rq's {rq_written}"
    )
    assert ours_numbers.keys() == rq_numbers.keys()
    for name, value in rq_numbers.items():
        assert abs(ours_numbers[name] - value) <= 3, (
            f"rq.Queue.{method}: {name} is {value}, ours {ours_numbers[name]}"
        )
    job_key = Job.key_for("<job>")
    assert rq_written[job_key]["status"] == ("scheduled" if method == "enqueue_in" else "queued")


# Deletion: two identical jobs with everything Job.delete removes, one deleted by RQ, one by us.


def _twin(connection: redis.Redis, status: JobStatus) -> None:
    """Job "twin" of "default" in ``status``: it depends on "twin-parent", "twin-child" depends on
    it, it has a result, an execution by worker-1 and a group; "other" shares the worker and group."""
    queue = _rq_queue(connection)
    job = Job.create(
        add,
        args=(1, 2),
        id="twin",
        connection=connection,
        origin="default",
        status=status,
        group_id="twin-group",
    )
    other = Job.create(add, id="other", connection=connection, origin="default", status=JobStatus.STARTED)
    job.save()
    other.save()
    connection.sadd(Job.dependents_key_for("twin-parent"), "twin")
    connection.sadd(job.dependencies_key, "twin-parent")
    child = Job.create(
        add,
        id="twin-child",
        connection=connection,
        origin="default",
        depends_on=["twin"],
        status=JobStatus.DEFERRED,
    )
    child.save()
    child.register_dependency()
    Result.create(job, Result.Type.FAILED, ttl=600, exc_string="boom")
    with connection.pipeline() as pipe:
        Execution.create(job, ttl=600, pipeline=pipe, worker_name="worker-1")
        Execution.create(other, ttl=600, pipeline=pipe, worker_name="worker-1")
        pipe.execute()
    group = Group(connection, name="twin-group")
    connection.sadd(group.key, "twin", "other")
    connection.sadd(Group.REDIS_GROUP_KEY, group.name)
    if status == JobStatus.QUEUED:
        queue.push_job_id("twin")
    else:
        queue.failed_job_registry.add(job, ttl=600)


def _keys(connection: redis.Redis) -> dict[str, tuple[str, list[str]]]:
    """Every key with its members (hash fields, set/zset/list items), execution ids replaced."""
    hex_id = re.compile(r"[0-9a-f]{32}")
    found: dict[str, tuple[str, list[str]]] = {}
    for raw in connection.keys("*"):
        kind = as_text(connection.type(raw))
        if kind == "hash":
            items = list(connection.hkeys(raw))
        elif kind == "set":
            items = list(connection.smembers(raw))
        elif kind == "zset":
            items = list(connection.zrange(raw, 0, -1))
        elif kind == "list":
            items = list(connection.lrange(raw, 0, -1))
        else:
            items = [str(connection.xlen(raw) if kind == "stream" else kind)]
        found[hex_id.sub("<id>", as_text(raw))] = (
            kind,
            sorted(hex_id.sub("<id>", as_text(i)) for i in items),
        )
    return found


DELETES: list[tuple[JobStatus, Callable[[Queue], int]]] = [
    (JobStatus.FAILED, lambda queue: maintenance.delete_jobs(queue, ["twin"])),
    (JobStatus.FAILED, lambda queue: maintenance.delete_registry(queue, "failed")),
    (JobStatus.QUEUED, lambda queue: maintenance.delete_jobs(queue, ["twin"])),
    (JobStatus.QUEUED, lambda queue: maintenance.empty_queue(queue)),
]


@pytest.mark.parametrize(("status", "delete"), DELETES)
def test_bulk_delete_removes_what_job_delete_removes(
    redis_client: redis.Redis, status: JobStatus, delete: Callable[[Queue], int]
) -> None:
    _twin(redis_client, status)
    before = _keys(redis_client)
    Job.fetch("twin", connection=redis_client).delete()
    by_rq = _keys(redis_client)
    redis_client.flushdb()
    _twin(redis_client, status)
    assert delete(get_queue("default")) == 1
    by_us = _keys(redis_client)

    assert by_rq != before and Job.key_for("twin") not in by_rq, (
        "the set-up gave rq.job.Job.delete nothing to do"
    )
    assert by_us == by_rq, (
        "rq.job.Job.delete and rq_compat.jobs.JOB_LUA's delete_job (with job_layout) leave different keys: "
        f"only after RQ's {sorted(by_rq.items() - by_us.items())}, "
        f"only after ours {sorted(by_us.items() - by_rq.items())}"
    )


def test_bulk_requeue_means_what_registry_requeue_means(redis_client: redis.Redis) -> None:
    def requeued(requeue: Callable[[], Any]) -> tuple[dict[str, Any], list[bytes], bool]:
        redis_client.flushdb()
        queue = _rq_queue(redis_client)
        job = Job.create(add, args=(1, 2), id="twin", connection=redis_client, origin="default")
        job.started_at = job.ended_at = datetime.now(timezone.utc)
        job.set_status(JobStatus.FAILED)
        job.save()
        redis_client.hset(job.key, "exc_info", zlib.compress(b"Traceback: boom"))
        queue.failed_job_registry.add(job, ttl=600)
        redis_client.sadd(Queue.redis_queues_keys, queue.key)  # as its first enqueue did
        requeue()
        stored = _state(redis_client, "twin")[0][Job.key_for("<job>")]
        meaning = {
            name: stored.get(name, "")
            for name in ("status", "origin", "enqueued_at", "started_at", "ended_at")
        }
        meaning["exc_info"] = stored.get("exc_info", "")
        return (
            meaning,
            redis_client.lrange(queue.key, 0, -1),
            bool(redis_client.sismember(Queue.redis_queues_keys, queue.key)),
        )

    by_rq = requeued(lambda: _rq_queue(redis_client).failed_job_registry.requeue("twin"))
    by_us = requeued(lambda: maintenance.requeue_jobs(get_queue("default"), ["twin"]))
    assert by_rq[0]["status"] == "queued" and by_rq[1] == [b"twin"]
    assert by_us == by_rq, (
        f"rq.registry.BaseRegistry.requeue now means {by_rq}; JOB_LUA's requeue_job gives {by_us}"
    )


# Each private name rq_compat.jobs reads or calls, and what it means.


def test_dependency_ids_are_the_unsaved_jobs_dependencies(redis_client: redis.Redis) -> None:
    job = Job.create(
        add,
        connection=redis_client,
        depends_on=["first", Job.create(add, id="second", connection=redis_client)],
    )
    assert jobs.dependency_ids(job) == ["first", "second"], (
        "rq.job.Job._dependency_ids no longer holds a new job's dependencies"
    )
    assert jobs.dependency_ids(Job.create(add, connection=redis_client)) == []
    assert redis_client.dbsize() == 0


def test_prepare_for_queue_sets_what_rq_sets_in_memory_only(redis_client: redis.Redis) -> None:
    queue = _rq_queue(redis_client)
    job = Job.create(add, connection=redis_client, status=JobStatus.CREATED)
    jobs.prepare_for_queue(queue, job)
    assert job.get_status(refresh=False) == JobStatus.QUEUED, (
        "rq.Queue._prepare_for_queue no longer marks a job queued"
    )
    assert (job.origin, job.timeout) == ("default", DEFAULT_TIMEOUT), (
        "rq.Queue._prepare_for_queue: origin/timeout"
    )
    assert job.enqueued_at is not None and job.redis_server_version, (
        "rq.Queue._prepare_for_queue: enqueued_at"
    )
    assert redis_client.dbsize() == 0, "rq.Queue._prepare_for_queue now writes to Redis"


def test_job_hash_fields_are_what_job_save_writes(redis_client: redis.Redis) -> None:
    job = Job.create(add, args=(1, 2), connection=redis_client, meta={"a": 1}, description="d", result_ttl=5)
    job.save()
    names, empty, values = jobs.job_hash_fields(job)
    assert len(names.split()) == len(values), "a field name of rq.job.Job.to_dict() holds a space"
    assert {as_text(name) for name in redis_client.hkeys(job.key)} == {*names.split(), *empty.split()}, (
        "rq.job.Job.save no longer writes exactly rq.job.Job.to_dict(); update rq_compat.jobs.job_hash_fields"
    )


def test_job_hash_names_and_statuses_the_lua_uses(redis_client: redis.Redis) -> None:
    job = Job.create(add, connection=redis_client, origin="default", group_id="g")
    job.rate_limit_key, job.rate_limit_concurrency = "k", 2  # as rq.Queue.create_job sets them
    job.started_at = job.ended_at = job.enqueued_at = datetime.now(timezone.utc)
    job._exc_info = "boom"  # the field RQ writes a failure's text to; JOB_LUA's requeue clears it
    names = set(job.to_dict())
    used = {"status", "origin", "group_id", "rate_limit_key", "rate_limit_concurrency", "enqueued_at",
            "started_at", "ended_at", "exc_info"}  # fmt: skip
    assert used <= names, f"rq.job.Job.to_dict no longer writes {used - names}; update rq_compat.jobs.JOB_LUA"
    execution = Execution(id="e", job_id="j", connection=redis_client, worker_name="w")
    assert execution.serialize()["worker_name"] == "w", "rq.executions.Execution.serialize: worker_name"
    assert execution.composite_key == "j:e", (
        "rq.executions.Execution.composite_key is no longer job:execution"
    )
    assert (JobStatus.QUEUED.value, JobStatus.STARTED.value) == ("queued", "started"), (
        "rq.job.JobStatus values"
    )


def test_enqueue_data_fields_are_create_job_keywords() -> None:
    fields = jobs.enqueue_data_fields(Queue.prepare_data(add, (1, 2), job_id="x", at_front=True))
    assert fields["job_id"] == "x" and fields["at_front"] is True, "rq.queue.EnqueueData fields"
    unknown = set(fields) - {"at_front"} - set(inspect.signature(Queue.create_job).parameters)
    assert not unknown, f"rq.queue.EnqueueData has fields rq.Queue.create_job does not take: {unknown}"


def test_enqueue_waiting_puts_a_job_where_rqs_scheduler_would(redis_client: redis.Redis) -> None:
    queue = _rq_queue(redis_client)
    queue.enqueue(add, 0, 0)
    later = queue.enqueue_in(timedelta(hours=1), add, 1, 2, at_front=True)
    limited = [
        queue.enqueue_in(timedelta(hours=1), add, n, n, rate_limit=RateLimit("slots", 1)) for n in range(2)
    ]
    for job in (later, *limited):
        with redis_client.pipeline() as pipe:
            before = redis_client.dump(job.key), redis_client.llen(queue.key)
            jobs.enqueue_waiting(queue, Job.fetch(job.id, connection=redis_client), pipe)
            assert (redis_client.dump(job.key), redis_client.llen(queue.key)) == before, "written before EXEC"
            pipe.execute()

    assert queue.get_job_ids()[0] == later.id, "rq.Queue._enqueue_job ignored at_front"
    assert later.get_status() == JobStatus.QUEUED
    statuses = [job.get_status() for job in limited]
    assert statuses == [JobStatus.QUEUED, JobStatus.RATE_LIMITED], (
        f"rq.Queue._enqueue_rate_limited_job no longer waits for a slot: {statuses}"
    )
    assert RateLimitRegistry("slots", redis_client).get_rate_limited_job_ids() == [limited[1].id]
