"""Contract tests of django_taskq.rq_compat.job_state against the installed RQ.

An outbox row holds ``job_state(job)``; the relay writes ``restore_job(...)`` with the queue's
write. Both must give back exactly the job RQ would have written from the original.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from rq import Callback, Retry
from rq.queue import Queue

from django_taskq.outbox import relay
from django_taskq.queues import get_queue
from django_taskq.rq_compat import jobs
from django_taskq.rq_compat.encoding import as_text
from django_taskq.rq_compat.job_state import job_state, job_states_split, restore_job
from tests.command_helpers import closed_port
from tests.testapp.jobs import add

# Keyword arguments of Queue.enqueue (and enqueue_in), from none to most of them.
OPTIONS: list[dict[str, Any]] = [
    {},
    {"job_id": "chosen", "at_front": True},
    {
        "job_timeout": 9,
        "result_ttl": 77,
        "ttl": 300,
        "failure_ttl": 400,
        "description": "hello",
        "meta": {"a": [1, "b"]},
        "retry": Retry(max=2, interval=[1, 5]),
        "on_success": Callback(add, timeout=3),
    },
]


@pytest.mark.parametrize("options", OPTIONS)
def test_a_restored_job_serializes_as_the_original(options: dict[str, Any]) -> None:
    queue = get_queue()
    created = {"timeout" if key == "job_timeout" else key: value for key, value in options.items()}
    created.pop("at_front", None)
    job = queue.create_job(add, args=(1, 2), **created)
    restored = restore_job(queue, job.id, job_state(job, queue.connection))
    assert job_state(restored, queue.connection) == job_state(job, queue.connection), (
        "rq.job.Job.restore no longer reads back what rq.job.Job.to_dict writes; update "
        "rq_compat.job_state.job_state / restore_job"
    )
    assert (restored.func_name, restored.args, restored.meta) == (job.func_name, job.args, job.meta)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
@pytest.mark.parametrize("options", OPTIONS)
def test_the_split_state_is_the_state(options: dict[str, Any], encoding: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, encoding=encoding)
    queue = Queue("default", connection=client)
    created = {"timeout" if key == "job_timeout" else key: value for key, value in options.items()}
    created.pop("at_front", None)
    job = queue.create_job(add, args=("é", b"\xff"), **{**created, "description": "café"})
    [(text, binary)] = job_states_split([job], client)
    assert "data" in binary  # the pickled call
    assert {**{name: value.encode() for name, value in text.items()}, **binary} == job_state(job, client)


def _written(client: redis.Redis, job_id: str) -> dict[str, Any]:
    """The job hash and where the job is, times replaced by whether they are set."""
    fields = {
        as_text(name): ("<time>" if as_text(name).endswith("_at") and value else value)
        for name, value in client.hgetall(f"rq:job:{job_id}").items()
    }
    places = {
        as_text(key): [as_text(item) for item in client.lrange(key, 0, -1)]
        for key in client.keys("rq:queue:*")
    }
    scheduled = [as_text(item) for item in client.zrange("rq:scheduled:default", 0, -1)]
    return {"hash": fields, "queues": places, "scheduled": scheduled, "ttl": client.ttl(f"rq:job:{job_id}")}


@pytest.mark.django_db(transaction=True, databases=list(settings.DATABASES))
@pytest.mark.parametrize("scheduled", [False, True])
@pytest.mark.parametrize("options", OPTIONS)
def test_a_relayed_job_is_the_job_rq_writes(
    options: dict[str, Any], scheduled: bool, redis_client: redis.Redis
) -> None:
    options = {"job_id": "the-job", **options}

    def enqueue(queue: Queue) -> None:
        if scheduled:
            queue.enqueue_in(timedelta(minutes=5), add, 1, 2, **options)
        else:
            queue.enqueue(add, 1, 2, **options)

    enqueue(
        Queue(
            "default",
            connection=redis_client,
            default_timeout=settings.RQ_QUEUES["default"]["DEFAULT_TIMEOUT"],
        )
    )
    theirs = _written(redis_client, options["job_id"])
    redis_client.flushdb()

    down = {
        **settings.RQ_QUEUES,
        "default": {**settings.RQ_QUEUES["default"], "URL": f"redis://127.0.0.1:{closed_port()}/0"},
    }
    with override_settings(RQ_QUEUES=down, RQ={"COMMIT_MODE": "outbox"}), transaction.atomic():
        enqueue(get_queue())
    assert relay.relay_once(min_age=0).pushed == 1
    ours = _written(redis_client, options["job_id"])
    assert abs(ours.pop("ttl") - theirs.pop("ttl")) <= 2
    assert ours == theirs, (
        "a job stored in the outbox (rq.job.Job.to_dict, rq.job.Job.restore) is no longer written as "
        f"rq.Queue.enqueue writes it: ours {ours}, rq's {theirs}; update rq_compat.job_state"
    )


def test_write_queued_once_writes_a_job_once_per_marker(redis_client: redis.Redis) -> None:
    queue = get_queue()
    job = queue.create_job(add, args=(1, 2))
    job.origin = queue.name
    jobs.load_write_queued_once(queue.connection)
    jobs.prepare_for_queue(queue, job)
    once = {"at_front": False, "marker": "taskq:outbox:the-token", "value": "f", "ttl": 60}
    assert jobs.write_queued_once(queue.connection, queue, job, **once) == 1
    assert jobs.write_queued_once(queue.connection, queue, job, **once) == b"f"  # nothing written
    assert queue.job_ids == [job.id], "rq_compat.jobs.write_queued_once pushed a job twice"
    assert 55 <= redis_client.ttl("taskq:outbox:the-token") <= 60
    assert queue.fetch_job(job.id).get_status() == "queued"
