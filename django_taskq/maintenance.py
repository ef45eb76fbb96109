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
from rq.queue import Queue
from rq.registry import BaseRegistry, StartedJobRegistry

from .queues import get_queue, state_registry
from .rq_compat.encoding import as_text, format_timestamp
from .rq_compat.jobs import JOB_LUA, job_layout

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

# Every script below starts with rq_compat.jobs.JOB_LUA and takes the queue's job layout
# (rq_compat.jobs.job_layout) as ARGV[1].

# KEYS[1] queue list. ARGV: layout, batch size.
_EMPTY_BATCH = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local count = 0
for _ = 1, tonumber(ARGV[2]) do
    local job_id = redis.call('LPOP', KEYS[1])
    if not job_id then break end
    delete_job(layout, job_id)
    count = count + 1
end
return count
"""
)

# KEYS[1] registry. ARGV: layout, batch size.
_DELETE_REGISTRY_BATCH = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
for _, job_id in ipairs(ids) do
    redis.call('ZREM', KEYS[1], job_id)
    delete_job(layout, job_id)
end
return #ids
"""
)

# KEYS: queue list, the queue's finished, failed, deferred, scheduled, canceled registries.
# ARGV: layout, queue name, then the job ids.
# Returns the number of jobs deleted. Running (started) jobs and other queues' jobs are skipped.
_DELETE_IDS = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local count = 0
for i = 3, #ARGV do
    local job_id = ARGV[i]
    local status, origin = job_status_origin(layout, job_id)
    if status ~= 'started' and (not origin or origin == ARGV[2]) then
        local removed = 0
        if status == 'queued' or not status then
            removed = removed + redis.call('LREM', KEYS[1], 1, job_id)
        end
        for k = 2, #KEYS do
            removed = removed + redis.call('ZREM', KEYS[k], job_id)
        end
        local existed = job_exists(layout, job_id)
        delete_job(layout, job_id)
        if existed or removed > 0 then count = count + 1 end
    end
end
return count
"""
)

# KEYS: registry, queue list, rq:queues. ARGV: layout, queue name, now, at_front, batch size,
# offset. Returns {requeued, examined, rate-limited ids...}.
_REQUEUE_REGISTRY_BATCH = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local offset = tonumber(ARGV[6])
local ids = redis.call('ZRANGE', KEYS[1], offset, offset + tonumber(ARGV[5]) - 1)
local result = {0, #ids}
for _, job_id in ipairs(ids) do
    local outcome = requeue_job(layout, KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4], job_id)
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

# KEYS: queue list, rq:queues, then the registries to requeue from. ARGV: layout, queue name,
# now, at_front, then the job ids. Returns {requeued, rate-limited "registry|id" pairs...}.
_REQUEUE_IDS = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local result = {0}
for i = 5, #ARGV do
    local job_id = ARGV[i]
    for k = 3, #KEYS do
        if redis.call('ZSCORE', KEYS[k], job_id) then
            local outcome = requeue_job(layout, KEYS[k], KEYS[1], ARGV[2], ARGV[3], ARGV[4], job_id)
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

# KEYS[1] registry. ARGV: layout, offset, batch size. Removes entries whose job hash is gone.
# Returns {removed, examined}.
_REMOVE_ORPHANS_BATCH = (
    JOB_LUA
    + """
local layout = cjson.decode(ARGV[1])
local offset = tonumber(ARGV[2])
local ids = redis.call('ZRANGE', KEYS[1], offset, offset + tonumber(ARGV[3]) - 1)
local removed = 0
for _, job_id in ipairs(ids) do
    if not job_exists(layout, job_id) then
        redis.call('ZREM', KEYS[1], job_id)
        removed = removed + 1
    end
end
return {removed, #ids}
"""
)


def empty_queue(queue: Queue | str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete every queued job of ``queue`` (hashes included); return how many."""
    queue = _queue(queue)
    script = _script(queue.connection, _EMPTY_BATCH)
    total = 0
    while True:
        count = int(script(keys=[queue.key], args=[job_layout(queue), _positive(batch_size)]))
        total += count
        if count < batch_size:
            return total


def delete_registry(queue: Queue | str, registry: str, *, batch_size: int = BATCH_SIZE) -> int:
    """Delete every job of one registry of ``queue`` (see DELETABLE_REGISTRIES); return how many."""
    if registry not in DELETABLE_REGISTRIES:
        raise ValueError(f"Jobs of the {registry!r} registry cannot be deleted in bulk.")
    queue = _queue(queue)
    key = state_registry(queue, registry).key
    script = _script(queue.connection, _DELETE_REGISTRY_BATCH)
    total = 0
    while True:
        count = int(script(keys=[key], args=[job_layout(queue), _positive(batch_size)]))
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
    reg = state_registry(queue, registry)
    script = _script(queue.connection, _REQUEUE_REGISTRY_BATCH)
    total = offset = 0
    while True:
        args = _requeue_args(queue, at_front)
        reply = script(
            keys=[reg.key, queue.key, Queue.redis_queues_keys],
            args=[*args, _positive(batch_size), offset],
        )
        requeued, examined, limited = int(reply[0]), int(reply[1]), [as_text(item) for item in reply[2:]]
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
    keys = [queue.key, *(state_registry(queue, name).key for name in DELETABLE_REGISTRIES)]
    script = _script(queue.connection, _DELETE_IDS)
    total = 0
    for chunk in _chunks(job_ids, _positive(batch_size)):
        total += int(script(keys=keys, args=[job_layout(queue), queue.name, *chunk]))
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
    registries = [state_registry(queue, name) for name in REQUEUEABLE_REGISTRIES]
    keys = [queue.key, Queue.redis_queues_keys, *(reg.key for reg in registries)]
    script = _script(queue.connection, _REQUEUE_IDS)
    total = 0
    for chunk in _chunks(job_ids, _positive(batch_size)):
        args = _requeue_args(queue, at_front)
        reply = script(keys=keys, args=[*args, *chunk])
        total += int(reply[0])
        for item in reply[1:]:
            index, _, job_id = as_text(item).partition("|")
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
    layout = job_layout(queue)
    now = datetime.now(timezone.utc).timestamp()
    for name in DELETABLE_REGISTRIES:
        key = state_registry(queue, name).key
        count = 0
        if name in ("finished", "failed", "canceled"):
            while True:
                dropped = int(expired(keys=[key], args=[now, batch]))
                count += dropped
                if dropped < batch:
                    break
        offset = 0
        while True:
            reply = orphans(keys=[key], args=[layout, offset, batch])
            dropped, examined = int(reply[0]), int(reply[1])
            count += dropped
            offset += examined - dropped
            if examined < batch:
                break
        removed[name] = count
    return removed


def _queue(queue: Queue | str) -> Queue:
    return get_queue(queue) if isinstance(queue, str) else queue


def _script(connection: Any, source: str) -> Script:  # a redis.Redis
    script: Script = connection.register_script(source)
    return script


def _positive(value: int) -> int:
    if value < 1:
        raise ValueError(f"batch_size must be at least 1, not {value}.")
    return value


def _requeue_args(queue: Queue, at_front: bool) -> list[str | int]:
    return [job_layout(queue), queue.name, format_timestamp(), int(at_front)]


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
