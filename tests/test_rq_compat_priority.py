"""django_taskq.rq_compat.priority: contract tests against the installed RQ, and the order and
cost of placing jobs by priority, on the suite's Redis.

Jobs are given a priority with ``priority.mark`` and written by ``DjangoQueue`` (one script when
alone, a pipeline at a commit, RQ's own ``enqueue_job`` as a monitoring wrapper makes it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
from django.db import transaction
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.worker import SimpleWorker

from django_taskq.queues import DjangoQueue, get_queue
from django_taskq.rq_compat import priority
from django_taskq.rq_compat.encoding import as_text
from tests.testapp.jobs import add


def prioritized(queue: DjangoQueue, value: int, label: object = None) -> Job:
    """A job of ``queue`` with priority ``value``, written as the tasks backend writes one."""
    job = queue.create_job(add, args=(value, label))
    priority.mark(job, value)
    return queue.enqueue_job(job)


def waiting_ids(client: redis.Redis, queue: Queue) -> list[str]:
    return [as_text(member) for member in client.zrange(priority.waiting_key(queue), 0, -1)]


@contextmanager
def command_calls(client: redis.Redis) -> Iterator[Callable[[str], int]]:
    """Calls of each Redis command in the block, scripts' own calls included (INFO commandstats)."""
    before = client.info("commandstats")
    after: dict[str, dict[str, int]] = {}

    def count(name: str) -> int:
        key = f"cmdstat_{name}"
        return after.get(key, {}).get("calls", 0) - before.get(key, {}).get("calls", 0)

    yield count
    after.update(client.info("commandstats"))


# Contract: what the script assumes of RQ


def test_a_job_key_is_its_id_between_a_fixed_prefix_and_suffix(redis_client: redis.Redis) -> None:
    job = Job.create(add, args=(1, 2), connection=redis_client)
    prefix, found, suffix = job.key.partition(job.id)
    assert found and Job.key_for("other-id") == f"{prefix}other-id{suffix}", (
        "rq.job.Job.key_for no longer puts the id between a fixed prefix and suffix; "
        "update rq_compat.priority.PLACE_LUA, which derives other jobs' keys from the new job's"
    )


def test_the_status_field_says_queued_exactly_while_a_job_waits(redis_client: redis.Redis) -> None:
    queue = Queue("default", connection=redis_client)
    waiting, canceled = queue.enqueue(add, 1, 2), queue.enqueue(add, 3, 4)

    def status(job: Job) -> str | None:
        raw = redis_client.hget(job.key, "status")
        return None if raw is None else as_text(raw)

    message = "rq.job.Job.set_status: the hash field 'status' no longer says 'queued'; see rq_compat.priority"
    assert status(waiting) == status(canceled) == JobStatus.QUEUED.value == "queued", message
    canceled.cancel()
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert status(waiting) == JobStatus.FINISHED.value, message
    assert status(canceled) == JobStatus.CANCELED.value, message


def test_rq_workers_take_jobs_from_the_front_of_the_list(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    jobs = [prioritized(queue, value) for value in (-5, 0, 5)]
    assert queue.job_ids == [jobs[2].id, jobs[1].id, jobs[0].id]
    taken = [Queue.dequeue_any([queue], None, connection=redis_client) for _ in jobs]
    assert [pair[0].id if pair else None for pair in taken] == [jobs[2].id, jobs[1].id, jobs[0].id], (
        "rq.queue.Queue.dequeue_any no longer takes the front of the queue's list; "
        "rq_compat.priority orders that list"
    )


# The order


def test_random_priorities_with_plain_jobs_between_run_highest_first(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    chance = random.Random(9)  # noqa: S311 -- a fixed sequence, not a secret
    expected: list[tuple[int, int]] = []  # (priority, n) of the prioritized jobs
    plain_ids = []
    for n in range(600):
        if chance.random() < 0.2:
            plain_ids.append(queue.enqueue(add, n, None).id)
        else:
            value = chance.randint(-100, 100)
            prioritized(queue, value, n)
            expected.append((value, n))
    placed = [tuple(job.args) for job in queue.get_jobs() if job.args[1] is not None]
    assert placed == sorted(expected, key=lambda pair: -pair[0])
    assert [job_id for job_id in queue.job_ids if job_id in set(plain_ids)] == plain_ids  # RQ's order


@pytest.mark.parametrize("behind", [3, 300])  # moved from near the back / LINSERT from the front
def test_a_job_goes_just_before_the_first_lower_one(behind: int) -> None:
    queue = get_queue("default")
    ahead = [prioritized(queue, 0).id for _ in range(20)]
    lower = [prioritized(queue, -1).id for _ in range(behind)]
    new = prioritized(queue, 0).id
    assert queue.job_ids == [*ahead, new, *lower]


def test_monitoring_wrappers_path_and_commit_pipelines_place_by_priority() -> None:
    queue = get_queue("default")
    low = prioritized(queue, -10)
    job = queue.create_job(add, args=(1, 2))
    priority.mark(job, 3)
    Queue.enqueue_job(queue, job)  # RQ's own code: _enqueue_job -> DjangoQueue.push_job_id
    assert queue.job_ids == [job.id, low.id]


@pytest.mark.django_db(transaction=True)
def test_jobs_of_one_commit_are_placed_in_its_pipeline() -> None:
    queue = get_queue("default")
    low = prioritized(queue, -10)
    with transaction.atomic():
        high = [prioritized(queue, 10) for _ in range(3)]
        plain = queue.enqueue(add, 1, 2)
    assert queue.job_ids == [*(job.id for job in high), low.id, plain.id]


def test_without_a_priority_or_at_front_a_job_is_pushed_as_rq_pushes_it() -> None:
    queue = get_queue("default")
    low = prioritized(queue, -10)
    back = queue.enqueue(add, 1, 2)
    front_job = queue.create_job(add, args=(3, 4))
    priority.mark(front_job, -50)
    queue.enqueue_job(front_job, at_front=True)
    assert queue.job_ids == [front_job.id, low.id, back.id]


# The waiting set


def test_jobs_that_stopped_waiting_leave_the_set(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    ran = [prioritized(queue, 5) for _ in range(10)]
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert len(waiting_ids(redis_client, queue)) == 10  # dropped lazily, by later placements
    fresh = [prioritized(queue, 5) for _ in range(priority._CLEAN_EVERY)]
    assert waiting_ids(redis_client, queue) == [job.id for job in fresh]
    assert not {job.id for job in ran} & set(waiting_ids(redis_client, queue))


def test_the_set_stays_about_as_long_as_the_queue(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    for _ in range(30):  # enqueue a burst, a worker runs it all
        for value in (-5, 0, 5):
            prioritized(queue, value)
        SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert redis_client.zcard(priority.waiting_key(queue)) <= 2 * priority._CLEAN_EVERY


def test_a_lower_job_gone_from_the_list_is_passed_over(redis_client: redis.Redis) -> None:
    queue = get_queue("default")
    gone = prioritized(queue, -10)  # taken off the list while its status still says queued
    redis_client.lrem(queue.key, 0, gone.id)
    deleted = prioritized(queue, -20)
    deleted.delete()
    kept = prioritized(queue, -5)
    assert queue.job_ids == [kept.id]
    assert waiting_ids(redis_client, queue) == [kept.id]


# The cost: Redis commands per placement do not grow with the queue


@pytest.mark.parametrize(
    ("values", "new", "walks"),
    [
        ([0] * 2000, 0, {"lpos": 0, "lrange": 0, "linsert": 0}),  # none lower: to the back
        ([5] * 2000, 5, {"lpos": 1, "lrange": 1, "linsert": 0}),  # after the last 5, near the back
        ([0] * 2000 + [-10] * 5, 0, {"lpos": 1, "lrange": 1, "linsert": 0}),  # before -10, near the back
        ([10] * 5 + [-10] * 2000, 0, {"lpos": 1, "lrange": 0, "linsert": 1}),  # LINSERT walks 5
        ([0] * 2000, 50, {"lpos": 0, "lrange": 0, "linsert": 0}),  # none higher: to the front
    ],
)
def test_placement_reads_a_fixed_number_of_job_hashes(
    values: list[int], new: int, walks: dict[str, int], redis_client: redis.Redis
) -> None:
    queue = get_queue("default")
    for value in values:
        prioritized(queue, value)
    with command_calls(redis_client) as count:
        placed = prioritized(queue, new)
    assert count("hget") <= 2 * priority._CLEAN_EVERY + 1  # the set's front (every 8th), the job found
    assert {name: count(name) for name in walks} == walks
    position = queue.job_ids.index(placed.id)
    assert position == sum(1 for value in values if value >= new)
