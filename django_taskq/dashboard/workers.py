"""Who works on the queues, for the dashboard: live workers and the scheduler holding each queue.

Read-only, a fixed number of pipelined round trips per Redis connection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

import redis

from ..conf import taskq_settings
from ..connections import ConnectionGroup, connection_groups
from ..rq_compat.encoding import as_text
from ..rq_compat.storage import (
    WORKER_FIELDS,
    WorkerRecord,
    decode_worker,
    scheduler_lock_key,
    worker_executions_key,
    worker_key,
    worker_name,
    workers_key,
)


@dataclass
class WorkerInfo(WorkerRecord):
    connection: str = ""  # where the worker's Redis is (see connections.describe)


def list_workers(name: str | None = None, groups: list[ConnectionGroup] | None = None) -> list[WorkerInfo]:
    """Live workers of every connection (or of ``groups``), or the one named: two round trips per
    connection. A key of another type than a hash is no worker."""
    workers: list[WorkerInfo] = []
    for group in connection_groups() if groups is None else groups:
        client = group.client
        if name is None:
            keys = sorted(as_text(key) for key in client.smembers(workers_key()))  # type: ignore[union-attr]
        else:
            keys = [worker_key(name)]
        if not keys:
            continue
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, WORKER_FIELDS)
            pipe.smembers(worker_executions_key(worker_name(key)))
        replies = pipe.execute(raise_on_error=False)  # WRONGTYPE: a key that is no worker hash
        for index, key in enumerate(keys):
            values, executions = replies[index * 2], replies[index * 2 + 1]
            if isinstance(values, redis.ResponseError):
                continue
            if isinstance(executions, redis.ResponseError):
                executions = ()
            record = decode_worker(key, values, executions)
            if not _alive(record):
                continue
            workers.append(WorkerInfo(**asdict(record), connection=group.location))
        if name is not None and workers:
            break
    return workers


def worker_is_live(client: Any, name: str) -> bool:
    """Whether worker ``name`` runs on ``client``'s Redis (as ``list_workers`` sees it): one round trip."""
    try:
        values = client.hmget(worker_key(name), WORKER_FIELDS)
    except redis.ResponseError:  # WRONGTYPE: a key that is no worker hash
        return False
    return _alive(decode_worker(worker_key(name), values))


def _alive(record: WorkerRecord | None) -> TypeGuard[WorkerRecord]:
    return record is not None and record.death is None  # expired, or registered its death


@dataclass
class SchedulerInfo:
    queue: str
    holder: str  # the scheduler (worker) name holding the queue's lock, "" when none


def scheduler_status(groups: list[ConnectionGroup] | None = None) -> list[SchedulerInfo]:
    """Which scheduler holds each queue's lock: one round trip per connection (of ``groups``)."""
    infos: list[SchedulerInfo] = []
    for group in connection_groups() if groups is None else groups:
        pipe = group.client.pipeline(transaction=False)
        for queue_name in group.names:
            pipe.get(scheduler_lock_key(queue_name))
        for queue_name, holder in zip(group.names, pipe.execute(), strict=True):
            infos.append(SchedulerInfo(queue=queue_name, holder=as_text(holder)))
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    infos.sort(key=lambda info: order[info.queue])
    return infos
