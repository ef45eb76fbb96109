"""Rows a process deletes after the fact: those of jobs it pushed, and those of jobs that must
not run (another database of theirs rolled back).

Deleting the rows of a commit's jobs right after their push would cost a second database
commit per transaction. The process instead notes them and deletes them together: at the end
of the request (after the response is sent), or at its next push once ``BATCH`` jobs wait or
the oldest has waited ``MAX_WAIT`` seconds. Until then their markers say they were pushed; a
relay that meets them (the process died or went idle) only deletes them. The markers of pushed
jobs go once the rows' deletion is committed (``push.forget_markers``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.db import DatabaseError, connections

from . import rows
from .push import forget_markers, forget_waiting_markers

if TYPE_CHECKING:
    from ..transactions import PendingJob

__all__ = ["BATCH", "MAX_WAIT", "delete_due", "delete_later", "delete_now", "delete_rows"]

logger = logging.getLogger("django_taskq")

BATCH = 500  # jobs: one DELETE and its commit for that many
MAX_WAIT = 1.0  # seconds; the relay leaves rows younger than outbox.relay.MIN_AGE (longer)


class _Later(threading.local):
    def __init__(self) -> None:
        self.pendings: list[PendingJob] = []
        self.forgettable: list[PendingJob] = []  # pushed jobs whose markers go with their rows
        self.since = 0.0


_later = _Later()


def delete_rows(pendings: Iterable[PendingJob]) -> None:
    """One DELETE per database for these jobs' rows (DatabaseError propagates)."""
    by_alias: dict[str, set[int]] = {}
    for pending in pendings:
        stored = rows.stored_row(pending)
        by_alias.setdefault(stored.alias, set()).add(stored.pk)
    for alias, pks in by_alias.items():
        rows.delete(alias, pks)


def delete_later(
    pendings: Sequence[PendingJob], forgettable: Sequence[PendingJob] = (), *, urgent: bool = False
) -> None:
    """Note rows to delete (no I/O here: a garbage collection may call this anywhere);
    ``urgent``: at the next ``delete_due`` whatever the count and age."""
    if not _later.pendings:
        _later.since = time.monotonic()
    if urgent:
        _later.since = 0.0
    _later.pendings += pendings
    _later.forgettable += forgettable


def delete_due() -> None:
    """``delete_now`` if ``BATCH`` jobs wait or the oldest has waited ``MAX_WAIT`` seconds."""
    if _later.pendings and (len(_later.pendings) >= BATCH or time.monotonic() - _later.since >= MAX_WAIT):
        delete_now()


def delete_now() -> None:
    """Delete the rows noted in this thread, except in a database whose transaction is open
    (they wait for a later call), then forget the markers of the deleted rows' jobs."""
    waiting, forgettable = _later.pendings, {id(pending) for pending in _later.forgettable}
    _later.pendings, _later.forgettable = [], []
    now = [p for p in waiting if not connections[rows.stored_row(p).alias].in_atomic_block]
    later = [p for p in waiting if connections[rows.stored_row(p).alias].in_atomic_block]
    if later:
        delete_later(later, [p for p in later if id(p) in forgettable])
    if not now:
        return
    try:
        delete_rows(now)
    except DatabaseError:  # their markers stay: a relay meeting the rows only deletes them
        logger.exception("django_taskq: could not delete the outbox rows of jobs %s", _ids(now))
        return
    by_client: dict[int, list[PendingJob]] = {}
    for pending in now:
        if id(pending) in forgettable:
            by_client.setdefault(id(pending.queue.connection), []).append(pending)
    for batch in by_client.values():
        forget_markers(batch[0].queue.connection, batch)


def after_request() -> None:
    """At the end of a request (its response sent): every noted row, and the markers waiting."""
    delete_now()
    forget_waiting_markers()


def _ids(pendings: Iterable[PendingJob]) -> str:
    return ", ".join(pending.job.id for pending in pendings)
