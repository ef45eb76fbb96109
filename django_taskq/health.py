"""Which queues a live worker serves: the health probe (``rqhealth``) and anyone else who asks.

A worker is live while its Redis key exists: every heartbeat extends the key's expiry, so the
key disappears when heartbeats stop (the worker died or lost Redis). Cost: two pipelined round
trips per Redis connection, whatever the number of queues and workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .conf import taskq_settings
from .connections import connection_groups
from .rq_compat.encoding import as_text
from .rq_compat.storage import (
    WORKER_FIELDS,
    WorkerRecord,
    decode_worker,
    suspended_key,
    worker_name,
    workers_key,
)


@dataclass
class Coverage:
    """Live workers per queue, and the connections whose workers are suspended."""

    workers: dict[str, list[str]] = field(default_factory=dict)  # queue name -> live worker names
    suspended: list[str] = field(default_factory=list)  # locations

    @property
    def uncovered(self) -> list[str]:
        return [name for name, workers in self.workers.items() if not workers]


def coverage(queue_names: list[str], *, max_heartbeat_age: float | None = None) -> Coverage:
    """Live workers of each queue in ``queue_names`` (settings must define them).

    ``max_heartbeat_age`` also requires a heartbeat at most that many seconds old; RQ workers
    beat about every ``worker_ttl - 15`` seconds when idle, so keep it above the worker TTL.
    """
    for name in queue_names:
        taskq_settings.queue_config(name)  # UnknownQueueError for a bad name
    result = Coverage(workers={name: [] for name in queue_names})
    now = datetime.now(timezone.utc)
    for group in connection_groups(queue_names):
        pipe = group.client.pipeline(transaction=False)
        for name in group.names:
            pipe.smembers(workers_key(name))
        pipe.exists(suspended_key())
        *members, suspended = pipe.execute()
        if suspended:
            result.suspended.append(group.location)
        keys = sorted({as_text(key) for queue_keys in members for key in queue_keys})
        if not keys:
            continue
        pipe = group.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, WORKER_FIELDS)
        live = {
            key
            for key, values in zip(keys, pipe.execute(), strict=True)
            if _alive(decode_worker(key, values), now, max_heartbeat_age)
        }
        for name, keys_of_queue in zip(group.names, members, strict=True):
            result.workers[name] = sorted(
                worker_name(key) for key in map(as_text, keys_of_queue) if key in live
            )
    return result


def _alive(worker: WorkerRecord | None, now: datetime, max_age: float | None) -> bool:
    beat = worker.last_heartbeat if worker is not None else None
    if beat is None:  # the worker's key expired: no heartbeat for its whole TTL
        return False
    return max_age is None or (now - beat).total_seconds() <= max_age
