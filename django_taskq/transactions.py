"""When an enqueue reaches Redis: at once, when the database commits, or when the request ends."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.signals import got_request_exception, request_finished, request_started
from django.db import connections, transaction
from django.dispatch import receiver
from rq.job import Job, JobStatus

from .rq_compat.hooks import enqueue_wrapped

if TYPE_CHECKING:
    from .outbox.rows import StoredJob
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
    outbox: StoredJob | None = None  # its row, when stored in the outbox (django_taskq.outbox)


# --- a job that waits for its commit -----------------------------------------------------------
# Until it is written, a deferred job is not in Redis, where RQ's Job.get_status() looks (and
# raises InvalidJobOperation). While it waits, its class is a subclass of its own that answers
# JobStatus.CREATED, RQ's status of a job not enqueued yet; ``taskq_waiting_for_commit`` says why.


_waiting_classes: dict[type[Job], type[Job]] = {}


def _waiting_class(job_class: type[Job]) -> type[Job]:
    waiting = _waiting_classes.get(job_class)
    if waiting is None:

        class WaitingJob(job_class):  # type: ignore[valid-type,misc]
            def get_status(self, refresh: bool = True) -> JobStatus:
                return JobStatus.CREATED

        WaitingJob.__name__ = job_class.__name__  # repr() as before: Job('<id>', enqueued_at=None)
        WaitingJob.__qualname__ = job_class.__qualname__
        waiting = _waiting_classes.setdefault(job_class, WaitingJob)
    return waiting


def _hold(pendings: Iterable[PendingJob]) -> None:
    """Mark jobs as waiting for their commit (or the end of the request)."""
    for pending in pendings:
        job = pending.job
        if not getattr(job, "taskq_waiting_for_commit", False):
            job.__class__ = _waiting_class(type(job))
            job.taskq_waiting_for_commit = True  # type: ignore[attr-defined]


def _release(pending: PendingJob) -> None:
    """The job waits no more: written now, or never (rolled back). Its own class again."""
    job = pending.job
    if getattr(job, "taskq_waiting_for_commit", False):
        job.__class__ = type(job).__mro__[1]
        job.taskq_waiting_for_commit = False  # type: ignore[attr-defined]


@dataclass
class _ThreadState(threading.local):
    in_request: bool = False
    request_jobs: list[PendingJob] = field(default_factory=list)
    # Jobs whose transactions have all committed, written together when the commit run ends.
    commit_jobs: list[PendingJob] = field(default_factory=list)
    pending_hooks: dict[str, _PendingHooks] = field(default_factory=dict)
    observers: list[Callable[[PendingJob], None]] = field(default_factory=list)


_state = _ThreadState()


def submit(pending: PendingJob | list[PendingJob], mode: str) -> None:
    """Write jobs now, or arrange for them to be written when ``mode`` says."""
    pendings = pending if isinstance(pending, list) else [pending]
    if mode in ("on_db_commit", "outbox"):
        aliases = open_transactions()
        if aliases:
            if mode == "outbox":  # a row in the transaction, pushed after the commit
                from .outbox.commit import store

                store(pendings, aliases)
            _hold(pendings)
            hooks = [(alias, _pending_hooks(alias)) for alias in aliases]
            for item in pendings:
                wait = _Wait(item, set(aliases))
                for alias, pending_hooks in hooks:
                    transaction.on_commit(_CommitHook(wait, alias, pending_hooks), using=alias)
            return
    elif mode == "request_finished" and _state.in_request:
        _hold(pendings)
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
    rolled_back: bool = False  # one of its transactions did: its outbox row must go too


class _PendingHooks:
    """Our hooks on one database in this thread that Django still holds and has not run yet.

    It keeps their numbers, not the hooks: Django holds the one reference to a hook, so the
    hooks of a rolled-back savepoint or transaction are freed as Django drops them and leave
    ``numbers`` at once (CPython frees an object when its last reference goes).
    """

    __slots__ = ("committed_upto", "numbers")

    def __init__(self) -> None:
        self.numbers: dict[int, None] = {}  # registration numbers, in registration order
        self.committed_upto = -1  # hooks numbered up to this one belong to committed transactions


def _pending_hooks(alias: str) -> _PendingHooks:
    hooks = _state.pending_hooks.get(alias)
    if hooks is None:
        hooks = _state.pending_hooks[alias] = _PendingHooks()
    return hooks


_registrations = itertools.count()


class _CommitHook:
    """An on_commit callback for one job and one database.

    Django runs the hooks of a commit in the order they were registered, so a hook that finds
    no later hook of ours still pending is our last one of the run: it writes every job
    collected in the run at once (one pipeline per connection).
    """

    __slots__ = ("alias", "hooks", "number", "wait")

    def __init__(self, wait: _Wait, alias: str, hooks: _PendingHooks) -> None:
        self.wait = wait
        self.alias = alias
        self.hooks = hooks
        self.number = next(_registrations)
        hooks.numbers[self.number] = None

    def __call__(self) -> None:
        numbers = self.hooks.numbers
        if self.number not in numbers:  # called twice: the job is collected once
            return
        del numbers[self.number]
        later = next(reversed(numbers), -1)
        if self.number > self.hooks.committed_upto and not connections[self.alias].in_atomic_block:
            # The first of our hooks in a commit run (not captureOnCommitCallbacks, which runs
            # hooks inside the test's transaction): the hooks of ours Django still holds are
            # the rest of this run, so their transactions did commit.
            self.hooks.committed_upto = max(self.number, later)
        self.wait.aliases.discard(self.alias)
        if not self.wait.aliases:  # else another database's transaction is still open
            _state.commit_jobs.append(self.wait.pending)
        elif self.wait.rolled_back and self.wait.pending.outbox is not None:
            from .outbox.commit import committed_after_rollback

            committed_after_rollback(self.wait.pending, self.alias)
        if later < self.number:
            _write_committed()

    def __del__(self) -> None:
        numbers = self.hooks.numbers
        if self.number not in numbers:  # ran: nothing to account for
            return
        del numbers[self.number]  # dropped by a rollback, or by a commit run cut short
        _release(self.wait.pending)  # never written
        if self.number > self.hooks.committed_upto:  # dropped by a rollback
            self.wait.rolled_back = True
            if self.wait.pending.outbox is not None:
                from .outbox.commit import rolled_back  # imported already: it stored the row

                rolled_back(self.wait.pending, self.alias, self.wait.aliases)
        elif self.wait.pending.outbox is None:  # (a stored job's committed row: the relay pushes it)
            # No I/O here: a garbage collection may run this while redis-py holds a pool lock.
            logger.error(
                "django_taskq: job %s was not enqueued: its transaction on database %r committed, "
                "but an earlier on_commit callback of that commit raised and Django ran no later "
                "callback; jobs of that commit whose callbacks ran are written at the next commit "
                "or at the end of the request",
                self.wait.pending.job.id,
                self.alias,
            )


def _write_committed() -> None:
    """Write the jobs whose transactions have all committed and that are not written yet."""
    jobs, _state.commit_jobs = _state.commit_jobs, []
    if jobs:
        write(jobs, after_commit=True)


def write(pendings: Iterable[PendingJob], *, after_commit: bool = False) -> None:
    """Write jobs to Redis: one pipeline per connection for the plain ones; jobs stored in the
    outbox are pushed through it. ``after_commit``: jobs not written because Redis is
    unreachable are kept in the outbox for its relay, where that can be, instead of raising."""
    pendings = list(pendings)
    for pending in pendings:
        _release(pending)
    if any(pending.outbox is not None for pending in pendings):
        from .outbox.commit import deliver

        _notify(deliver([pending for pending in pendings if pending.outbox is not None]))
        pendings = [pending for pending in pendings if pending.outbox is None]
    by_connection: dict[int, list[PendingJob]] = {}
    one_by_one: list[PendingJob] = []
    for pending in pendings:
        if pending.queue.can_pipeline(pending):
            by_connection.setdefault(id(pending.queue.connection), []).append(pending)
        else:
            one_by_one.append(pending)
    # A wrapped rq.Queue.enqueue_job (sentry-sdk, OpenTelemetry) sees each job written through
    # it on the batch's pipeline (a MULTI, as RQ's own enqueue_job makes it): still one round trip.
    wrapped = enqueue_wrapped()
    written: list[PendingJob] = []
    try:
        for batch in by_connection.values():
            connection = batch[0].queue.connection
            if len(batch) == 1 and batch[0].scheduled_for is None and not wrapped:
                batch[0].queue.write_pending(batch[0], connection)  # one command, no pipeline
                written += batch
                continue
            pipe = connection.pipeline()
            if wrapped:
                pipe.multi()
            for pending in batch:
                pending.queue.write_pending(pending, pipe, through_rq=wrapped)
            for queue in {pending.queue.key: pending.queue for pending in batch}.values():
                pipe.sadd(queue.redis_queues_keys, queue.key)
            pipe.execute()
            written += batch
        for pending in one_by_one:
            pending.queue.write_pending(pending, None)
            written.append(pending)
    except Exception as exc:
        done = {id(pending) for pending in written}
        lost = [pending for pending in pendings if id(pending) not in done]
        if after_commit:
            lost = _keep_in_outbox(lost, {id(pending) for pending in one_by_one}, exc)
        if lost:
            logger.exception(
                "django_taskq: could not write jobs %s to Redis", ", ".join(p.job.id for p in lost)
            )
            raise
    _notify(written)


def _keep_in_outbox(pendings: list[PendingJob], rq_writes: set[int], error: Exception) -> list[PendingJob]:
    """Store in the outbox the committed jobs Redis did not take because it is unreachable (the
    default mode); the jobs left out: all when the table is missing, and those RQ's own code
    writes (``rq_writes``: dependencies, unique, rate limits), which cannot be stored."""
    from .outbox.commit import REDIS_UNREACHABLE, keep

    if not isinstance(error, REDIS_UNREACHABLE):
        return pendings
    kept = {id(pending) for pending in keep([p for p in pendings if id(p) not in rq_writes], error)}
    return [pending for pending in pendings if id(pending) not in kept]


def _notify(pendings: list[PendingJob]) -> None:
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
    for pending in _state.request_jobs:
        _release(pending)
    _state.request_jobs = []


@receiver(request_finished)
def _request_finished(**kwargs: Any) -> None:
    jobs, _state.request_jobs = _state.request_jobs, []
    _state.in_request = False
    if jobs:
        write(jobs)
    _write_committed()  # left by a commit run that another app's failing callback cut short
    from .outbox.cleanup import after_request

    after_request()  # the outbox's rows of jobs pushed or discarded meanwhile, and their markers
