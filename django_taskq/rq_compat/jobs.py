"""RQ's job storage: private job and queue names, the job hash and the keys kept for each job.

``tests/test_rq_compat_jobs.py`` proves each of these against the installed RQ: the hash our
one-round-trip enqueue writes equals the one ``rq.Queue.enqueue`` writes, and ``delete_job``
below removes what ``rq.job.Job.delete`` removes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE, Execution, ExecutionRegistry
from rq.group import Group
from rq.job import Job
from rq.queue import Queue
from rq.registry import StartedJobRegistry
from rq.results import Result

from . import priority

__all__ = [
    "ENQUEUE_ONCE_SHA",
    "JOB_LUA",
    "dependency_ids",
    "enqueue_data_fields",
    "enqueue_waiting",
    "job_hash_fields",
    "job_layout",
    "load_write_queued_once",
    "prepare_for_queue",
    "write_queued",
    "write_queued_once",
]


def dependency_ids(job: Job) -> list[str]:
    """The ids of the jobs ``job`` waits for, before it is saved (``Job.dependency_ids`` reads
    them back from Redis, so it only knows a saved job's)."""
    ids: list[str] = job._dependency_ids
    return ids


def prepare_for_queue(queue: Queue, job: Job) -> None:
    """Set, in memory only, what RQ sets on a job it puts on ``queue``: origin, enqueued_at,
    the queue's default timeout, the Redis server version and the queued status."""
    queue._prepare_for_queue(job)


def job_hash_fields(job: Job) -> tuple[str, str, list[Any]]:
    """The job hash as ``Job.save`` writes it, in few arguments (packing each one is most of a
    script call's cost on the client): the names of the fields that have a value, joined by
    spaces (RQ's names hold none); those of the empty ones (about half); the values, in order."""
    names: list[str] = []
    empty: list[str] = []
    values: list[Any] = []
    for name, value in job.to_dict().items():
        if value == "":
            empty.append(name)
        else:
            names.append(name)
            values.append(value)
    return " ".join(names), " ".join(empty), values


def enqueue_data_fields(job_data: Any) -> dict[str, Any]:
    """The fields of one ``Queue.prepare_data`` result (an ``rq.queue.EnqueueData``): every one
    but ``at_front`` is a keyword of ``Queue.create_job``."""
    fields: dict[str, Any] = job_data._asdict()
    return fields


def enqueue_waiting(queue: Queue, job: Job, pipeline: Pipeline) -> None:
    """Put a scheduled or deferred job on ``queue`` inside ``pipeline`` as RQ's scheduler does:
    its dependencies are not checked, and a rate-limited job waits for a free slot."""
    at_front = job.should_enqueue_at_front()
    if job.has_rate_limit:
        queue._enqueue_rate_limited_job(job, pipeline=pipeline, at_front=at_front)
    else:
        queue._enqueue_job(job, pipeline=pipeline, at_front=at_front)


# What Queue._enqueue_async_job writes for a job without dependencies, as one atomic script:
# the hash (Job.save), its expiry (Job.cleanup), the queue entry (Queue.push_job_id) and the
# queue's name in rq:queues. KEYS: job hash, dependents, dependencies, queue list, rq:queues
# (then, for a job with a priority, rq_compat.priority.waiting_key). ARGV: ttl (0: none),
# at_front (1/0), job id, priority ('': none, pushed as RQ does), then job_hash_fields: the
# names of the hash's fields with a value, those of the empty ones, the values.
_ENQUEUE_LUA = (
    priority.PLACE_LUA
    + """
local fields, value = {}, 7
for name in string.gmatch(ARGV[5], '%S+') do
    fields[#fields + 1] = name
    fields[#fields + 1] = ARGV[value]
    value = value + 1
end
for name in string.gmatch(ARGV[6], '%S+') do
    fields[#fields + 1] = name
    fields[#fields + 1] = ''
end
redis.call('HSET', KEYS[1], unpack(fields))
if tonumber(ARGV[1]) > 0 then
    for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
end
if ARGV[2] == '1' then redis.call('LPUSH', KEYS[4], ARGV[3])
elseif ARGV[4] ~= '' then taskq_place(KEYS[4], KEYS[6], KEYS[1], ARGV[3], tonumber(ARGV[4]))
else redis.call('RPUSH', KEYS[4], ARGV[3]) end
redis.call('SADD', KEYS[5], KEYS[4])
return 1
"""
)


def write_queued(connection: Redis, queue: Queue, job: Job, *, at_front: bool) -> None:
    """Write a job ``prepare_for_queue`` prepared, with no dependencies, onto ``queue``: one
    command and one reply, where RQ takes two round trips and a MULTI/EXEC."""
    keys, args = _enqueue_keys_args(queue, job, at_front)
    _enqueue_script(connection)(keys=keys, args=args)


# write_queued once per delivery marker (the outbox): the last key is the marker, the last two
# arguments the value it gets and its TTL, set in the same script as the write. If the marker
# exists, nothing is written and its value is the reply (else 1).
_ENQUEUE_ONCE_LUA = (
    """
local marker_ttl = table.remove(ARGV)
local marker_value = table.remove(ARGV)
local marker = table.remove(KEYS)
local found = redis.call('GET', marker)
if found then return found end
redis.call('SET', marker, marker_value, 'EX', marker_ttl)
"""
    + _ENQUEUE_LUA
)


ENQUEUE_ONCE_SHA = hashlib.sha1(_ENQUEUE_ONCE_LUA.encode(), usedforsecurity=False).hexdigest()


def load_write_queued_once(connection: Redis) -> None:
    """Load ``write_queued_once``'s script into the server (again after a NoScriptError: the
    server restarted), so that pipelines can call it without checking first."""
    connection.script_load(_ENQUEUE_ONCE_LUA)


def write_queued_once(
    connection: Redis | Pipeline, queue: Queue, job: Job, *, at_front: bool, marker: str, value: str, ttl: int
) -> Any:
    """``write_queued`` unless the key ``marker`` exists, which it sets (to ``value``, for
    ``ttl`` seconds) in the same script (loaded by ``load_write_queued_once``). The reply
    (``execute()``'s, on a pipeline): 1 when written, else the marker's value."""
    keys, args = _enqueue_keys_args(queue, job, at_front)
    return connection.evalsha(ENQUEUE_ONCE_SHA, len(keys) + 1, *keys, marker, *args, value, ttl)


def _enqueue_keys_args(queue: Queue, job: Job, at_front: bool) -> tuple[list[Any], list[Any]]:
    ttl = job.ttl if job.ttl is not None and job.ttl > 0 else 0
    keys = [job.key, job.dependents_key, job.dependencies_key, queue.key, queue.redis_queues_keys]
    place = priority.priority_of(job)
    if place is not None:
        keys.append(priority.waiting_key(queue))
    names, empty, values = job_hash_fields(job)
    return keys, [ttl, int(at_front), job.id, "" if place is None else place, names, empty, *values]


def _enqueue_script(connection: Redis) -> Callable[..., Any]:
    # register_script only hashes the source; cache the object on the (pooled) client.
    script: Callable[..., Any] | None = getattr(connection, "_taskq_enqueue_script", None)
    if script is None:
        script = connection.register_script(_ENQUEUE_LUA)
        connection._taskq_enqueue_script = script  # type: ignore[attr-defined]
    return script


def job_layout(queue: Queue) -> str:
    """Where RQ keeps each key of ``queue``'s jobs, for ``JOB_LUA``: a JSON object of
    ``[prefix, suffix]`` pairs around a job id (or the id named in ``JOB_LUA``'s comment)."""
    job = queue.job_class(id=_ID, connection=queue.connection)
    execution = Execution(id="execution", job_id=_ID, connection=queue.connection)
    layout = {
        "job": _around(job.key, _ID),
        "dependents": _around(job.dependents_key, _ID),
        "dependencies": _around(job.dependencies_key, _ID),
        "results": _around(Result.get_key(_ID), _ID),  # type: ignore[no-untyped-call]
        "executions": _around(ExecutionRegistry(_ID, connection=queue.connection).key, _ID),
        "execution": _around(execution.key, execution.composite_key),
        "started": _around(StartedJobRegistry(_ID, connection=queue.connection).key, _ID),
        "worker_executions": _around(WORKER_EXECUTIONS_KEY_TEMPLATE.format(_ID), _ID),
        "group": _around(Group(queue.connection, name=_ID).key, _ID),
    }
    return json.dumps(layout)


_ID = "taskq-layout-id"


def _around(key: str, name: str) -> list[str]:
    prefix, found, suffix = key.partition(name)
    if not found:
        raise ValueError(f"RQ's key {key!r} does not contain {name!r}")
    return [prefix, suffix]


# Lua functions for scripts that act on RQ jobs in bulk. ``layout`` is ``job_layout(queue)``
# decoded with cjson.decode. Keys of an execution are around "<job id>:<execution id>"
# (rq.executions.Execution.composite_key), "started" around the origin queue's name,
# "worker_executions" around the worker's name, "group" around the group id.
JOB_LUA = """
local function rq_key(layout, name, id)
    return layout[name][1] .. id .. layout[name][2]
end

local function job_exists(layout, job_id)
    return redis.call('EXISTS', rq_key(layout, 'job', job_id)) == 1
end

-- The job's status and origin fields (false when missing).
local function job_status_origin(layout, job_id)
    local fields = redis.call('HMGET', rq_key(layout, 'job', job_id), 'status', 'origin')
    return fields[1], fields[2]
end

-- Deletes what rq.job.Job.delete deletes besides the job's place in its queue or registry: the
-- hash, its dependents and dependencies sets, its results, its executions (each one's hash,
-- started-registry entry and worker index entry) and its group membership.
local function delete_job(layout, job_id)
    local key = rq_key(layout, 'job', job_id)
    local fields = redis.call('HMGET', key, 'origin', 'group_id')
    local origin, group_id = fields[1], fields[2]
    local executions = rq_key(layout, 'executions', job_id)
    for _, execution_id in ipairs(redis.call('ZRANGE', executions, 0, -1)) do
        local composite = job_id .. ':' .. execution_id
        local execution = rq_key(layout, 'execution', composite)
        local worker = redis.call('HGET', execution, 'worker_name')
        if worker and worker ~= '' then
            redis.call('SREM', rq_key(layout, 'worker_executions', worker), composite)
        end
        if origin then redis.call('ZREM', rq_key(layout, 'started', origin), composite) end
        redis.call('DEL', execution)
    end
    if group_id and group_id ~= '' then redis.call('SREM', rq_key(layout, 'group', group_id), job_id) end
    return redis.call('DEL', key, rq_key(layout, 'dependents', job_id),
        rq_key(layout, 'dependencies', job_id), rq_key(layout, 'results', job_id), executions)
end

-- Puts one job back on its queue, as rq's BaseRegistry.requeue does (status queued, fresh
-- enqueued_at, start/end and exception cleared), and keeps the hash from expiring while queued.
-- Returns 1 when requeued, 0 when not in the registry, -1 for a rate-limited job, left where it
-- is for RQ's own requeue to handle.
local function requeue_job(layout, registry, queue, queue_name, now, at_front, job_id)
    local key = rq_key(layout, 'job', job_id)
    if redis.call('EXISTS', key) == 0 then
        redis.call('ZREM', registry, job_id)
        return 0
    end
    local limit = redis.call('HMGET', key, 'rate_limit_key', 'rate_limit_concurrency')
    if limit[1] and limit[1] ~= '' and limit[2] and limit[2] ~= '' and limit[2] ~= '0' then
        return -1
    end
    if redis.call('ZREM', registry, job_id) == 0 then return 0 end
    redis.call('HSET', key, 'status', 'queued', 'origin', queue_name, 'enqueued_at', now,
        'started_at', '', 'ended_at', '')
    redis.call('HDEL', key, 'exc_info')
    redis.call('PERSIST', key)
    if at_front == '1' then
        redis.call('LPUSH', queue, job_id)
    else
        redis.call('RPUSH', queue, job_id)
    end
    return 1
end
"""
