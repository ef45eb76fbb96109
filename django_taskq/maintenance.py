"""Bulk maintenance of queues and registries: batched, one Redis round trip per batch.

The commands (``rqempty``, ``rqfailed``, ``rqclean``, ``rqdelete``) and the dashboard call these
functions. Each one works on at most ``batch_size`` jobs per round trip, with a short Lua
script that runs atomically on the server, so a queue of a million jobs takes about a thousand
round trips, never a million, and never loads every job hash into this process at once.

Every function takes a queue object or a queue name from ``RQ_QUEUES`` and returns how many
jobs it touched. A job is only requeued or deleted by the batch that removes it from its queue
or registry, so two callers working on the same queue at the same time never both act on one
job, and a job a worker has already taken is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

from redis.commands.core import Script
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.executions import ExecutionRegistry
from rq.queue import Queue
from rq.registry import BaseRegistry, StartedJobRegistry
from rq.results import Result

from .queues import get_queue

__all__ = [
    "BATCH_SIZE",
    "DELETABLE_REGISTRIES",
    "REQUEUEABLE_REGISTRIES",
    "clean_registries",
    "delete_failed",
    "delete_jobs",
    "delete_registry",
    "empty_queue",
    "requeue_failed",
    "requeue_jobs",
    "requeue_registry",
]

BATCH_SIZE = 1000

# Registries whose jobs may be deleted in bulk. Started jobs are running: stop them instead.
DELETABLE_REGISTRIES = ("finished", "failed", "deferred", "scheduled", "canceled")
# Registries whose jobs may be put back on their queue.
REQUEUEABLE_REGISTRIES = ("failed", "canceled")

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # RQ's own (rq.utils.utcformat)

# Deletes every key RQ keeps for one job: the hash, its dependents and dependencies sets, its
# results stream and its executions registry (the same keys as rq.job.Job.delete).
_DELETE_JOB_KEYS = """
local function delete_job(prefix, result_prefix, execution_prefix, job_id)
    return redis.call('DEL', prefix .. job_id, prefix .. job_id .. ':dependents',
        prefix .. ':' .. job_id .. ':dependencies', result_prefix .. job_id, execution_prefix .. job_id)
end
"""

# KEYS[1] queue list. ARGV: prefix, result prefix, execution prefix, batch size.
_EMPTY_BATCH = (
    _DELETE_JOB_KEYS
    + """
local count = 0
for _ = 1, tonumber(ARGV[4]) do
    local job_id = redis.call('LPOP', KEYS[1])
    if not job_id then break end
    delete_job(ARGV[1], ARGV[2], ARGV[3], job_id)
    count = count + 1
end
return count
"""
)

# KEYS[1] registry. ARGV: prefix, result prefix, execution prefix, batch size.
_DELETE_REGISTRY_BATCH = (
    _DELETE_JOB_KEYS
    + """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)
for _, job_id in ipairs(ids) do
    redis.call('ZREM', KEYS[1], job_id)
    delete_job(ARGV[1], ARGV[2], ARGV[3], job_id)
end
return #ids
"""
)

# KEYS: queue list, the queue's finished, failed, deferred, scheduled, canceled registries.
# ARGV: prefix, result prefix, execution prefix, queue name, then the job ids.
# Returns the number of jobs deleted. Running (started) jobs and other queues' jobs are skipped.
_DELETE_IDS = (
    _DELETE_JOB_KEYS
    + """
local count = 0
for i = 5, #ARGV do
    local job_id = ARGV[i]
    local key = ARGV[1] .. job_id
    local fields = redis.call('HMGET', key, 'status', 'origin')
    local status, origin = fields[1], fields[2]
    if status ~= 'started' and (not origin or origin == ARGV[4]) then
        local removed = 0
        if status == 'queued' or not status then
            removed = removed + redis.call('LREM', KEYS[1], 1, job_id)
        end
        for k = 2, #KEYS do
            removed = removed + redis.call('ZREM', KEYS[k], job_id)
        end
        local deleted = redis.call('EXISTS', key)
        delete_job(ARGV[1], ARGV[2], ARGV[3], job_id)
        if deleted == 1 or removed > 0 then count = count + 1 end
    end
end
return count
"""
)

# Puts one job back on its queue, as rq's BaseRegistry.requeue does (status queued, fresh
# enqueued_at, start/end and exception cleared), and keeps the hash from expiring while queued.
# Rate-limited jobs are left where they are and returned, for RQ's own requeue to handle.
_REQUEUE_JOB = """
local function requeue_job(registry, queue, queue_name, prefix, now, at_front, job_id)
    local key = prefix .. job_id
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

# KEYS: registry, queue list, rq:queues. ARGV: queue name, prefix, now, at_front, batch size,
# offset. Returns {requeued, examined, rate-limited ids...}.
_REQUEUE_REGISTRY_BATCH = (
    _REQUEUE_JOB
    + """
local offset = tonumber(ARGV[6])
local ids = redis.call('ZRANGE', KEYS[1], offset, offset + tonumber(ARGV[5]) - 1)
local result = {0, #ids}
for _, job_id in ipairs(ids) do
    local outcome = requeue_job(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], job_id)
    if outcome == 1 then
        result[1] = result[1] + 1
    elseif outcome == -1 then
        table.insert(result, job_id)
    end
end
if result[1] > 0 then redis.call('SADD', KEYS[3], KEYS[2]) end
return result
"""
)

# KEYS: queue list, rq:queues, then the registries to requeue from. ARGV: queue name, prefix,
# now, at_front, then the job ids. Returns {requeued, rate-limited "registry|id" pairs...}.
_REQUEUE_IDS = (
    _REQUEUE_JOB
    + """
local result = {0}
for i = 5, #ARGV do
    local job_id = ARGV[i]
    for k = 3, #KEYS do
        if redis.call('ZSCORE', KEYS[k], job_id) then
            local outcome = requeue_job(KEYS[k], KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], job_id)
            if outcome == 1 then
                result[1] = result[1] + 1
            elseif outcome == -1 then
                table.insert(result, tostring(k) .. '|' .. job_id)
            end
            break
        end
    end
end
if result[1] > 0 then redis.call('SADD', KEYS[2], KEYS[1]) end
return result
"""
)

# KEYS[1] registry. ARGV: max score, batch size. Removes up to a batch of expired entries.
_REMOVE_EXPIRED_BATCH = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return #ids
"""

# KEYS[1] registry. ARGV: prefix, offset, batch size. Removes entries whose job hash is gone.
# Returns {removed, examined}.
_REMOVE_ORPHANS_BATCH = """
local offset = tonumber(ARGV[2])
local ids = redis.call('ZRANGE', KEYS[1], offset, offset + tonumber(ARGV[3]) - 1)
local removed = 0
for _, job_id in ipairs(ids) do
    if redis.call('EXISTS', ARGV[1] .. job_id) == 0 then
        redis.call('ZREM', KEYS[1], job_id)
        removed = removed + 1
    end
end
return {removed, #ids}
"""


def empty_queue(queue: Queue | str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete every queued job of ``queue`` (hashes included); return how many."""
    queue = _queue(queue)
    script = _script(queue.connection, _EMPTY_BATCH)
    total = 0
    while True:
        count = int(script(keys=[queue.key], args=[*_prefixes(queue), _positive(batch_size)]))
        total += count
        if count < batch_size:
            return total


def delete_registry(queue: Queue | str, registry: str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete every job of one registry of ``queue`` (see DELETABLE_REGISTRIES); return how many."""
    if registry not in DELETABLE_REGISTRIES:
        raise ValueError(f"Jobs of the {registry!r} registry cannot be deleted in bulk.")
    queue = _queue(queue)
    key = _registry(queue, registry).key
    script = _script(queue.connection, _DELETE_REGISTRY_BATCH)
    total = 0
    while True:
        count = int(script(keys=[key], args=[*_prefixes(queue), _positive(batch_size)]))
        total += count
        if count < batch_size:
            return total


def delete_failed(queue: Queue | str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete every failed (and stopped) job of ``queue``; return how many."""
    return delete_registry(queue, "failed", batch_size=batch_size)


def requeue_registry(
    queue: Queue | str, registry: str, *, at_front: bool = False, batch_size: int = BATCH_SIZE
) -> int:
    """Put every job of one registry (see REQUEUEABLE_REGISTRIES) back on ``queue``; return how many."""
    if registry not in REQUEUEABLE_REGISTRIES:
        raise ValueError(f"Jobs of the {registry!r} registry cannot be requeued.")
    queue = _queue(queue)
    reg = _registry(queue, registry)
    script = _script(queue.connection, _REQUEUE_REGISTRY_BATCH)
    total = offset = 0
    while True:
        args = _requeue_args(queue, at_front)
        reply = script(
            keys=[reg.key, queue.key, Queue.redis_queues_keys],
            args=[*args, _positive(batch_size), offset],
        )
        requeued, examined, limited = int(reply[0]), int(reply[1]), [_text(item) for item in reply[2:]]
        total += requeued
        for job_id in limited:
            if _requeue_with_rq(reg, job_id, at_front):
                total += 1
            else:
                offset += 1  # still there: step over it next time
        if examined < batch_size:
            return total


def requeue_failed(queue: Queue | str, *, at_front: bool = False, batch_size: int = BATCH_SIZE) -> int:
    """Put every failed (and stopped) job of ``queue`` back on it; return how many."""
    return requeue_registry(queue, "failed", at_front=at_front, batch_size=batch_size)


def delete_jobs(queue: Queue | str, job_ids: Iterable[str], *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the given jobs of ``queue`` wherever they are (queue or registry); return how many.

    Running (started) jobs are skipped (stop them first), and so are other queues' jobs.
    Removing a queued job from the queue list costs a scan of the list up to that job, so
    prefer ``empty_queue`` for whole queues.
    """
    queue = _queue(queue)
    keys = [queue.key, *(_registry(queue, name).key for name in DELETABLE_REGISTRIES)]
    script = _script(queue.connection, _DELETE_IDS)
    total = 0
    for chunk in _chunks(job_ids, _positive(batch_size)):
        total += int(script(keys=keys, args=[*_prefixes(queue), queue.name, *chunk]))
    return total


def requeue_jobs(
    queue: Queue | str,
    job_ids: Iterable[str],
    *,
    at_front: bool = False,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Put the given failed or canceled jobs of ``queue`` back on it; return how many.

    Ids that are not in one of the queue's REQUEUEABLE_REGISTRIES are skipped.
    """
    queue = _queue(queue)
    registries = [_registry(queue, name) for name in REQUEUEABLE_REGISTRIES]
    keys = [queue.key, Queue.redis_queues_keys, *(reg.key for reg in registries)]
    script = _script(queue.connection, _REQUEUE_IDS)
    total = 0
    for chunk in _chunks(job_ids, _positive(batch_size)):
        args = _requeue_args(queue, at_front)
        reply = script(keys=keys, args=[*args, *chunk])
        total += int(reply[0])
        for item in reply[1:]:
            index, _, job_id = _text(item).partition("|")
            if _requeue_with_rq(registries[int(index) - 3], job_id, at_front):
                total += 1
    return total


def clean_registries(queue: Queue | str, *, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Tidy the registries of ``queue``; return how many entries each one lost.

    - started: jobs whose worker died are failed or retried, by RQ's own clean-up;
    - finished, failed, canceled: expired entries are dropped;
    - every registry: entries whose job no longer exists are dropped.
    """
    queue = _queue(queue)
    batch = _positive(batch_size)
    connection = queue.connection
    removed: dict[str, int] = {}

    started = StartedJobRegistry(queue.name, connection=connection, job_class=queue.job_class,
                                 serializer=queue.serializer)  # fmt: skip
    before = connection.zcard(started.key)
    started.cleanup()
    removed["started"] = max(0, before - connection.zcard(started.key))

    expired = _script(connection, _REMOVE_EXPIRED_BATCH)
    orphans = _script(connection, _REMOVE_ORPHANS_BATCH)
    prefix = queue.job_class.redis_job_namespace_prefix
    now = datetime.now(timezone.utc).timestamp()
    for name in DELETABLE_REGISTRIES:
        key = _registry(queue, name).key
        count = 0
        if name in ("finished", "failed", "canceled"):
            while True:
                dropped = int(expired(keys=[key], args=[now, batch]))
                count += dropped
                if dropped < batch:
                    break
        offset = 0
        while True:
            reply = orphans(keys=[key], args=[prefix, offset, batch])
            dropped, examined = int(reply[0]), int(reply[1])
            count += dropped
            offset += examined - dropped
            if examined < batch:
                break
        removed[name] = count
    return removed


def _queue(queue: Queue | str) -> Queue:
    return get_queue(queue) if isinstance(queue, str) else queue


def _registry(queue: Queue, name: str) -> BaseRegistry:
    registry: BaseRegistry = getattr(queue, f"{name}_job_registry")
    return registry


def _prefixes(queue: Queue) -> list[str]:
    results: str = Result.get_key("")  # type: ignore[no-untyped-call]
    return [queue.job_class.redis_job_namespace_prefix, results, ExecutionRegistry.key_template.format("")]


def _script(connection: Any, source: str) -> Script:  # a redis.Redis
    script: Script = connection.register_script(source)
    return script


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"batch_size must be at least 1, not {value}.")
    return value


def _requeue_args(queue: Queue, at_front: bool) -> list[str | int]:
    return [queue.name, queue.job_class.redis_job_namespace_prefix, _now(), int(at_front)]


def _now() -> str:
    return datetime.now(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _requeue_with_rq(registry: BaseRegistry, job_id: str, at_front: bool) -> bool:
    """Requeue one (rate-limited) job through RQ, which knows how to take a slot for it."""
    try:
        registry.requeue(job_id, at_front=at_front)
    except (InvalidJobOperation, NoSuchJobError):
        return False
    return True
