"""The one place that gathers queue statistics (rqstats, the dashboard, stats.json, metrics).

Cost: one pipelined round trip per Redis connection, whatever the number of queues. It only
reads: no registry clean-up happens as a side effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .conf import taskq_settings
from .connections import ConnectionGroup, connection_groups
from .queues import get_queue
from .rq_compat.encoding import parse_timestamp
from .rq_compat.storage import suspended_key, workers_key

SCHEMA_VERSION = 1
STATES = ("queued", "started", "deferred", "finished", "failed", "scheduled", "canceled")

# The oldest job's enqueued_at, read in the same round trip as the counts.
_OLDEST_ENQUEUED_AT = """
local job_id = redis.call('LINDEX', KEYS[1], 0)
if not job_id then return false end
return redis.call('HGET', ARGV[1] .. job_id, 'enqueued_at')
"""


@dataclass
class QueueStats:
    name: str
    queued: int
    started: int
    deferred: int
    finished: int
    failed: int
    scheduled: int
    canceled: int
    workers: int
    oldest_queued_age: float | None  # seconds, None when the queue is empty
    connection: str


@dataclass
class ConnectionStats:
    location: str  # host/port/db or socket, never a password
    queues: list[str]
    suspended: bool
    workers: int


@dataclass
class Stats:
    queues: list[QueueStats] = field(default_factory=list)
    connections: list[ConnectionStats] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON schema (docs/api-stats.rst); keys are stable."""
        return {
            "schema": SCHEMA_VERSION,
            "generated_at": self.generated_at.isoformat(),
            "queues": [asdict(queue) for queue in self.queues],
            "connections": [asdict(conn) for conn in self.connections],
        }


def gather(queue_names: list[str] | None = None) -> Stats:
    """Statistics of ``queue_names`` (default: every configured queue), settings order."""
    wanted = set(queue_names) if queue_names is not None else None
    if wanted is not None:
        for name in wanted:
            taskq_settings.queue_config(name)  # UnknownQueueError for a bad name
    stats = Stats()
    for group in connection_groups(wanted):
        _gather_connection(group, stats)
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    stats.queues.sort(key=lambda queue: order[queue.name])
    return stats


def _gather_connection(group: ConnectionGroup, stats: Stats) -> None:
    location = group.location
    queues = [get_queue(name) for name in group.names]
    pipe = group.client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue.key)
        for registry in (
            queue.started_job_registry,
            queue.deferred_job_registry,
            queue.finished_job_registry,
            queue.failed_job_registry,
            queue.scheduled_job_registry,
            queue.canceled_job_registry,
        ):
            pipe.zcard(registry.key)
        pipe.scard(workers_key(queue.name))
        pipe.eval(_OLDEST_ENQUEUED_AT, 1, queue.key, queue.job_class.redis_job_namespace_prefix)
    pipe.exists(suspended_key())
    pipe.scard(workers_key())
    replies = pipe.execute()
    now = datetime.now(timezone.utc)
    per_queue = 9
    for index, queue in enumerate(queues):
        values = replies[index * per_queue : (index + 1) * per_queue]
        stats.queues.append(
            QueueStats(
                name=queue.name,
                **dict(zip((*STATES, "workers"), map(int, values[:8]), strict=True)),
                oldest_queued_age=_age(values[8], now),
                connection=location,
            )
        )
    stats.connections.append(
        ConnectionStats(location, list(group.names), bool(replies[-2]), int(replies[-1]))
    )


def _age(raw: bytes | None, now: datetime) -> float | None:
    enqueued_at = parse_timestamp(raw)
    if enqueued_at is None:
        return None
    return max(0.0, round((now - enqueued_at).total_seconds(), 3))
