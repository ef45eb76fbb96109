"""Helpers for the test suites of projects that use django-taskq.

``run_jobs("default")`` runs what is queued, in this process, and says what happened;
``capture_jobs()`` records what a block of code enqueues.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rq.job import Job, JobStatus

from .queues import REGISTRY_STATES, get_queue, get_queues, state_registry
from .rq_compat.storage import latest_exc_string
from .transactions import PendingJob, add_observer, remove_observer


@dataclass
class RunReport:
    """What ``run_jobs`` ran, by final status, in the order the jobs first ran."""

    finished: list[Job] = field(default_factory=list)
    failed: list[Job] = field(default_factory=list)
    other: list[Job] = field(default_factory=list)  # e.g. scheduled again by a Retry

    @property
    def ran(self) -> list[Job]:
        return [*self.finished, *self.failed, *self.other]

    def raise_failures(self) -> None:
        """Raise an AssertionError that shows each failed job's traceback."""
        if self.failed:
            details = "\n\n".join(
                f"{job.id} {job.func_name}:\n{latest_exc_string(job)}" for job in self.failed
            )
            raise AssertionError(f"{len(self.failed)} job(s) failed:\n{details}")


def run_jobs(*queue_names: str, max_jobs: int | None = None, with_scheduled: bool = False) -> RunReport:
    """Run the queued jobs of ``queue_names`` (``default`` if none) in this process until empty.

    Jobs run in queue priority order, in-process (no fork), so they see this process's
    database and settings. ``with_scheduled=True`` first moves due scheduled jobs to their queues.
    """
    from .scheduler import get_scheduler
    from .worker import DjangoSimpleWorker

    queues = get_queues(*queue_names)
    if with_scheduled:
        scheduler = get_scheduler(*[queue.name for queue in queues])
        scheduler.prepare_registries([queue.name for queue in queues])  # type: ignore[no-untyped-call]
        scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
    ran_ids: list[str] = []

    class RecordingWorker(DjangoSimpleWorker):
        def perform_job(self, job: Job, queue: Any, *args: Any, **kwargs: Any) -> bool:
            ran_ids.append(job.id)
            return super().perform_job(job, queue, *args, **kwargs)

        # A burst in this process takes no commands (stop, kill): no channel to listen on, and
        # no listening thread to wait for at the end (up to a second per call).
        def subscribe(self) -> None:
            pass

        def unsubscribe(self) -> None:
            pass

    first = queues[0]
    worker = RecordingWorker(queues, connection=first.connection, job_class=first.job_class,
                             serializer=first.serializer)  # fmt: skip
    worker.work(burst=True, max_jobs=max_jobs, logging_level="WARNING")
    report = RunReport()
    for job_id in dict.fromkeys(ran_ids):
        job = first.job_class.fetch(job_id, connection=first.connection, serializer=first.serializer)
        status = job.get_status()
        if status == JobStatus.FINISHED:
            report.finished.append(job)
        elif status == JobStatus.FAILED:
            report.failed.append(job)
        else:
            report.other.append(job)
    return report


@dataclass
class CapturedJobs:
    """Jobs written to Redis while ``capture_jobs`` was active."""

    jobs: list[Job] = field(default_factory=list)

    def for_queue(self, name: str) -> list[Job]:
        return [job for job in self.jobs if job.origin == name]

    def calls(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """(function path, args, kwargs) of each job, for easy equality assertions."""
        return [(str(job.func_name), tuple(job.args), dict(job.kwargs)) for job in self.jobs]

    def assert_enqueued(self, func: Any, *args: Any, queue: str | None = None, **kwargs: Any) -> Job:
        """The job calling ``func(*args, **kwargs)``; AssertionError listing what was enqueued if none."""
        name = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
        for job in self.jobs:
            if (
                job.func_name == name
                and tuple(job.args) == args
                and dict(job.kwargs) == kwargs
                and (queue is None or job.origin == queue)
            ):
                return job
        listed = "\n".join(
            f"  {job.origin}: {job.func_name}{tuple(job.args)} {job.kwargs}" for job in self.jobs
        )
        raise AssertionError(f"{name}{args} {kwargs} was not enqueued; enqueued:\n{listed or '  nothing'}")


@contextlib.contextmanager
def capture_jobs() -> Iterator[CapturedJobs]:
    """Record every job this thread writes to Redis inside the block (after any commit deferral)."""
    captured = CapturedJobs()

    def observe(pending: PendingJob) -> None:
        captured.jobs.append(pending.job)

    add_observer(observe)
    try:
        yield captured
    finally:
        remove_observer(observe)


def empty_queues(*queue_names: str) -> None:
    """Remove every job of the named queues and of their registries (for test isolation)."""
    for name in queue_names or ("default",):
        queue = get_queue(name)
        queue.empty()  # type: ignore[no-untyped-call]
        for state in REGISTRY_STATES:
            registry = state_registry(queue, state)
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)
