"""The relay: pushes the jobs the committing processes left in the outbox.

Rows stay when Redis was unreachable at the commit, or when the process died between its
commit and its push. ``relay_once()`` delivers them: per database holding the table, it claims
the oldest rows in a transaction (``rows.claim``), pushes them exactly once (``push``), deletes
the delivered ones and commits, batch after batch. It runs in every ``rqworker`` (at start,
before the first job, then every ``WORKER_INTERVAL`` seconds between jobs: ``WorkerRelay``)
and as ``manage.py rqrelay``.

Cost when the outbox is empty: one indexed SELECT per database per pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
from django.db import DatabaseError, transaction

from ..backoff import Backoff
from ..conf import taskq_settings
from ..connections import client_location
from . import rows
from .commit import by_connection
from .push import forget_markers, push

if TYPE_CHECKING:
    from ..transactions import PendingJob

__all__ = ["BATCH_SIZE", "MIN_AGE", "WORKER_INTERVAL", "RelayResult", "WorkerRelay", "relay_once"]

logger = logging.getLogger("django_taskq.outbox")

BATCH_SIZE = 500
# Rows younger than this are left to the process that stored them (its push normally follows
# the commit within milliseconds); taking them anyway would be safe, only wasted work.
MIN_AGE = 1.0
WORKER_INTERVAL = 5.0


@dataclass
class RelayResult:
    pushed: int = 0  # jobs this pass put on their queues
    found_pushed: int = 0  # rows whose job was already in Redis (their rows deleted)
    errors: list[str] = field(default_factory=list)  # what failed, safe to show (no password)


def relay_once(
    *, min_age: float = MIN_AGE, batch_size: int = BATCH_SIZE, queue_names: Iterable[str] | None = None
) -> RelayResult:
    """Deliver every row stored ``min_age`` seconds ago or more (of ``queue_names``: all the
    queues of RQ_QUEUES by default). Errors are logged and listed in the result, never raised."""
    result = RelayResult()
    names = set(taskq_settings.QUEUES) if queue_names is None else set(queue_names)
    for alias in rows.outbox_aliases():
        try:
            if not rows.table_exists(alias):
                continue  # flagged by check django_taskq.W060
            wanted = set(names)
            while wanted:
                before = len(wanted)
                claimed, delivered = _relay_batch(alias, sorted(wanted), batch_size, min_age, result, wanted)
                if claimed < batch_size or (not delivered and len(wanted) == before):
                    break  # all taken, or only rows that cannot be read are left
        except DatabaseError as exc:
            message = f"database {alias!r}: {type(exc).__name__}: {exc}"
            logger.warning("django_taskq: outbox relay: %s", message)
            result.errors.append(message)
    return result


def _relay_batch(
    alias: str, names: list[str], limit: int, min_age: float, result: RelayResult, wanted: set[str]
) -> tuple[int, int]:
    """One transaction: claim, push, delete; (rows claimed, rows delivered). Queues whose
    Redis fails leave ``wanted``."""
    delivered: list[PendingJob] = []
    with transaction.atomic(using=alias):
        claimed = rows.claim(alias, names, limit=limit, min_age=min_age)
        pendings = []
        for row in claimed:
            try:
                pendings.append(rows.pending_from_row(row, alias))
            except Exception:  # left in place, and said every pass
                logger.exception("django_taskq: outbox row %s (job %s) cannot be read", row.pk, row.job_id)
        for batch in by_connection(pendings):
            try:
                fresh, before = push(batch)
            except redis.RedisError as exc:
                where = client_location(batch[0].queue.connection)
                message = f"Redis at {where}: {type(exc).__name__}: {exc}"
                logger.warning("django_taskq: outbox relay: %s; its jobs wait", message)
                result.errors.append(message)
                wanted.difference_update(pending.queue.name for pending in batch)
                continue
            result.pushed += len(fresh)
            result.found_pushed += len(before)
            delivered += batch
        rows.delete(alias, [rows.stored_row(pending).pk for pending in delivered])
    for batch in by_connection(delivered):
        forget_markers(batch[0].queue.connection, batch)
    return len(claimed), len(delivered)


class WorkerRelay:
    """The relay inside a worker: ``run()`` at start, ``maybe_run()`` between jobs.

    A failing pass (database or Redis down) is retried with the one backoff of django-taskq;
    the worker itself never fails because of it.
    """

    def __init__(
        self, interval: float = WORKER_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.backoff = Backoff(initial=interval)
        self.next_run = 0.0

    def maybe_run(self) -> None:
        if self.clock() >= self.next_run:
            self.run()

    def run(self) -> None:
        try:
            failed = bool(relay_once().errors)
        except Exception:  # never the worker's problem
            logger.exception("django_taskq: outbox relay failed")
            failed = True
        if failed:
            self.next_run = self.clock() + self.backoff.next_delay()
        else:
            self.backoff.reset()
            self.next_run = self.clock() + self.interval
