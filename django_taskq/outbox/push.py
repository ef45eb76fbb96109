"""Pushing stored jobs to Redis exactly once, however many processes try and whenever they crash.

Each stored job has a token; its delivery marker ``taskq:outbox:<token>`` is set in the same
MULTI/EXEC that writes the job, under a WATCH of the marker:

1. ``WATCH`` the markers, then read them (one script, one round trip);
2. ``MULTI``: for each job whose marker is absent, ``SET`` the marker and write the job with
   the queue's own pipelined write (``DjangoQueue.write_pending``), then ``EXEC``.

If another process pushed one of these jobs between 1 and 2, its marker changed and EXEC writes
nothing (WatchError): the batch is read again. The marker outlives the row (it is deleted
only once the row is, and expires after ``MARKER_TTL`` anyway), so a process that finds the
row later finds the marker too. A job kept after a failed write at commit
(``after_failed_write``) also counts as pushed when its job hash exists: that write may have
reached Redis before its reply was lost.

Cost per batch of one connection: three round trips (WATCH, read, MULTI/EXEC).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.exceptions import RedisError, WatchError

from ..rq_compat.hooks import enqueue_wrapped
from .rows import stored_row

if TYPE_CHECKING:
    from redis import Redis

    from ..queues import DjangoQueue
    from ..transactions import PendingJob

__all__ = ["MARKER_PREFIX", "MARKER_TTL", "forget_markers", "marker_key", "push"]

MARKER_PREFIX = "taskq:outbox:"
# How long a marker stays if its row is never seen deleted (a process killed in between): a
# row found after that is pushed again.
MARKER_TTL = 7 * 24 * 3600

# KEYS: marker, job hash, marker, job hash, ...; ARGV[i]: '1' when job i also counts as pushed
# if its hash exists. Returns 1 for each job already pushed, 0 for the others.
_PUSHED_LUA = """
local pushed = {}
for i = 1, #ARGV do
    local found = redis.call('EXISTS', KEYS[2 * i - 1]) == 1
    if not found and ARGV[i] == '1' then found = redis.call('EXISTS', KEYS[2 * i]) == 1 end
    pushed[i] = found and 1 or 0
end
return pushed
"""


def marker_key(token: str) -> str:
    return MARKER_PREFIX + token


def push(pendings: Sequence[PendingJob]) -> tuple[list[PendingJob], list[PendingJob]]:
    """Push stored jobs that share one Redis connection: (pushed now, pushed before by anyone).

    Redis errors propagate; then nothing of this batch was written, or all of it was.
    """
    client: Redis = pendings[0].queue.connection
    markers = [marker_key(stored_row(pending).token) for pending in pendings]
    keys: list[str] = []
    flags: list[str] = []
    for pending, marker in zip(pendings, markers, strict=True):
        keys += (marker, pending.job.key)
        flags.append("1" if stored_row(pending).after_failed_write else "0")
    wrapped = enqueue_wrapped()  # then RQ's own enqueue writes each job, on the MULTI
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*markers)  # type: ignore[no-untyped-call]
                pushed_before = pipe.eval(_PUSHED_LUA, len(keys), *keys, *flags)
                fresh = [p for p, seen in zip(pendings, pushed_before, strict=True) if not seen]
                if not fresh:
                    pipe.reset()
                    return [], list(pendings)
                pipe.multi()
                queues: dict[str, DjangoQueue] = {}
                for pending in fresh:
                    pipe.set(marker_key(stored_row(pending).token), b"1", ex=MARKER_TTL)
                    pending.queue.write_pending(pending, pipe, through_rq=wrapped)
                    queues[pending.queue.key] = pending.queue
                for queue in queues.values():
                    pipe.sadd(queue.redis_queues_keys, queue.key)
                pipe.execute()
            except WatchError:  # another process pushed one of them meanwhile: read again
                continue
            done = {id(pending) for pending in fresh}
            return fresh, [pending for pending in pendings if id(pending) not in done]


def forget_markers(client: Redis, pendings: Sequence[PendingJob]) -> None:
    """Delete the markers of jobs whose rows are deleted (committed): nobody can find them now.
    Best effort: a marker left behind expires after ``MARKER_TTL``."""
    if pendings:
        with contextlib.suppress(RedisError):
            client.delete(*(marker_key(stored_row(pending).token) for pending in pendings))
