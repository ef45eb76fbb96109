"""Priority order inside one RQ queue, for the jobs given one (Django tasks).

An RQ queue is a Redis list that every worker (ours, RQ's own, ``rq worker``) pops from the
left, so the order of that list is the order in which jobs run. A job given a priority is
inserted by one Lua script just before the first waiting job of a lower priority, or at the
back when none waits: a higher priority runs first, equal priorities keep their enqueue order.
The job stays an ordinary entry of its queue, so counts, the dashboard, ``Job.cancel`` and
plain workers see it as before. Jobs without a priority (``enqueue()``) are pushed as RQ pushes
them and are not ordered against the others.

Beside each queue, a sorted set (``waiting_key``) lists the jobs given a priority, by priority
then enqueue order (a counter, ``counter_key``); it answers "the first waiting job of a lower
priority" in O(log n). A member whose job is no longer ``queued`` (a worker took it, or it was
deleted or canceled) is dropped when a script meets it, so the set stays about as long as the
queue. The script reads a job's status from RQ's job hash: ``Job.key_for(id)`` is the id
between a fixed prefix and suffix and the hash field ``status`` holds ``queued`` while the job
waits; ``tests/test_rq_compat_priority.py`` proves both against the installed RQ.

Cost in Redis: O(log n) when no job of a lower priority waits (every job of the same
priority, or a higher one arriving); otherwise the insertion itself, O(1) near the back (the
last ``_TAIL`` entries) and else LINSERT's scan from the front to that job.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.job import Job
from rq.queue import Queue

__all__ = ["PLACE_LUA", "counter_key", "mark", "priority_of", "push_job_id", "waiting_key"]

_ATTRIBUTE = "_taskq_priority"  # on the in-memory Job, until it is written
_TAIL = 256
_BAND = 2**44  # score = (100 - priority) * _BAND + counter: priority first, then enqueue order

# taskq_place(queue, waiting, counter, job_key, job_id, priority): insert job_id into the list
# ``queue`` by priority and add it to ``waiting``. ``job_key`` is the new job's hash key: the
# other jobs' keys are their ids between the same prefix and suffix.
PLACE_LUA = f"""
local function taskq_place(queue, waiting, counter, job_key, job_id, priority)
    local first, last = string.find(job_key, job_id, 1, true)
    local prefix, suffix = string.sub(job_key, 1, first - 1), string.sub(job_key, last + 1)
    local function waits(id)
        return redis.call('HGET', prefix .. id .. suffix, 'status') == 'queued'
    end
    for _, id in ipairs(redis.call('ZRANGE', waiting, 0, 1)) do
        if waits(id) then break end
        redis.call('ZREM', waiting, id)
    end
    local score = (100 - priority) * {_BAND} + redis.call('INCR', counter)
    redis.call('ZADD', waiting, string.format('%.0f', score), job_id)
    local lower = string.format('%.0f', (101 - priority) * {_BAND})
    while true do
        local pivot = redis.call('ZRANGEBYSCORE', waiting, lower, '+inf', 'LIMIT', 0, 1)[1]
        if not pivot then return redis.call('RPUSH', queue, job_id) end
        if waits(pivot) then
            local tail = redis.call('LRANGE', queue, -{_TAIL}, -1)
            for i = 1, #tail do
                if tail[i] == pivot then
                    redis.call('LTRIM', queue, 0, i - #tail - 2)
                    redis.call('RPUSH', queue, job_id, unpack(tail, i))
                    return 1
                end
            end
            if redis.call('LINSERT', queue, 'BEFORE', pivot, job_id) > 0 then return 1 end
        end
        redis.call('ZREM', waiting, pivot)
    end
end
"""

_PUSH_LUA = PLACE_LUA + "return taskq_place(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]))\n"


def waiting_key(queue: Queue) -> str:
    """The sorted set of ``queue``'s waiting jobs that have a priority."""
    return f"taskq:priority:{queue.name}"


def counter_key(queue: Queue) -> str:
    """The counter that orders equal priorities of ``queue`` by enqueue time."""
    return f"taskq:priority:{queue.name}:counter"


def mark(job: Job, priority: int) -> None:
    """Have ``job`` placed by ``priority`` whenever this process pushes it onto a queue."""
    job.__dict__[_ATTRIBUTE] = int(priority)
    _marked[job.id] = job


def priority_of(job: Job) -> int | None:
    """The priority ``mark`` gave ``job``, or None: then it is pushed as RQ pushes it."""
    value: int | None = job.__dict__.get(_ATTRIBUTE)
    return value


def push_job_id(queue: Queue, job_id: str, pipeline: Pipeline | None, *, at_front: bool = False) -> None:
    """``rq.Queue.push_job_id``, by priority for a job ``mark`` marked (``at_front`` wins)."""
    job = _marked.get(job_id)
    priority = None if job is None else priority_of(job)
    if priority is None or at_front:
        Queue.push_job_id(queue, job_id, pipeline=pipeline, at_front=at_front)
        return
    keys = [queue.key, waiting_key(queue), counter_key(queue), queue.job_class.key_for(job_id)]
    _push_script(queue.connection)(keys=keys, args=[job_id, priority], client=pipeline or queue.connection)


# Marked jobs by id, for ``push_job_id``, which RQ calls with an id: an entry goes with its Job.
_marked: weakref.WeakValueDictionary[str, Job] = weakref.WeakValueDictionary()


def _push_script(connection: Redis) -> Callable[..., Any]:
    # register_script only hashes the source; cache the object on the (pooled) client. In a
    # pipeline, redis-py loads the script before the pipeline runs.
    script: Callable[..., Any] | None = getattr(connection, "_taskq_priority_script", None)
    if script is None:
        script = connection.register_script(_PUSH_LUA)
        connection._taskq_priority_script = script  # type: ignore[attr-defined]
    return script
