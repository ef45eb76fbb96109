"""Shared helpers for the maintenance and command tests: bulk job creation, round-trip counting."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from rq.job import Job, JobStatus
from rq.queue import Queue

from django_taskq.queues import DjangoQueue, get_queue
from tests.testapp.jobs import add


class CountingRedis(redis.Redis):
    """A real client that counts its round trips: one per command, one per pipeline execute."""

    round_trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        original = pipe.execute
        client = self

        def execute(raise_on_error: bool = True) -> Any:
            if pipe.command_stack:
                client.round_trips += 1
            return original(raise_on_error=raise_on_error)

        pipe.execute = execute  # type: ignore[method-assign]
        return pipe


def counting_queue(name: str = "default", url: str | None = None) -> tuple[DjangoQueue, CountingRedis]:
    client = CountingRedis.from_url(url or settings.REDIS_URL)
    return get_queue(name, connection=client), client


def make_jobs(queue: Queue, count: int, *, status: str = "queued", chunk: int = 2000) -> list[str]:
    """Write ``count`` real RQ jobs of ``queue`` in ``status`` (queued, failed, finished, ...)."""
    ids: list[str] = []
    base = time.time() + 86_400  # registry scores are expiry times, in insertion order
    client = queue.connection
    registry = None if status == "queued" else getattr(queue, f"{status}_job_registry")
    for start in range(0, count, chunk):
        with client.pipeline(transaction=False) as pipe:
            for index in range(start, min(count, start + chunk)):
                job = Job.create(add, args=(index, 1), connection=client, origin=queue.name)
                job.set_status(JobStatus(status), pipeline=pipe)
                if status == "queued":
                    job.enqueued_at = job.created_at
                    job.save(pipeline=pipe)
                    pipe.rpush(queue.key, job.id)
                else:
                    job.save(pipeline=pipe)
                    pipe.zadd(registry.key, {job.id: base + index})  # type: ignore[union-attr]
                ids.append(job.id)
            pipe.sadd(Queue.redis_queues_keys, queue.key)
            pipe.execute()
    return ids
