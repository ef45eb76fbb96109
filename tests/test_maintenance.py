"""Bulk maintenance: real Redis, real RQ jobs, and round trips counted to prove the batching."""

from __future__ import annotations

import time

import pytest
import redis
from rq.job import Job, JobStatus
from rq.queue import Queue

from django_taskq import maintenance
from django_taskq.queues import get_queue
from django_taskq.testing import run_jobs
from tests.maintenance_helpers import counting_queue, make_jobs


def _ids(raw: list[bytes]) -> list[str]:
    return [item.decode() for item in raw]


def _job_keys(client: redis.Redis) -> list[bytes]:
    return [key for key in client.keys("rq:job:*")]


def test_empty_queue_20k_jobs_in_few_round_trips(redis_client: redis.Redis) -> None:
    queue, client = counting_queue("default")
    make_jobs(queue, 20_000)
    other = make_jobs(get_queue("high"), 3)
    client.round_trips = 0

    assert maintenance.empty_queue(queue) == 20_000

    assert client.round_trips <= 25  # 20 batches of 1000 (+ a script load), not 20 000
    assert redis_client.llen(queue.key) == 0
    remaining = {key.decode().rsplit(":", 1)[-1] for key in _job_keys(redis_client)}
    assert remaining == set(other)  # the other queue's jobs are untouched


def test_empty_queue_by_name_and_small_batches() -> None:
    queue = get_queue("low")
    make_jobs(queue, 25)
    assert maintenance.empty_queue("low", batch_size=10) == 25
    assert queue.count == 0
    assert maintenance.empty_queue("low") == 0


def test_delete_failed_20k_jobs_batched(redis_client: redis.Redis) -> None:
    queue, client = counting_queue("default")
    ids = make_jobs(queue, 20_000, status="failed")
    kept = make_jobs(queue, 5, status="finished")
    client.round_trips = 0

    assert maintenance.delete_failed(queue) == 20_000

    assert client.round_trips <= 25
    assert redis_client.zcard(queue.failed_job_registry.key) == 0
    assert not redis_client.exists(Job.key_for(ids[0]), Job.key_for(ids[-1]))
    assert redis_client.zcard(queue.finished_job_registry.key) == 5
    assert all(redis_client.exists(Job.key_for(job_id)) for job_id in kept)


def test_requeue_failed_20k_jobs_batched(redis_client: redis.Redis) -> None:
    queue, client = counting_queue("default")
    ids = make_jobs(queue, 20_000, status="failed")
    redis_client.expire(Job.key_for(ids[0]), 3600)  # as a failure_ttl would
    client.round_trips = 0

    assert maintenance.requeue_failed(queue) == 20_000

    assert client.round_trips <= 25
    assert redis_client.zcard(queue.failed_job_registry.key) == 0
    assert redis_client.llen(queue.key) == 20_000
    assert _ids(redis_client.lrange(queue.key, 0, 2)) == ids[:3]  # order kept
    job = Job.fetch(ids[0], connection=redis_client)
    assert job.get_status() == JobStatus.QUEUED
    assert job.enqueued_at is not None
    assert redis_client.ttl(job.key) == -1  # a queued job must not expire on the failure TTL
    assert redis_client.sismember(Queue.redis_queues_keys, queue.key)


def test_requeued_failed_jobs_really_run() -> None:
    queue = get_queue("default")
    failed = queue.enqueue("tests.testapp.jobs.fail", "once")
    run_jobs("default")
    assert failed.get_status() == JobStatus.FAILED
    # Make it succeed this time: swap in a function that works (same job, new callable).
    failed.func_name = "tests.testapp.jobs.add"
    failed.args, failed.kwargs = (2, 3), {}
    failed.save()

    assert maintenance.requeue_failed("default") == 1
    report = run_jobs("default")
    assert [job.id for job in report.finished] == [failed.id]
    assert report.finished[0].return_value() == 5


def test_requeue_failed_at_front() -> None:
    queue = get_queue("default")
    queued = make_jobs(queue, 2)
    failed = make_jobs(queue, 2, status="failed")
    assert maintenance.requeue_failed(queue, at_front=True, batch_size=1) == 2
    ids = [raw.decode() for raw in queue.connection.lrange(queue.key, 0, -1)]
    assert ids[2:] == queued
    assert set(ids[:2]) == set(failed)


def test_requeue_skips_and_drops_orphans(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    ids = make_jobs(queue, 3, status="failed")
    redis_client.delete(Job.key_for(ids[1]))  # its hash expired
    assert maintenance.requeue_failed(queue) == 2
    assert redis_client.zcard(queue.failed_job_registry.key) == 0
    assert _ids(redis_client.lrange(queue.key, 0, -1)) == [ids[0], ids[2]]


def test_delete_jobs_everywhere_except_running(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    queued = make_jobs(queue, 3)
    failed = make_jobs(queue, 2, status="failed")
    finished = make_jobs(queue, 1, status="finished")
    scheduled = make_jobs(queue, 1, status="scheduled")
    started = make_jobs(queue, 1, status="started")
    untouched = make_jobs(queue, 1, status="failed")
    elsewhere = make_jobs(get_queue("high"), 1, status="failed")

    wanted = [queued[1], *failed, *finished, *scheduled, *started, *elsewhere, "no-such-job"]
    assert maintenance.delete_jobs(queue, wanted, batch_size=2) == 5

    assert _ids(redis_client.lrange(queue.key, 0, -1)) == [queued[0], queued[2]]
    assert _ids(redis_client.zrange(queue.failed_job_registry.key, 0, -1)) == untouched
    assert redis_client.zcard(queue.finished_job_registry.key) == 0
    assert redis_client.zcard(queue.scheduled_job_registry.key) == 0
    assert redis_client.exists(Job.key_for(started[0]))  # running: left alone
    assert redis_client.exists(Job.key_for(elsewhere[0]))  # another queue's job: left alone
    assert not redis_client.exists(Job.key_for(failed[0]))


def test_delete_jobs_is_batched() -> None:
    queue, client = counting_queue("default")
    ids = make_jobs(queue, 5000, status="failed")
    client.round_trips = 0
    assert maintenance.delete_jobs(queue, iter(ids)) == 5000
    assert client.round_trips <= 7


def test_requeue_jobs_only_from_failed_or_canceled(redis_client: redis.Redis) -> None:
    queue, client = counting_queue("default")
    failed = make_jobs(queue, 3, status="failed")
    canceled = make_jobs(queue, 1, status="canceled")
    finished = make_jobs(queue, 1, status="finished")
    client.round_trips = 0

    wanted = [failed[0], failed[2], *canceled, *finished, "no-such-job"]
    assert maintenance.requeue_jobs(queue, wanted) == 3

    assert client.round_trips <= 3  # EVALSHA, and SCRIPT LOAD + EVALSHA the first time
    assert _ids(redis_client.lrange(queue.key, 0, -1)) == [
        failed[0],
        failed[2],
        *canceled,
    ]
    assert _ids(redis_client.zrange(queue.failed_job_registry.key, 0, -1)) == [failed[1]]
    assert redis_client.zcard(queue.canceled_job_registry.key) == 0
    assert redis_client.zcard(queue.finished_job_registry.key) == 1
    # A second call finds nothing left to requeue: no job is ever queued twice.
    assert maintenance.requeue_jobs(queue, wanted) == 0
    assert redis_client.llen(queue.key) == 3


def test_requeue_registry_canceled_and_refusals() -> None:
    queue = get_queue("default")
    make_jobs(queue, 4, status="canceled")
    assert maintenance.requeue_registry(queue, "canceled") == 4
    assert queue.count == 4
    with pytest.raises(ValueError, match="cannot be requeued"):
        maintenance.requeue_registry(queue, "finished")
    with pytest.raises(ValueError, match="cannot be deleted"):
        maintenance.delete_registry(queue, "started")
    with pytest.raises(ValueError, match="batch_size"):
        maintenance.empty_queue(queue, batch_size=0)


def test_delete_registry_finished() -> None:
    queue = get_queue("default")
    make_jobs(queue, 7, status="finished")
    assert maintenance.delete_registry("default", "finished", batch_size=3) == 7
    assert queue.finished_job_registry.get_job_count(cleanup=False) == 0


def test_clean_registries_drops_expired_and_orphans(redis_client: redis.Redis) -> None:
    queue, client = counting_queue("default")
    finished = make_jobs(queue, 2500, status="finished")
    failed = make_jobs(queue, 3, status="failed")
    deferred = make_jobs(queue, 2, status="deferred")
    past = time.time() - 10
    redis_client.zadd(queue.finished_job_registry.key, {job_id: past for job_id in finished[:1500]})
    redis_client.delete(Job.key_for(failed[0]), Job.key_for(deferred[1]))
    client.round_trips = 0

    removed = maintenance.clean_registries(queue)

    assert removed == {
        "started": 0,
        "finished": 1500,
        "failed": 1,
        "deferred": 1,
        "scheduled": 0,
        "canceled": 0,
    }
    assert client.round_trips <= 20
    assert redis_client.zcard(queue.finished_job_registry.key) == 1000
    assert _ids(redis_client.zrange(queue.failed_job_registry.key, 0, -1)) == failed[1:]
    assert _ids(redis_client.zrange(queue.deferred_job_registry.key, 0, -1)) == deferred[:1]


def test_clean_registries_fails_abandoned_started_jobs(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    job = queue.enqueue("tests.testapp.jobs.add", 1, 2)
    job.set_status(JobStatus.STARTED)
    queue.connection.lrem(queue.key, 0, job.id)
    # An execution whose heartbeat expired long ago: its worker died.
    redis_client.zadd(queue.started_job_registry.key, {f"{job.id}:dead-execution": time.time() - 60})

    removed = maintenance.clean_registries("default")

    assert removed["started"] == 1
    assert job.get_status() == JobStatus.FAILED
    assert job.id in queue.failed_job_registry.get_job_ids(cleanup=False)
