"""Pushing stored jobs to Redis exactly once, however many processes try and whenever they crash.

Each stored job has a token; its delivery marker ``taskq:outbox:<token>`` is set in the same
MULTI/EXEC that writes the job, under a WATCH of the marker:

1. ``WATCH`` the markers, then read them (one script, one round trip);
2. ``MULTI``: for each job whose marker is absent, ``SET`` the marker and write the job with
   the queue's own pipelined write (``DjangoQueue.write_pending``), then ``EXEC``.

If another process pushed one of these jobs between 1 and 2, its marker changed and EXEC writes
nothing (WatchError): the batch is read again. A job kept after a failed write at commit
(``after_failed_write``) also counts as pushed when its job hash exists: that write may have
reached Redis before its reply was lost.

A marker must live as long as someone may still try to push its job: while its row exists,
and while the process that stored it may still run its fast path (it holds the job in memory
and does not read the row). The marker's value says who set it:

- ``f`` (``BY_FAST_PATH``): the storing process pushed it; nobody else holds the job in
  memory, so the marker goes once the row is deleted (by that process, or by the relay that
  finds the row);
- ``r`` (``BY_RELAY``): a relay pushed it while the storing process might still come; the
  marker stays until it expires (``MARKER_TTL``), except for a job kept after a failed write,
  whose process gave up on it.

Cost per batch of one connection: three round trips (WATCH, read, MULTI/EXEC). Markers that
may go are deleted in the next push's MULTI on the same client (or at the end of the request).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, RedisError, WatchError

from ..rq_compat import jobs
from ..rq_compat.hooks import enqueue_wrapped
from .rows import stored_row

if TYPE_CHECKING:
    from redis import Redis

    from ..queues import DjangoQueue
    from ..transactions import PendingJob

__all__ = [
    "BY_FAST_PATH",
    "BY_RELAY",
    "MARKER_PREFIX",
    "MARKER_TTL",
    "Pushed",
    "forget_markers",
    "forget_waiting_markers",
    "marker_key",
    "push",
]

MARKER_PREFIX = "taskq:outbox:"
# How long a marker stays when nobody deletes it: a job found in the outbox after that (a
# process stopped for a day between its commit and its push) is pushed again.
MARKER_TTL = 24 * 3600
BY_FAST_PATH = "f"
BY_RELAY = "r"

# KEYS: marker, job hash, marker, job hash, ...; ARGV[i]: '1' when job i also counts as pushed
# if its hash exists. Returns, per job, the marker's value ('f', 'r'), 'h' (no marker, the
# hash exists) or '' (not pushed).
_PUSHED_LUA = """
local pushed = {}
for i = 1, #ARGV do
    local by = redis.call('GET', KEYS[2 * i - 1])
    if not by and ARGV[i] == '1' and redis.call('EXISTS', KEYS[2 * i]) == 1 then by = 'h' end
    pushed[i] = by or ''
end
return pushed
"""


def marker_key(token: str) -> str:
    return MARKER_PREFIX + token


@dataclass
class Pushed:
    fresh: list[PendingJob] = field(default_factory=list)  # pushed by this call
    before: list[PendingJob] = field(default_factory=list)  # found pushed already (rows to delete)
    # Jobs whose markers may be deleted once their rows are (see the module's docstring).
    forgettable: list[PendingJob] = field(default_factory=list)


def push(pendings: Sequence[PendingJob], *, by: str) -> Pushed:
    """Push stored jobs that share one Redis connection, as ``by`` (``BY_FAST_PATH``: the
    process that stored them; ``BY_RELAY``: a relay holding their rows).

    Jobs queued now are written by one script each that sets the marker with the write
    (``rq_compat.jobs.write_queued_once``), all in one round trip; the others (scheduled
    jobs, jobs kept after a failed write, and every job while a monitoring tool wraps RQ's
    enqueue) under a WATCH of their markers. Redis errors propagate: then each job of the
    batch was written with its marker, or not at all.
    """
    wrapped = enqueue_wrapped()
    scripted = (
        []
        if wrapped
        else [p for p in pendings if p.scheduled_for is None and not stored_row(p).after_failed_write]
    )
    done = {id(pending) for pending in scripted}
    watched = [pending for pending in pendings if id(pending) not in done]
    result = Pushed()
    if scripted:
        _push_scripted(scripted, by, result)
    if watched:
        _push_watched(watched, by, wrapped, result)
    return result


def _push_scripted(pendings: list[PendingJob], by: str, result: Pushed) -> None:
    client: Redis = pendings[0].queue.connection
    forgotten = _forgotten.take(client)  # deleted in this round trip: none of their own
    for pending in pendings:
        jobs.prepare_for_queue(pending.queue, pending.job)
    try:
        for attempt in range(2):
            try:
                replies = _write_once(client, pendings, by, forgotten)
            except NoScriptError:  # a new server: no job of the batch was written
                if attempt:
                    raise
                jobs.load_write_queued_once(client)
                continue
            forgotten = []
            break
    finally:
        _forgotten.add(client, forgotten)
    for pending, reply in zip(pendings, replies, strict=False):
        found = "" if reply == 1 else _text(reply)
        _count(pending, found, by, result)


def _write_once(client: Redis, pendings: list[PendingJob], by: str, forgotten: list[str]) -> list[Any]:
    """One round trip: each job's script, and the deletion of ``forgotten`` markers; the replies."""
    pipe = client.pipeline(transaction=False)
    for pending in pendings:
        marker = marker_key(stored_row(pending).token)
        jobs.write_queued_once(
            pipe,
            pending.queue,
            pending.job,
            at_front=pending.at_front,
            marker=marker,
            value=by,
            ttl=MARKER_TTL,
        )
    if forgotten:
        pipe.delete(*forgotten)
    replies: list[Any] = pipe.execute()
    return replies


def _push_watched(pendings: list[PendingJob], by: str, wrapped: bool, result: Pushed) -> None:
    client: Redis = pendings[0].queue.connection
    markers = [marker_key(stored_row(pending).token) for pending in pendings]
    keys: list[str] = []
    flags: list[str] = []
    for pending, marker in zip(pendings, markers, strict=True):
        keys += (marker, pending.job.key)
        flags.append("1" if stored_row(pending).after_failed_write else "0")
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*markers)  # type: ignore[no-untyped-call]
                found = [_text(value) for value in pipe.eval(_PUSHED_LUA, len(keys), *keys, *flags)]
                fresh = [pending for pending, value in zip(pendings, found, strict=True) if not value]
                if fresh:
                    pipe.multi()
                    queues: dict[str, DjangoQueue] = {}
                    for pending in fresh:
                        pipe.set(marker_key(stored_row(pending).token), by, ex=MARKER_TTL)
                        pending.queue.write_pending(pending, pipe, through_rq=wrapped)
                        queues[pending.queue.key] = pending.queue
                    for queue in queues.values():
                        pipe.sadd(queue.redis_queues_keys, queue.key)
                    pipe.execute()
                else:
                    pipe.reset()
            except WatchError:  # another process pushed one of them meanwhile: read again
                continue
            break
    for pending, value in zip(pendings, found, strict=True):
        _count(pending, value, by, result)


def _count(pending: PendingJob, found: str, by: str, result: Pushed) -> None:
    """File a job by what its marker said before the push (``found``: '' when it pushed it)."""
    (result.before if found else result.fresh).append(pending)
    if found == BY_FAST_PATH or (
        not found and (by == BY_FAST_PATH or stored_row(pending).after_failed_write)
    ):
        result.forgettable.append(pending)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def forget_markers(client: Redis, pendings: Sequence[PendingJob], *, now: bool = False) -> None:
    """Delete the markers of jobs whose rows are deleted (committed) and that nobody else may
    still push (``Pushed.forgettable``). ``now``: at once (one round trip), else in the next
    push on this client. A marker left behind expires after ``MARKER_TTL``."""
    keys = [marker_key(stored_row(pending).token) for pending in pendings]
    if keys and now:
        with contextlib.suppress(RedisError):
            client.delete(*keys)
    elif keys:
        _forgotten.add(client, keys)


class _Forgotten:
    """Marker keys to delete with the next push on their Redis client (or at the request's end)."""

    MAX = 10_000  # per client: more are deleted at once, in one round trip

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: dict[int, tuple[Redis, list[str]]] = {}

    def add(self, client: Redis, keys: list[str]) -> None:
        if not keys:
            return
        with self.lock:
            _client, waiting = self.waiting.setdefault(id(client), (client, []))
            waiting += keys
            overflow = self.waiting.pop(id(client))[1] if len(waiting) > self.MAX else []
        if overflow:
            with contextlib.suppress(RedisError):
                client.delete(*overflow)

    def take(self, client: Redis) -> list[str]:
        with self.lock:
            return self.waiting.pop(id(client), (client, []))[1]

    def flush(self) -> None:
        """Delete every waiting marker now: one round trip per client."""
        with self.lock:
            waiting, self.waiting = list(self.waiting.values()), {}
        for client, keys in waiting:
            with contextlib.suppress(RedisError):
                client.delete(*keys)


_forgotten = _Forgotten()
forget_waiting_markers = _forgotten.flush
