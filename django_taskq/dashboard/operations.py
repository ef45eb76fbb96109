"""The changes the dashboard makes, so that 100k jobs fit in one request.

Requeue, delete and empty are ``django_taskq.maintenance``'s batched Lua scripts (one round
trip per thousand jobs, the same code as the ``rqempty``/``rqfailed``/``rqdelete`` commands).
Stop, cancel and "enqueue now" go through RQ's own API job by job: they touch executions,
dependents and rate limits, and only ever apply to a bounded selection (one page of jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rq.command import send_command
from rq.exceptions import InvalidJobOperation

from .. import maintenance
from ..queues import DjangoQueue, get_queue
from ..rq_compat.encoding import as_text
from ..rq_compat.jobs import enqueue_waiting
from ..rq_compat.safe_decode import restore_plain
from .jobs import queue_or_none, state_key

# Per-state actions on a selection; the "all" actions; which ones need a confirmation page.
SELECTION_ACTIONS: dict[str, tuple[str, ...]] = {
    "queued": ("cancel", "delete"),
    "started": ("stop",),
    "deferred": ("enqueue", "cancel", "delete"),
    "finished": ("delete",),
    "failed": ("requeue", "delete"),
    "scheduled": ("enqueue", "cancel", "delete"),
    "canceled": ("requeue", "delete"),
}
ALL_ACTIONS: dict[str, tuple[str, ...]] = {
    "queued": ("empty",),
    "started": (),
    "deferred": ("empty",),
    "finished": ("empty",),
    "failed": ("requeue_all", "empty"),
    "scheduled": ("empty",),
    "canceled": ("requeue_all", "empty"),
}
DESTRUCTIVE = frozenset({"delete", "cancel", "stop", "empty"})
LABELS = {
    "requeue": "Requeue",
    "delete": "Delete",
    "stop": "Stop",
    "cancel": "Cancel",
    "enqueue": "Enqueue now",
    "requeue_all": "Requeue all",
    "empty": "Delete all",
}
PAST = {
    "requeue": "requeued",
    "delete": "deleted",
    "stop": "asked to stop",
    "cancel": "canceled",
    "enqueue": "enqueued",
    "requeue_all": "requeued",
    "empty": "deleted",
}


@dataclass
class Outcome:
    done: int = 0
    skipped: int = 0  # jobs missing, or not in a state the action applies to


@dataclass
class Selection:
    """Posted job ids sorted out against Redis: the ones an action on ``queue``/``state`` may touch."""

    in_state: list[str]  # jobs of the queue, in the posted state
    foreign: list[str]  # jobs of another queue: the request is refused
    skipped: int  # gone (or not a job hash), or no longer in the posted state


def select(queue: DjangoQueue, state: str, ids: list[str]) -> Selection:
    """Which of ``ids`` are jobs of ``queue`` in ``state``: one pipelined round trip.

    An action runs on those only: a scheduled job of ``default`` posted to ``high``'s URL is
    refused (it would be enqueued twice and logged under the wrong queue), a delete of
    "failed" jobs never deletes a job that has been requeued since the page was shown.
    """
    pipe = queue.connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(queue.job_class.key_for(job_id), ["origin", "status"])
    selection = Selection(in_state=[], foreign=[], skipped=0)
    for job_id, reply in zip(ids, pipe.execute(raise_on_error=False), strict=True):
        if not isinstance(reply, list) or reply[0] is None:  # gone, or a key of another type
            selection.skipped += 1
        elif as_text(reply[0]) != queue.name:
            selection.foreign.append(job_id)
        elif reply[1] is None or as_text(reply[1]) != state:
            selection.skipped += 1
        else:
            selection.in_state.append(job_id)
    return selection


def delete_jobs(queue: DjangoQueue, ids: list[str]) -> Outcome:
    """Delete jobs (data, results, registry entries); running jobs are left alone."""
    done = maintenance.delete_jobs(queue, ids)
    return Outcome(done=done, skipped=len(ids) - done)


def requeue_jobs(queue: DjangoQueue, ids: list[str]) -> Outcome:
    """Put failed or canceled jobs back on their queue."""
    done = maintenance.requeue_jobs(queue, ids)
    return Outcome(done=done, skipped=len(ids) - done)


def empty(queue: DjangoQueue, state: str) -> Outcome:
    """Delete every job in ``state`` (never ``started``: running jobs are stopped instead)."""
    if state == "queued":
        return Outcome(done=maintenance.empty_queue(queue))
    return Outcome(done=maintenance.delete_registry(queue, state))


def requeue_all(queue: DjangoQueue, state: str) -> Outcome:
    """Put every failed (or canceled) job back on the queue."""
    return Outcome(done=maintenance.requeue_registry(queue, state))


def _fetch(queue: DjangoQueue, ids: list[str]) -> tuple[list[Any], int]:
    """The jobs, restored from their plain fields: ``meta`` and a legacy ``result`` are left in
    Redis unread (``Job.fetch`` would unpickle them), and RQ's writes (HSET) leave them there."""
    pipe = queue.connection.pipeline(transaction=False)
    for job_id in ids:
        pipe.hgetall(queue.job_class.key_for(job_id))
    found = []
    for job_id, raw in zip(ids, pipe.execute(raise_on_error=False), strict=True):
        if not isinstance(raw, dict) or not raw:  # gone, or a key of another type
            continue
        job = queue.job_class(job_id, connection=queue.connection, serializer=queue.serializer)
        try:
            restore_plain(job, raw)
        except Exception:  # noqa: S112 - a hash RQ cannot read: the action skips it (counted)
            continue
        found.append(job)
    return found, len(ids) - len(found)


def stop_jobs(queue: DjangoQueue, ids: list[str]) -> Outcome:
    """Ask the workers running these jobs to stop them."""
    outcome = Outcome()
    for job_id in ids:  # send_stop_job_command's steps, without its Job.fetch (which unpickles)
        status, worker = queue.connection.hmget(queue.job_class.key_for(job_id), ["status", "worker_name"])
        # A finished or requeued job keeps the name of the worker that ran it: only a started one is stopped.
        if not worker or status is None or as_text(status) != "started":
            outcome.skipped += 1
            continue
        send_command(queue.connection, as_text(worker), "stop-job", job_id=job_id)
        outcome.done += 1
    return outcome


def cancel_jobs(queue: DjangoQueue, ids: list[str]) -> Outcome:
    """Cancel jobs: they move to the canceled registry and will not run."""
    found, missing = _fetch(queue, ids)
    outcome = Outcome(skipped=missing)
    for job in found:
        try:
            job.cancel()
        # Already canceled, gone since the fetch, or a stored status RQ cannot read (ValueError).
        except (InvalidJobOperation, ValueError):
            outcome.skipped += 1
        else:
            outcome.done += 1
    return outcome


def enqueue_now(queue: DjangoQueue, ids: list[str], state: str) -> Outcome:
    """Put scheduled or deferred jobs on their queue right away, as RQ's scheduler would (at the
    front if they asked to be; rate-limited ones wait for a slot). Dependencies are not waited for."""
    found, missing = _fetch(queue, ids)
    outcome = Outcome(skipped=missing)
    registry_key = state_key(queue, state)
    for job in found:
        if job.get_status(refresh=False) != state:
            outcome.skipped += 1
            continue
        target = queue_or_none(job.origin) or queue
        with queue.connection.pipeline() as pipe:
            pipe.zrem(registry_key, job.id)
            enqueue_waiting(target, job, pipe)
            pipe.execute()
        outcome.done += 1
    return outcome


def run(queue: DjangoQueue, state: str, action: str, ids: list[str]) -> Outcome:
    """Run a validated action; ``ids`` is ignored by the whole-state actions."""
    if action == "requeue":
        return requeue_jobs(queue, ids)
    if action == "delete":
        return delete_jobs(queue, ids)
    if action == "stop":
        return stop_jobs(queue, ids)
    if action == "cancel":
        return cancel_jobs(queue, ids)
    if action == "enqueue":
        return enqueue_now(queue, ids, state)
    if action == "requeue_all":
        return requeue_all(queue, state)
    if action == "empty":
        return empty(queue, state)
    raise ValueError(f"Unknown action {action!r}.")


__all__ = [
    "ALL_ACTIONS",
    "DESTRUCTIVE",
    "LABELS",
    "SELECTION_ACTIONS",
    "Outcome",
    "Selection",
    "get_queue",
    "run",
    "select",
]
