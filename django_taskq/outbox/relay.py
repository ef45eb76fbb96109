"""The relay: pushes the jobs the committing processes left in the outbox.

Rows stay when Redis was unreachable at the commit, or when the process died between its
commit and its push. ``relay_once()`` delivers them: per database holding the table, it claims
the oldest rows in a transaction (``rows.claim``), pushes them exactly once (``push``), deletes
the delivered ones and commits, batch after batch. It runs in every ``rqworker`` (at start,
before the first job, then every ``WORKER_INTERVAL`` seconds between jobs: ``PeriodicRelay``)
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

from ..backoff import Backoff, sleep_unless
from ..conf import taskq_settings
from ..connections import client_location
from . import rows
from .commit import by_connection
from .push import BY_RELAY, forget_markers, push

if TYPE_CHECKING:
    from ..transactions import PendingJob

__all__ = ["BATCH_SIZE", "MIN_AGE", "WORKER_INTERVAL", "PeriodicRelay", "RelayResult", "relay_once"]

logger = logging.getLogger("django_taskq.outbox")

BATCH_SIZE = 500  # jobs per transaction (a row of more is taken alone)
# Rows younger than this are left to the process that stored them (its push normally follows
# the commit within milliseconds); taking them anyway would be safe, only wasted work.
MIN_AGE = 2.0
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
                more, delivered = _relay_batch(alias, sorted(wanted), batch_size, min_age, result, wanted)
                if not more or (not delivered and len(wanted) == before):
                    break  # all taken, or only rows that cannot be read are left
        except DatabaseError as exc:
            message = f"database {alias!r}: {type(exc).__name__}: {exc}"
            logger.warning("django_taskq: outbox relay: %s", message)
            result.errors.append(message)
    return result


def _relay_batch(
    alias: str, names: list[str], limit: int, min_age: float, result: RelayResult, wanted: set[str]
) -> tuple[bool, int]:
    """One transaction: claim, push, delete; (whether more rows may wait, jobs delivered).
    Queues whose Redis fails leave ``wanted``."""
    delivered: list[PendingJob] = []
    with transaction.atomic(using=alias):
        claimed, more = rows.claim(alias, names, limit=limit, min_age=min_age)
        pendings = []
        for row in claimed:
            try:
                pendings += rows.pendings_from_row(row, alias)
            except Exception:  # left in place, and said every pass
                logger.exception("django_taskq: outbox row %s (job %s) cannot be read", row.pk, row.job_id)
        forgettable: list[PendingJob] = []
        for batch in by_connection(pendings):
            try:
                pushed = push(batch, by=BY_RELAY)
            except redis.RedisError as exc:
                where = client_location(batch[0].queue.connection)
                message = f"Redis at {where}: {type(exc).__name__}: {exc}"
                logger.warning("django_taskq: outbox relay: %s; its jobs wait", message)
                result.errors.append(message)
                wanted.difference_update(pending.queue.name for pending in batch)
                continue
            result.pushed += len(pushed.fresh)
            result.found_pushed += len(pushed.before)
            delivered += batch
            forgettable += pushed.forgettable
        rows.delete(alias, [rows.stored_row(pending).pk for pending in delivered])
    for batch in by_connection(forgettable):
        forget_markers(batch[0].queue.connection, batch, now=True)
    return more, len(delivered)


class PeriodicRelay:
    """``relay_once`` again and again: every ``interval`` seconds, or after the one backoff of
    django-taskq while passes fail (a database or Redis down). Never raises.

    In a worker: ``run()`` at start, ``maybe_run()`` between jobs. In ``rqrelay``: ``run_until()``.
    """

    def __init__(
        self,
        interval: float = WORKER_INTERVAL,
        *,
        batch_size: int = BATCH_SIZE,
        queue_names: Iterable[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.queue_names = None if queue_names is None else list(queue_names)
        self.clock = clock
        self.backoff = Backoff(initial=interval)
        self.next_run = 0.0
        self.first = True  # the first pass takes young rows too: this process may start after a crash

    def maybe_run(self) -> RelayResult | None:
        return self.run() if self.clock() >= self.next_run else None

    def run(self) -> RelayResult:
        min_age, self.first = (0.0 if self.first else MIN_AGE), False
        try:
            result = relay_once(min_age=min_age, batch_size=self.batch_size, queue_names=self.queue_names)
        except Exception as exc:  # never the caller's problem
            logger.exception("django_taskq: outbox relay failed")
            result = RelayResult(errors=[f"{type(exc).__name__}: {exc}"])
        if result.errors:
            self.next_run = self.clock() + self.backoff.next_delay()
        else:
            self.backoff.reset()
            self.next_run = self.clock() + self.interval
        return result

    def run_until(self, stopped: Callable[[], bool], report: Callable[[RelayResult], None]) -> None:
        while not stopped():
            report(self.run())
            sleep_unless(stopped, max(0.0, self.next_run - self.clock()))
