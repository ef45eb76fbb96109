"""Database connections around jobs and forks: a job never starts on a connection that a
previous job broke, left inside a transaction, or that belongs to another process."""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import connections

# Connection objects a forked child inherited: referenced forever, so that garbage collection
# never closes them (that would end the parent's sessions on the server).
_inherited: list[Any] = []


def in_transaction() -> set[str]:
    """Aliases of the database connections inside an atomic block right now."""
    return {conn.alias for conn in connections.all(initialized_only=True) if conn.in_atomic_block}


def discard_connection(alias: str, *, close: bool = True) -> None:
    """Give ``alias`` a new connection object in this thread, closing the old one's socket
    (or, ``close=False``, keeping it open and referenced: it is another process's).

    The next ``connections[alias]`` starts outside any transaction, whatever the old object's
    state: Django refuses to reconnect a connection closed inside an atomic block, and has no
    public way out of a block a job never left. Dropping the per-thread object from the
    handler leaves Django's private transaction state untouched.
    """
    conn = connections[alias]
    if close:
        with contextlib.suppress(Exception):
            conn.close()
    else:
        _inherited.append(conn)
    del connections[alias]


def close_unusable_db_connections(keep: frozenset[str] | set[str] = frozenset()) -> None:
    """Close the database connections a job left broken, inside a transaction, or past CONN_MAX_AGE.

    ``keep``: aliases whose transaction belongs to the caller (a test running jobs in-process),
    left alone. Stricter than Django's own check: any connection that saw an error is closed,
    because some backends (SQLite) report a closed handle as usable.
    """
    for conn in connections.all(initialized_only=True):
        if conn.alias in keep or conn.connection is None:
            continue
        if conn.in_atomic_block or conn.needs_rollback or conn.errors_occurred:
            # The job left a transaction open or broke the connection: the next job starts clean.
            discard_connection(conn.alias)
            continue
        with contextlib.suppress(Exception):
            conn.close_if_unusable_or_obsolete()


def close_db_connections_before_fork() -> None:
    """Close the idle database connections so a child process never inherits their sockets."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            with contextlib.suppress(Exception):
                conn.close()


def forget_inherited_db_connections() -> None:
    """In a forked child: drop the database connections of the parent without closing them;
    the child opens its own when needed."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            discard_connection(conn.alias, close=False)
