"""RQBackend: the Django Tasks framework on django-taskq's queues.

Rules (documented in docs/django-tasks.rst):

- A task's ``queue_name`` is an ``RQ_QUEUES`` name. ``QUEUES`` in the TASKS entry narrows
  the names a task may use; without it every ``RQ_QUEUES`` name is allowed.
- Priority: if ``OPTIONS["PRIORITY_QUEUES"]`` maps the task's queue to bands, the band whose
  minimum the priority reaches picks the RQ queue. Inside its RQ queue a job is placed by its
  priority (``rq_compat.priority``): after every waiting job of a higher or equal priority.
- Enqueueing goes through :class:`django_taskq.queues.DjangoQueue`, so ``COMMIT_MODE``
  applies: a task enqueued in a transaction that rolls back never reaches Redis, and
  ``task_enqueued`` fires when the job is written.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.core.checks import CheckMessage
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone as django_timezone
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from ..conf import taskq_settings
from ..connections import connection_groups
from ..queues import DjangoQueue, get_queue
from ..rq_compat import priority
from ..transactions import PendingJob, add_observer
from .arguments import json_arguments
from .checks import entry_messages
from .compat import (
    DEFAULT_TASK_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from .results import (
    META_BACKEND,
    META_PRIORITY,
    META_QUEUE_NAME,
    META_RUN_AFTER,
    META_TASK_NAME,
    build_result,
    is_task_job,
    load_task,
    to_iso,
    utc_now,
)
from .runner import run_task

P = ParamSpec("P")
R = TypeVar("R")

OPTION_KEYS = ("RESULT_TTL", "FAILURE_TTL", "TIMEOUT", "MAX_RETRIES", "RETRY_INTERVALS", "PRIORITY_QUEUES")

_RESULT_ATTR = "_taskq_task_result"


class RQBackend(BaseTaskBackend):
    """Runs Django tasks as RQ jobs on the queues of ``RQ_QUEUES``."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self._params = params
        _refuse_malformed(alias, params)
        if "QUEUES" not in params:
            self.queues = set()  # any RQ_QUEUES name, checked when a task is validated
        options = self.options
        self.result_ttl: int | None = options.get("RESULT_TTL")
        self.failure_ttl: int | None = options.get("FAILURE_TTL")
        self.timeout: int | None = options.get("TIMEOUT")
        self.max_retries: int = int(options.get("MAX_RETRIES", 0))
        intervals = options.get("RETRY_INTERVALS", 0)
        self.retry_intervals: int | list[int] = (
            list(intervals) if isinstance(intervals, (list, tuple)) else intervals
        )
        self.priority_queues: dict[str, list[tuple[int, str]]] = {
            name: sorted(((int(low), str(queue)) for low, queue in bands), reverse=True)
            for name, bands in dict(options.get("PRIORITY_QUEUES", {})).items()
        }

    # Validation

    def validate_task(self, task: Task[..., Any]) -> None:
        super().validate_task(task)
        self._validate_queue(task)

    def _validate_queue(self, task: Task[..., Any]) -> None:
        known = taskq_settings.QUEUES
        if task.queue_name not in known:
            raise InvalidTask(
                f"Queue {task.queue_name!r} of task {task.module_path} is not in RQ_QUEUES "
                f"(it defines {', '.join(known) or 'none'})."
            )

    # Enqueueing

    def rq_queue_name(self, task: Task[..., Any]) -> str:
        """The RQ queue a task's job goes to (see the priority rule in the module docstring)."""
        for low, queue in self.priority_queues.get(task.queue_name, ()):
            if task.priority >= low:
                return queue
        return task.queue_name

    def enqueue(self, task: Task[P, R], args: Any, kwargs: Any) -> TaskResult[P, R]:
        # The rest of validate_task() ran when the (frozen) Task was created; settings may have changed since.
        if self.queues and task.queue_name not in self.queues:
            raise InvalidTask(f"Queue '{task.queue_name}' is not valid for backend.")
        self._validate_queue(task)
        json_args, json_kwargs = json_arguments(task, args, kwargs)
        queue = get_queue(self.rq_queue_name(task))
        run_after = task.run_after
        if run_after is not None and django_timezone.is_naive(run_after):
            run_after = django_timezone.make_aware(run_after)  # USE_TZ = False: the project's TIME_ZONE
        job = queue.create_job(
            run_task,
            args=json_args,
            kwargs=json_kwargs,
            timeout=self.timeout,
            result_ttl=self.result_ttl,
            failure_ttl=self.failure_ttl,
            description=task.module_path,
            meta=self._meta(task, queue.name, run_after),
            retry=Retry(max=self.max_retries, interval=self.retry_intervals) if self.max_retries else None,
        )
        result: TaskResult[P, R] = TaskResult(
            task=task,
            id=job.id,
            status=TaskResultStatus.READY,
            enqueued_at=job.created_at,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=[],  # set below: already JSON values, no need to normalise them again
            kwargs={},
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        object.__setattr__(result, "args", json_args)
        object.__setattr__(result, "kwargs", json_kwargs)
        setattr(job, _RESULT_ATTR, (result, type(self)))
        _watch_writes()
        if run_after is not None and run_after > utc_now():
            queue.schedule_job(job, run_after)
        else:
            priority.mark(job, task.priority)
            queue.enqueue_job(job)
        if not queue.is_async and job.get_status(refresh=False) is not None and job.ended_at is not None:
            return build_result(job, task, self.alias)  # an ASYNC=False queue ran it already
        return result

    def _meta(self, task: Task[..., Any], rq_queue: str, run_after: datetime | None) -> dict[str, Any]:
        # Defaults are left out (results.load_task knows them): a smaller job hash is a faster write.
        meta: dict[str, Any] = {META_TASK_NAME: task.module_path, META_BACKEND: self.alias}
        if task.queue_name != rq_queue:
            meta[META_QUEUE_NAME] = task.queue_name
        if task.priority != DEFAULT_TASK_PRIORITY:
            meta[META_PRIORITY] = task.priority
        if run_after is not None:
            meta[META_RUN_AFTER] = to_iso(run_after)
        return meta

    # Checks

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        """This entry's messages (django_taskq.E050-E055). Django's ``check_tasks`` calls it; our
        own registered check then leaves this entry to it (``checks.check_task_backends_once``)."""
        return entry_messages(f"TASKS[{self.alias!r}]", self._params)

    # Results

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        job = self._fetch(result_id)
        if job is None or not is_task_job(job) or job.meta.get(META_BACKEND) != self.alias:
            raise TaskResultDoesNotExist(result_id)
        return build_result(job, load_task(job, self.alias), self.alias)

    def _fetch(self, job_id: str) -> Job | None:
        # A job lives on its queue's connection: look on each distinct one, this backend's first.
        groups = connection_groups()
        groups.sort(key=lambda group: not (self.queues & set(group.names)) if self.queues else False)
        for group in groups:
            queue: DjangoQueue = get_queue(group.names[0])
            try:
                return queue.job_class.fetch(job_id, connection=queue.connection, serializer=queue.serializer)  # type: ignore[no-any-return]
            except NoSuchJobError:
                continue
        return None


def _refuse_malformed(alias: str, params: dict[str, Any]) -> None:
    """ImproperlyConfigured for OPTIONS/QUEUES the system checks report (queue names are checked later)."""
    for message in entry_messages(f"TASKS[{alias!r}]", params):
        if message.id not in ("django_taskq.E050", "django_taskq.E054"):
            raise ImproperlyConfigured(f"{message.msg} ({message.id}) {message.hint or ''}".strip())


# task_enqueued fires when the job reaches Redis (after the commit, with COMMIT_MODE), in this thread.

_watching = threading.local()


def _watch_writes() -> None:
    if not getattr(_watching, "on", False):
        add_observer(_job_written)
        _watching.on = True


def _job_written(pending: PendingJob) -> None:
    entry = pending.job.__dict__.pop(_RESULT_ATTR, None)
    if entry is not None:
        result, sender = entry
        task_enqueued.send(sender=sender, task_result=result)


__all__ = ["OPTION_KEYS", "RQBackend"]
