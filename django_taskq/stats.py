"""The one place that gathers queue statistics (rqstats, the dashboard, stats.json, metrics).

Cost: one pipelined round trip per Redis connection, whatever the number of queues. It only
reads: no registry clean-up happens as a side effect.

``as_dict()`` is the documented document (docs/api-stats.rst): each queue carries django-rq
4.2's keys with their meaning (``jobs``, ``finished_jobs``... as its ``rqstats --json`` and
``stats.json`` give them) beside ours.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from django.utils.timezone import get_default_timezone
from redis.sentinel import SentinelConnectionPool

from .conf import taskq_settings
from .connections import ConnectionGroup, connection_groups
from .queues import REGISTRY_STATES, get_queue, state_registry
from .rq_compat.encoding import parse_timestamp
from .rq_compat.storage import scheduler_key, scheduler_lock_key, suspended_key, workers_key

SCHEMA_VERSION = 1
STATES = ("queued", *REGISTRY_STATES)

# The oldest job's enqueued_at, read in the same round trip as the counts.
_OLDEST_ENQUEUED_AT = """
local job_id = redis.call('LINDEX', KEYS[1], 0)
if not job_id then return false end
return redis.call('HGET', ARGV[1] .. job_id, 'enqueued_at')
"""

# The pid of the scheduler holding the queue's lock (what RQ's Queue.scheduler_pid reads).
_SCHEDULER_PID = """
local name = redis.call('GET', KEYS[1])
if not name then return false end
return redis.call('HGET', ARGV[1] .. name, 'pid')
"""

# Registries whose entries expire: RQ's len(registry) cleans the expired ones up first.
EXPIRING = ("started", "finished", "failed")

# django-rq's connection_kwargs: where and how a queue connects. Never a user name or password.
CONNECTION_KWARGS = (
    "host", "port", "db", "client_name", "service_name", "sentinels", "unix_socket_path", "path",
    "socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval",
    "protocol", "encoding", "decode_responses",
)  # fmt: skip


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
    # What django-rq shows besides the counts above:
    index: int  # position in RQ_QUEUES sorted by name (django-rq's queue index)
    connection_kwargs: dict[str, Any]
    scheduler_pid: int | None  # of the scheduler holding the queue's lock
    oldest_enqueued_at: datetime | None
    # Entries of the started, finished and failed registries past their expiry, which a
    # registry clean-up (rqclean, a worker's maintenance) will remove.
    expired: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """django-rq's keys (in its order), then ours."""
        oldest = self.oldest_enqueued_at
        local = oldest.astimezone(get_default_timezone()) if oldest is not None else None
        django_rq = {
            "name": self.name,
            "jobs": self.queued,
            "oldest_job_timestamp": local.strftime("%Y-%m-%d, %H:%M:%S") if local else "-",
            "index": self.index,
            # A copy per queue: YAML would otherwise write aliases for a shared value.
            "connection_kwargs": copy.deepcopy(self.connection_kwargs),
            "scheduler_pid": self.scheduler_pid,
            "workers": self.workers,
            "finished_jobs": self.unexpired("finished"),
            "started_jobs": self.unexpired("started"),
            "deferred_jobs": self.deferred,
            "failed_jobs": self.unexpired("failed"),
            "scheduled_jobs": self.scheduled,
        }
        ours = {key: value for key, value in asdict(self).items() if key in _OWN_KEYS}
        return {**django_rq, **ours}

    def unexpired(self, state: str) -> int:
        """Jobs of ``state`` as RQ's ``len(registry)`` counts them: without the expired entries."""
        count: int = getattr(self, state)
        return count - self.expired.get(state, 0)


_OWN_KEYS = (*STATES, "workers", "oldest_queued_age", "connection")


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
    # Jobs waiting in the outbox table (django_taskq.outbox.status): jobs, oldest_age, errors.
    outbox: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The documented JSON schema (docs/api-stats.rst); keys are stable."""
        return {
            "schema": SCHEMA_VERSION,
            "generated_at": self.generated_at.isoformat(),
            "queues": [queue.as_dict() for queue in self.queues],
            "connections": [asdict(conn) for conn in self.connections],
            **({"outbox": self.outbox} if self.outbox is not None else {}),
        }


def gather(queue_names: list[str] | None = None) -> Stats:
    """Statistics of ``queue_names`` (default: every configured queue), settings order."""
    wanted = set(queue_names) if queue_names is not None else None
    if wanted is not None:
        for name in wanted:
            taskq_settings.queue_config(name)  # UnknownQueueError for a bad name
    stats = Stats()
    indexes = {name: index for index, name in enumerate(sorted(taskq_settings.QUEUES))}
    for group in connection_groups(wanted):
        _gather_connection(group, stats, indexes)
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    stats.queues.sort(key=lambda queue: order[queue.name])
    from .outbox.status import outbox_status  # the model: imported once apps are ready

    stats.outbox = outbox_status().as_dict()  # one query per database
    return stats


def _gather_connection(group: ConnectionGroup, stats: Stats, indexes: dict[str, int]) -> None:
    location = group.location
    kwargs = connection_kwargs(group.client)
    queues = [get_queue(name) for name in group.names]
    pipe = group.client.pipeline(transaction=False)
    cutoff = int(datetime.now(timezone.utc).timestamp())  # RQ's clean-up cutoff: whole seconds
    for queue in queues:
        pipe.llen(queue.key)
        for state in REGISTRY_STATES:
            pipe.zcard(state_registry(queue, state).key)
        pipe.scard(workers_key(queue.name))
        pipe.eval(_OLDEST_ENQUEUED_AT, 1, queue.key, queue.job_class.redis_job_namespace_prefix)
        for state in ("started", "finished", "failed"):  # what RQ's clean-up removes: scores 0..now
            pipe.zcount(state_registry(queue, state).key, 0, cutoff)
        pipe.eval(_SCHEDULER_PID, 1, scheduler_lock_key(queue.name), scheduler_key(""))
    pipe.exists(suspended_key())
    pipe.scard(workers_key())
    replies = pipe.execute()
    now = datetime.now(timezone.utc)
    per_queue = 13
    for index, queue in enumerate(queues):
        values = replies[index * per_queue : (index + 1) * per_queue]
        enqueued_at = parse_timestamp(values[8])
        stats.queues.append(
            QueueStats(
                name=queue.name,
                **dict(zip((*STATES, "workers"), map(int, values[:8]), strict=True)),
                oldest_queued_age=_age(enqueued_at, now),
                connection=location,
                index=indexes[queue.name],
                connection_kwargs=kwargs,
                scheduler_pid=int(values[12]) if values[12] else None,
                oldest_enqueued_at=enqueued_at,
                expired=dict(zip(EXPIRING, map(int, values[9:12]), strict=True)),
            )
        )
    stats.connections.append(
        ConnectionStats(location, list(group.names), bool(replies[-2]), int(replies[-1]))
    )


def _age(enqueued_at: datetime | None, now: datetime) -> float | None:
    if enqueued_at is None:
        return None
    return max(0.0, round((now - enqueued_at).total_seconds(), 3))


def connection_kwargs(client: Any) -> dict[str, Any]:
    """django-rq's ``connection_kwargs`` of a client: host, port, db and the like, never a user name
    or password. Behind Sentinel: the first sentinel's host and port, every sentinel, the master's
    service name."""
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if isinstance(pool, SentinelConnectionPool):
        kwargs["service_name"] = pool.service_name
        sentinels = [
            sentinel.connection_pool.connection_kwargs for sentinel in pool.sentinel_manager.sentinels
        ]
        if sentinels:
            kwargs["host"], kwargs["port"] = sentinels[0].get("host"), sentinels[0].get("port")
            kwargs["sentinels"] = [
                [each["host"], each["port"]]
                for each in sentinels
                if each.get("host") is not None and each.get("port") is not None
            ]
    return {key: kwargs[key] for key in CONNECTION_KWARGS if kwargs.get(key) is not None}
