"""Fork hygiene for every process django-taskq forks: no orphans, no lost stop signals, no
monitoring events lost when a forked process ends."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

from rq.scheduler import RQScheduler

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
TELEMETRY_FLUSH_TIMEOUT = 5.0  # seconds each monitoring SDK may take to deliver what it holds


def flush_telemetry() -> None:
    """Deliver what the monitoring SDKs hold in memory (sentry-sdk's events, OpenTelemetry's
    spans), waiting at most ``TELEMETRY_FLUSH_TIMEOUT`` for each.

    Called before a forked process ends with ``os._exit``, which skips the SDKs' own exit-time
    flush, and before a fork, so that a child never inherits (and sends again) events its
    parent had not sent yet. Only SDKs that this process imported and set up are touched; a
    failing SDK never stops the caller.
    """
    sentry_sdk = sys.modules.get("sentry_sdk")
    if sentry_sdk is not None:
        with contextlib.suppress(Exception):
            if sentry_sdk.is_initialized():
                sentry_sdk.flush(timeout=TELEMETRY_FLUSH_TIMEOUT)
    trace = sys.modules.get("opentelemetry.trace")
    if trace is not None:
        with contextlib.suppress(Exception):
            force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
            if force_flush is not None:  # the SDK's provider (the API's default has none)
                force_flush(int(TELEMETRY_FLUSH_TIMEOUT * 1000))


def die_with_parent(parent_pid: int) -> None:
    """In a forked child: ask Linux to SIGKILL this process when its parent dies (no orphans).

    ``parent_pid`` is the parent's pid, taken before the fork: if the parent died before the
    request took effect, this child exits at once.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while a child is forked and recorded, so that the parent's
    handler, run when they are let through, knows the child to pass them on to."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def restore_stop_signals() -> None:
    """In a child forked under ``stop_signals_held``: default handlers, then signals let through
    (the parent's handler, run here, would swallow them)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@functools.cache
def ending_with_its_worker(scheduler_class: type[RQScheduler]) -> type[RQScheduler]:
    """``scheduler_class`` whose process (forked by the worker) dies with the worker.

    RQ's scheduler process would outlive a SIGKILLed worker, orphaned, holding the scheduler
    lock and running old code until someone kills it by hand.
    """

    class Scheduler(scheduler_class):  # type: ignore[valid-type,misc]
        def start(self) -> Any:
            self._taskq_worker_pid = os.getpid()
            return super().start()

        def work(self) -> Any:
            die_with_parent(self._taskq_worker_pid)
            return super().work()

    return Scheduler
