"""The committing process's side of the outbox, called by ``django_taskq.transactions``.

- ``store``: in ``outbox`` mode, inside the transaction, a row per job (jobs the queue writes
  with RQ's own code instead, see ``DjangoQueue.can_pipeline``, are not stored: they are
  written at the commit as in ``on_db_commit``).
- ``deliver``: after the commit, the fast path: push the stored jobs (one batch per Redis
  connection), delete their rows, forget their markers. What Redis refuses now stays for the
  relay; nothing raises into the view.
- ``keep``: in the default mode, jobs whose write at the commit failed because Redis was
  unreachable are stored instead (autocommit), for the relay.
- ``discard`` / ``discard_later``: a job stored in one database whose other database's
  transaction rolled back must not be delivered: its row is deleted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import redis
from django.db import DatabaseError, router, transaction

from ..connections import client_location
from ..models import OutboxJob
from . import rows
from .push import forget_markers, push

if TYPE_CHECKING:
    from ..transactions import PendingJob

__all__ = [
    "REDIS_UNREACHABLE",
    "by_connection",
    "committed_after_rollback",
    "delete_rows",
    "deliver",
    "discard",
    "discard_later",
    "flush_discarded",
    "keep",
    "rolled_back",
    "store",
]

logger = logging.getLogger("django_taskq")

REDIS_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def store(pendings: Sequence[PendingJob], aliases: Sequence[str]) -> None:
    """Store the jobs that can be stored in the database ``rows.storage_alias`` picks among the
    open transactions ``aliases``; ImproperlyConfigured if its table is missing."""
    storable = [pending for pending in pendings if pending.queue.can_pipeline(pending)]
    if storable:
        rows.store(storable, rows.storage_alias(aliases))


def by_connection(pendings: Iterable[PendingJob]) -> list[list[PendingJob]]:
    """The jobs grouped by the Redis client of their queue, in order."""
    batches: dict[int, list[PendingJob]] = {}
    for pending in pendings:
        batches.setdefault(id(pending.queue.connection), []).append(pending)
    return list(batches.values())


def _ids(pendings: Iterable[PendingJob]) -> str:
    return ", ".join(pending.job.id for pending in pendings)


def delete_rows(pendings: Iterable[PendingJob]) -> None:
    by_alias: dict[str, list[int]] = {}
    for pending in pendings:
        stored = rows.stored_row(pending)
        by_alias.setdefault(stored.alias, []).append(stored.pk)
    for alias, pks in by_alias.items():
        rows.delete(alias, pks)


def deliver(pendings: Sequence[PendingJob]) -> list[PendingJob]:
    """After their commit: push stored jobs exactly once and delete their rows. Returns the
    jobs this call pushed; the others stay in the outbox for the relay (a warning says why).

    Per database and Redis connection, one transaction takes the rows (deletes them, waiting
    for a relay that holds some), pushes the jobs whose rows it took, and commits; a failed
    push rolls the deletion back. Rows a relay delivered meanwhile are gone: not pushed again.
    """
    flush_discarded()
    pushed: list[PendingJob] = []
    for batch in _by_alias_and_connection(pendings):
        alias, client = rows.stored_row(batch[0]).alias, batch[0].queue.connection
        taken: list[PendingJob] = []
        try:
            with transaction.atomic(using=alias):
                mine = rows.take(alias, [rows.stored_row(pending).pk for pending in batch])
                taken = [pending for pending in batch if rows.stored_row(pending).pk in mine]
                if taken:
                    fresh, _pushed_before = push(taken)
                    pushed += fresh
        except (redis.RedisError, DatabaseError) as exc:
            where = client_location(client) if isinstance(exc, redis.RedisError) else f"database {alias!r}"
            logger.warning(
                "django_taskq: could not push jobs %s (%s: %s: %s); they stay in the outbox and "
                "the relay will push them",
                _ids(batch), where, type(exc).__name__, exc,
            )  # fmt: skip
            continue
        forget_markers(client, taken)
    return pushed


def _by_alias_and_connection(pendings: Iterable[PendingJob]) -> list[list[PendingJob]]:
    batches: dict[tuple[str, int], list[PendingJob]] = {}
    for pending in pendings:
        key = (rows.stored_row(pending).alias, id(pending.queue.connection))
        batches.setdefault(key, []).append(pending)
    return list(batches.values())


def keep(pendings: Sequence[PendingJob], error: Exception) -> list[PendingJob]:
    """Store jobs of a shared pipeline write (``DjangoQueue.can_pipeline``) that failed at the
    commit with ``error`` (Redis unreachable) in the outbox of ``router.db_for_write(OutboxJob)``,
    for the relay. Returns the jobs kept: none if the table is missing or the database fails
    too (the caller then raises as before)."""
    storable = list(pendings)
    if not storable:
        return []
    alias = router.db_for_write(OutboxJob)
    try:
        if not rows.table_exists(alias):
            logger.error(
                "django_taskq: no outbox table in database %r to keep jobs in. %s", alias, rows.MIGRATION_HINT
            )
            return []
        rows.store(storable, alias, after_failed_write=True)
    except DatabaseError:
        logger.exception("django_taskq: could not keep jobs %s in the outbox", _ids(storable))
        return []
    logger.warning(
        "django_taskq: Redis at %s unreachable at commit (%s: %s): jobs %s kept in the outbox of "
        "database %r; the relay will push them",
        client_location(storable[0].queue.connection), type(error).__name__, error, _ids(storable), alias,
    )  # fmt: skip
    return storable


# --- rows of jobs that must not be delivered -------------------------------------------------


class _Discarded(threading.local):
    def __init__(self) -> None:
        self.pendings: list[PendingJob] = []


_discarded = _Discarded()


def discard(pendings: Sequence[PendingJob]) -> None:
    """Delete the rows of stored jobs that must not run (another database rolled back)."""
    try:
        delete_rows(pendings)
    except DatabaseError:
        logger.exception("django_taskq: could not delete the outbox rows of jobs %s", _ids(pendings))


def committed_after_rollback(pending: PendingJob, alias: str) -> None:
    """``alias`` committed, but another transaction the job waited for rolled back: if its row
    is in ``alias``, it must not be delivered."""
    stored = pending.outbox
    if stored is not None and stored.alias == alias:
        discard([pending])


def rolled_back(pending: PendingJob, alias: str, waiting: set[str]) -> None:
    """The transaction on ``alias`` rolled back. The row went with it if it was there; if it is
    in a database that committed already (no longer in ``waiting``), it is deleted later (this
    runs where no I/O may happen); if that database is still open, its commit deletes it."""
    stored = pending.outbox
    if stored is not None and stored.alias != alias and stored.alias not in waiting:
        discard_later(pending)


def discard_later(pending: PendingJob) -> None:
    """``discard`` at this thread's next delivery or request end. No I/O: a garbage collection
    may call this anywhere."""
    _discarded.pendings.append(pending)


def flush_discarded() -> None:
    """Delete the rows ``discard_later`` noted (this thread)."""
    pendings, _discarded.pendings = _discarded.pendings, []
    if pendings:
        discard(pendings)
