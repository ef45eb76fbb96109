"""A local Sentry envelope receiver, the jobs the observability tests run, and the enqueuing
side of those tests (run as ``python -m tests.observability_helpers enqueue PATH...`` with
``tests.observability_settings``, so that sentry-sdk patches RQ in that process, never in pytest's).
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django_taskq.backends.compat import task
from django_taskq.decorators import job

logger = logging.getLogger("tests.observability")


class JobFailed(Exception):
    """What ``fail`` raises: its message is the tag of the job."""


def fail(tag: str) -> None:
    logger.info("failing on purpose: %s", tag)
    raise JobFailed(tag)


def traced(name: str) -> None:
    """Record an OpenTelemetry span named ``name`` (exported in batches, not at once)."""
    from opentelemetry import trace

    with trace.get_tracer("tests.observability").start_as_current_span(name):
        pass


@job("default")
def fail_later(tag: str) -> None:
    fail(tag)


@task
def failing_task(tag: str) -> None:
    fail(tag)


# --- the enqueuing side --------------------------------------------------------------------


def _task_enqueue(tag: str) -> None:
    failing_task.enqueue(tag)


def _commit(tag: str) -> None:
    from django.db import transaction

    with transaction.atomic():
        fail_later.delay(tag)


def _many(tag: str) -> None:
    from rq.queue import Queue

    from django_taskq import get_queue

    get_queue().enqueue_many([Queue.prepare_data(fail, (tag,))])


def _scheduled(tag: str) -> None:
    from django_taskq import enqueue_in

    enqueue_in(timedelta(seconds=0), fail, tag)


def _immediate(tag: str) -> None:
    from django_taskq import enqueue

    enqueue(fail, tag)


ENQUEUE_PATHS: dict[str, Callable[[str], None]] = {
    "immediate": _immediate,
    "commit": _commit,
    "many": _many,
    "task": _task_enqueue,
    "scheduled": _scheduled,
}


def enqueue_main(paths: list[str]) -> None:
    """Enqueue a failing job per path inside one Sentry transaction; print its trace id."""
    import sentry_sdk
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    with sentry_sdk.start_transaction(name="enqueue", op="test") as transaction:
        for path in paths:
            ENQUEUE_PATHS[path](path)
    sentry_sdk.flush()
    print(transaction.trace_id)


# --- the receiving side --------------------------------------------------------------------


class EnvelopeReceiver:
    """A Sentry ingest endpoint on 127.0.0.1 that records every envelope's items.

    ``delay``: seconds it waits before answering (a slow Sentry); items are recorded first.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.lock:
                    receiver.items.extend(parse_envelope(body))
                time.sleep(receiver.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def dsn(self) -> str:
        return f"http://key@127.0.0.1:{self.server.server_address[1]}/1"

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Items of type ``kind`` (``event``: errors, ``transaction``...) received so far."""
        with self.lock:
            return [payload for item_type, payload in self.items if item_type == kind]

    @contextmanager
    def running(self) -> Iterator[EnvelopeReceiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join()


def parse_envelope(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (type, JSON payload) items of a Sentry envelope (non-JSON payloads as {})."""
    _, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        length = header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        try:
            items.append((header.get("type", ""), json.loads(payload)))
        except ValueError:
            items.append((header.get("type", ""), {}))
    return items


def error_tags(event: dict[str, Any]) -> list[str]:
    """The messages of the exceptions of an error event (our jobs' tags)."""
    return [value.get("value", "") for value in event.get("exception", {}).get("values", [])]


if __name__ == "__main__" and sys.argv[1:2] == ["enqueue"]:
    import django

    django.setup()
    # This file's functions by their importable name, not as __main__'s.
    from tests.observability_helpers import enqueue_main as main

    main(sys.argv[2:])
