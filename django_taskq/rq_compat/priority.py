"""Priority order inside one RQ queue, for the jobs given one (Django tasks).

An RQ queue is a Redis list that every worker (ours, RQ's own, ``rq worker``) pops from the
left, so the order of that list is the order in which jobs run. One Lua script inserts a job
given a priority where a higher priority runs first and equal priorities keep their enqueue
order: a priority above 0 right after the last waiting job of a higher or equal priority (at
the front if none), 0 or below right before the first waiting job of a lower priority (at the
back if none). The job stays an ordinary entry of its queue, so counts, the dashboard,
``Job.cancel`` and plain workers see it as before. Jobs without a priority (``enqueue()``) are
pushed as RQ pushes them and are not ordered against the others.

Beside each queue, a sorted set (``waiting_key``) lists the waiting jobs whose priority is not
0, by priority then enqueue order (a counter beside it, ``<waiting_key>:counter``), and finds
those neighbours in O(log n). Members whose job is no longer ``queued`` (a worker took it, or
it was deleted or canceled) are dropped when a script meets them: a neighbour it looked up,
and every ``_CLEAN_EVERY``-th placement, those at the front; the set stays about as long as
the queue. The script reads a job's status from RQ's job hash: ``Job.key_for(id)`` is the id
between a fixed prefix and suffix and the hash field ``status`` holds ``queued`` while the job
waits; ``tests/test_rq_compat_priority.py`` proves both against the installed RQ.

Cost in Redis: priority 0 with no lower job waiting (every task of the default priority) is one
sorted-set lookup more than a plain push; other priorities add an index entry, O(log n). The
insertion itself is O(1) at either end or within the last ``_TAIL`` entries (LPOS, Redis 6.0.6+),
else LINSERT's walk from the front to the neighbour (some 50 ns an entry).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.job import Job
from rq.queue import Queue

__all__ = ["PLACE_LUA", "mark", "priority_of", "push_job_id", "waiting_key"]

_ATTRIBUTE = "_taskq_priority"  # on the in-memory Job, until it is written
_TAIL = 256
_CLEAN_EVERY = 8  # every 8th placement drops up to 16 members that stopped waiting from the front
_BAND = 2**44  # score = (100 - priority) * _BAND + counter: priority first, then enqueue order

# taskq_place(queue, waiting, job_key, job_id, priority): insert job_id into the list ``queue``
# by priority; index it in ``waiting`` unless its priority is 0. ``job_key`` is the new job's
# hash key: the other jobs' keys are their ids between the same prefix and suffix.
PLACE_LUA = f"""
local function taskq_insert(queue, where, pivot, job_id)
    local at = redis.pcall('LPOS', queue, pivot, 'RANK', -1, 'MAXLEN', {_TAIL})
    if type(at) == 'number' then
        local moved = redis.call('LRANGE', queue, where == 'BEFORE' and at or at + 1, -1)
        if #moved > 0 then redis.call('LTRIM', queue, 0, -(#moved + 1)) end
        redis.call('RPUSH', queue, job_id, unpack(moved))
        return 1
    end
    return redis.call('LINSERT', queue, where, pivot, job_id)
end

local function taskq_place(queue, waiting, job_key, job_id, priority)
    local function waits(id)
        local first, last = string.find(job_key, job_id, 1, true)
        local key = string.sub(job_key, 1, first - 1) .. id .. string.sub(job_key, last + 1)
        return redis.call('HGET', key, 'status') == 'queued'
    end
    local count = 0
    if priority ~= 0 then
        count = redis.call('INCR', waiting .. ':counter')
        if count % {_CLEAN_EVERY} == 0 then
            for _, id in ipairs(redis.call('ZRANGE', waiting, 0, {2 * _CLEAN_EVERY - 1})) do
                if waits(id) then break end
                redis.call('ZREM', waiting, id)
            end
        end
    end
    while true do
        local pivot, placed
        if priority > 0 then
            local upto = string.format('%.0f', (101 - priority) * {_BAND} - 1)
            pivot = redis.call('ZREVRANGEBYSCORE', waiting, upto, '-inf', 'LIMIT', 0, 1)[1]
            if not pivot then redis.call('LPUSH', queue, job_id) break end
            placed = waits(pivot) and taskq_insert(queue, 'AFTER', pivot, job_id) > 0
        else
            local from = string.format('%.0f', (101 - priority) * {_BAND})
            pivot = redis.call('ZRANGEBYSCORE', waiting, from, '+inf', 'LIMIT', 0, 1)[1]
            if not pivot then redis.call('RPUSH', queue, job_id) break end
            placed = waits(pivot) and taskq_insert(queue, 'BEFORE', pivot, job_id) > 0
        end
        if placed then break end
        redis.call('ZREM', waiting, pivot)
    end
    if priority ~= 0 then
        redis.call('ZADD', waiting, string.format('%.0f', (100 - priority) * {_BAND} + count), job_id)
    end
    return 1
end
"""

_PUSH_LUA = PLACE_LUA + "return taskq_place(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))\n"


def waiting_key(queue: Queue) -> str:
    """The sorted set of ``queue``'s waiting jobs that have a priority."""
    return f"taskq:priority:{queue.name}"


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
    keys = [queue.key, waiting_key(queue), queue.job_class.key_for(job_id)]
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
