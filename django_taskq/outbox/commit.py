"""The committing process's side of the outbox, called by ``django_taskq.transactions``.

- ``store``: in ``outbox`` mode, inside the transaction, a row per job (jobs the queue writes
  with RQ's own code instead, see ``DjangoQueue.can_pipeline``, are not stored: they are
  written at the commit as in ``on_db_commit``).
- ``deliver``: after the commit, the fast path: push the stored jobs (one round trip per
  Redis connection) and note their rows for deletion (``cleanup``). What Redis refuses now
  stays for the relay; nothing raises into the view.
- ``keep``: in the default mode, jobs whose write at the commit failed because Redis was
  unreachable are stored instead (autocommit), for the relay.
- ``committed_after_rollback`` / ``rolled_back``: a job stored in one database whose other
  database's transaction rolled back must not be delivered: its row is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import redis
from django.db import DatabaseError, router

from ..connections import client_location
from ..models import OutboxJob
from . import cleanup, rows
from .push import BY_FAST_PATH, push

if TYPE_CHECKING:
    from ..transactions import PendingJob

__all__ = [
    "REDIS_UNREACHABLE",
    "by_connection",
    "committed_after_rollback",
    "deliver",
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


def deliver(pendings: Sequence[PendingJob]) -> list[PendingJob]:
    """After their commit: push stored jobs exactly once (``push.push``, which a relay that met
    them first makes a no-op) and note their rows for deletion (``cleanup``). Returns the jobs
    this call pushed; those Redis refuses stay in the outbox for the relay (a warning says why).
    """
    pushed: list[PendingJob] = []
    for batch in by_connection(pendings):
        client = batch[0].queue.connection
        try:
            result = push(batch, by=BY_FAST_PATH)
        except redis.RedisError as exc:
            logger.warning(
                "django_taskq: could not push jobs %s to Redis at %s (%s: %s); they stay in the "
                "outbox and the relay will push them",
                _ids(batch), client_location(client), type(exc).__name__, exc,
            )  # fmt: skip
            continue
        pushed += result.fresh
        cleanup.delete_later(batch, result.forgettable)
    cleanup.delete_due()
    return pushed


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


def committed_after_rollback(pending: PendingJob, alias: str) -> None:
    """``alias`` committed, but another transaction the job waited for rolled back: if its row
    is in ``alias``, it must not be delivered: deleted now."""
    stored = pending.outbox
    if stored is not None and stored.alias == alias:
        try:
            cleanup.delete_rows([pending])
        except DatabaseError:
            logger.exception("django_taskq: could not delete the outbox row of job %s", pending.job.id)


def rolled_back(pending: PendingJob, alias: str, waiting: set[str]) -> None:
    """The transaction on ``alias`` rolled back. The row went with it if it was there; if it is
    in a database that committed already (no longer in ``waiting``), it is deleted with this
    thread's next push or at the end of the request (this runs where no I/O may happen); if
    that database is still open, its commit deletes it."""
    stored = pending.outbox
    if stored is not None and stored.alias != alias and stored.alias not in waiting:
        cleanup.delete_later([pending], urgent=True)
