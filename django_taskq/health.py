"""Which queues a live worker serves: the health probe (``rqhealth``) and anyone else who asks.

A worker is live while its Redis key exists: every heartbeat extends the key's expiry, so the
key disappears when heartbeats stop (the worker died or lost Redis). Cost: two pipelined round
trips per Redis connection, whatever the number of queues and workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from rq.suspension import WORKERS_SUSPENDED
from rq.utils import utcparse
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from .conf import taskq_settings
from .connections import describe, get_redis_connection, queues_by_connection


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
    for names in queues_by_connection().values():
        selected = [name for name in names if name in result.workers]
        if not selected:
            continue
        config = taskq_settings.QUEUES[selected[0]]
        client = get_redis_connection(config)
        pipe = client.pipeline(transaction=False)
        for name in selected:
            pipe.smembers(WORKERS_BY_QUEUE_KEY % name)
        pipe.exists(WORKERS_SUSPENDED)
        *members, suspended = pipe.execute()
        if suspended:
            result.suspended.append(describe(config))
        keys = sorted({_text(key) for group in members for key in group})
        if not keys:
            continue
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "last_heartbeat")
        beats = dict(zip(keys, pipe.execute(), strict=True))
        live = {
            key for key, beat in beats.items() if beat is not None and _fresh(beat, now, max_heartbeat_age)
        }
        for name, group in zip(selected, members, strict=True):
            result.workers[name] = sorted(
                _text(key).rsplit(":", 1)[-1] for key in group if _text(key) in live
            )
    return result


def _fresh(raw: bytes | str | None, now: datetime, max_age: float | None) -> bool:
    if raw is None:  # the worker's key expired: no heartbeat for its whole TTL
        return False
    if max_age is None:
        return True
    try:
        beat = utcparse(_text(raw))
    except ValueError:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=timezone.utc)
    return (now - beat).total_seconds() <= max_age


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
