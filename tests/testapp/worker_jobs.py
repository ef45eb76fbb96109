"""Job functions for the worker tests (importable by worker processes)."""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

from django.db import connections

from django_taskq.connections import get_connection

ORDER_KEY = "taskq-test:order"
STARTED_KEY = "taskq-test:started"
HANDLED_KEY = "taskq-test:handled"


def record(tag: str) -> str:
    get_connection("default").rpush(ORDER_KEY, tag)
    return tag


def slow(seconds: float, tag: str = "slow") -> str:
    get_connection("default").rpush(STARTED_KEY, tag)
    time.sleep(seconds)
    return record(tag)


def crash() -> None:
    os._exit(1)


def pid() -> int:
    return os.getpid()


def break_db(alias: str) -> None:
    """Leave the database connection of ``alias`` unusable, then fail."""
    connection = connections[alias]
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    else:
        connection.connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def db_query(alias: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


def load_module(name: str) -> str:
    return importlib.import_module(name).__name__


def record_exception(job: Any, exc_type: Any, exc_value: Any, tb: Any) -> bool:
    """An RQ_EXCEPTION_HANDLERS entry: remembers which jobs it saw."""
    get_connection("default").rpush(HANDLED_KEY, f"{job.id}:{exc_type.__name__}")
    return True


def slow_once(seconds: float, tag: str) -> str:
    """Slow on the first attempt only (for retry tests)."""
    if get_connection("default").incr(f"taskq-test:attempts:{tag}") == 1:
        return slow(seconds, tag)
    return record(tag)


def ignore_stop_signals() -> str:
    """Leave the process that runs it deaf to SIGTERM and SIGINT (a stand-in for a stuck worker)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    return "deaf"
