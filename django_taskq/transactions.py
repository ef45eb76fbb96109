"""When an enqueue reaches Redis: at once, when the database commits, or when the request ends."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.core.signals import got_request_exception, request_finished, request_started
from django.db import connections, transaction
from django.dispatch import receiver

if TYPE_CHECKING:
    from rq.job import Job

    from .queues import DjangoQueue

logger = logging.getLogger("django_taskq")


@dataclass
class PendingJob:
    """A job created in memory (its id fixed) and not yet written to Redis."""

    queue: DjangoQueue
    job: Job
    at_front: bool = False
    scheduled_for: datetime | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _ThreadState(threading.local):
    in_request: bool = False
    request_jobs: list[PendingJob] = field(default_factory=list)
    commit_jobs: list[PendingJob] = field(default_factory=list)
    commit_run: int = 0
    observers: list[Callable[[PendingJob], None]] = field(default_factory=list)


_state = _ThreadState()


def submit(pending: PendingJob | list[PendingJob], mode: str) -> None:
    """Write jobs now, or arrange for them to be written when ``mode`` says."""
    pendings = pending if isinstance(pending, list) else [pending]
    if mode == "on_db_commit":
        aliases = open_transactions()
        if aliases:
            for item in pendings:
                wait = _Wait(item, set(aliases))
                for alias in aliases:
                    transaction.on_commit(_CommitHook(wait, alias), using=alias)
            return
    elif mode == "request_finished" and _state.in_request:
        _state.request_jobs.extend(pendings)
        return
    write(pendings)


def open_transactions() -> list[str]:
    """Aliases of the databases with an atomic block open in this thread."""
    return [conn.alias for conn in connections.all(initialized_only=True) if conn.in_atomic_block]


@dataclass
class _Wait:
    """A deferred job and the databases whose transactions must still commit before it is written.

    A rollback on any of them discards that database's hook, so the job is never written.
    """

    pending: PendingJob
    aliases: set[str]


class _CommitHook:
    """An on_commit callback for one job and one database; the last hook of a commit run
    writes every job collected in that run at once (one pipeline per connection)."""

    def __init__(self, wait: _Wait, alias: str) -> None:
        self.wait = wait
        self.alias = alias
        self.fired = False

    def __call__(self) -> None:
        self.fired = True
        self.wait.aliases.discard(self.alias)
        hooks = _hooks_being_run()
        if hooks is None:
            hooks = getattr(connections[self.alias], "run_on_commit", None) or []
        if _state.commit_run != id(hooks) and _state.commit_jobs:
            # A run of commit hooks that another app's failing hook cut short: those
            # transactions did commit, so their jobs are written now rather than lost.
            stale, _state.commit_jobs = _state.commit_jobs, []
            write(stale)
        _state.commit_run = id(hooks)
        if not self.wait.aliases:  # else another database's transaction is still open
            _state.commit_jobs.append(self.wait.pending)
        # Django drops the hooks of rolled-back savepoints, so hooks of ours still listed and not
        # yet fired are exactly those that run after this one.
        if _state.commit_jobs and not any(
            isinstance(func, _CommitHook) and not func.fired for _sids, func, _robust in hooks
        ):
            jobs, _state.commit_jobs = _state.commit_jobs, []
            write(jobs)


def _hooks_being_run() -> list[tuple[Any, Any, Any]] | None:
    # During a commit Django runs the hooks from a local list (connection.run_on_commit is
    # already emptied); read it from the caller's frame. Elsewhere (captureOnCommitCallbacks)
    # the hooks are still on the connection.
    frame: FrameType | None = sys._getframe(2)
    for _depth in range(8):
        if frame is None:
            return None
        if frame.f_code.co_name == "run_and_clear_commit_hooks":
            hooks = frame.f_locals.get("current_run_on_commit")
            return hooks if isinstance(hooks, list) else None
        frame = frame.f_back
    return None


def write(pendings: Iterable[PendingJob]) -> None:
    """Write jobs to Redis: one pipeline per connection for the plain ones."""
    pendings = list(pendings)
    by_connection: dict[int, list[PendingJob]] = {}
    one_by_one: list[PendingJob] = []
    for pending in pendings:
        if pending.queue.can_pipeline(pending):
            by_connection.setdefault(id(pending.queue.connection), []).append(pending)
        else:
            one_by_one.append(pending)
    try:
        for batch in by_connection.values():
            connection = batch[0].queue.connection
            if len(batch) == 1 and batch[0].scheduled_for is None:
                batch[0].queue.write_pending(batch[0], connection)  # one command, no pipeline
                continue
            pipe = connection.pipeline()
            for pending in batch:
                pending.queue.write_pending(pending, pipe)
            for queue in {pending.queue.key: pending.queue for pending in batch}.values():
                pipe.sadd(queue.redis_queues_keys, queue.key)
            pipe.execute()
        for pending in one_by_one:
            pending.queue.write_pending(pending, None)
    except Exception:
        logger.exception(
            "django_taskq: could not write jobs %s to Redis", ", ".join(p.job.id for p in pendings)
        )
        raise
    for observer in _state.observers:
        for pending in pendings:
            observer(pending)


def add_observer(observer: Callable[[PendingJob], None]) -> None:
    _state.observers.append(observer)


def remove_observer(observer: Callable[[PendingJob], None]) -> None:
    _state.observers.remove(observer)


@receiver(request_started)
def _request_started(**kwargs: Any) -> None:
    _state.in_request = True
    _state.request_jobs = []


@receiver(got_request_exception)
def _request_failed(**kwargs: Any) -> None:
    # request_finished mode exists so that a failed request enqueues nothing.
    if _state.request_jobs:
        logger.info("django_taskq: request failed, %d job(s) not enqueued", len(_state.request_jobs))
    _state.request_jobs = []


@receiver(request_finished)
def _request_finished(**kwargs: Any) -> None:
    jobs, _state.request_jobs = _state.request_jobs, []
    _state.in_request = False
    if jobs:
        write(jobs)
