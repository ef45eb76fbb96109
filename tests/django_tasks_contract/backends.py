"""RQBackend as Django's tests of DummyBackend and ImmediateBackend look at a backend.

``WaitingRQBackend`` is RQBackend with no worker running (what DummyBackend models), plus the
two inspection methods those tests call: ``results`` (the task results waiting in Redis, in
queue order) and ``clear()``. ``RunningRQBackend`` is RQBackend followed by a burst worker
(``django_taskq.testing.run_jobs``): ``enqueue()`` returns the result read back from Redis once
a worker ran the job, which is what ImmediateBackend's tests look at.
"""

from __future__ import annotations

from typing import Any

from django_taskq.backends import RQBackend
from django_taskq.backends.compat import Task, TaskResult
from django_taskq.conf import taskq_settings
from django_taskq.queues import get_queue
from django_taskq.testing import run_jobs


class WaitingRQBackend(RQBackend):
    def _queue_names(self) -> list[str]:
        return sorted(self.queues) if self.queues else list(taskq_settings.QUEUES)

    @property
    def results(self) -> list[TaskResult[..., Any]]:
        return [self.get_result(job_id) for name in self._queue_names() for job_id in get_queue(name).job_ids]

    def clear(self) -> None:
        for name in self._queue_names():
            get_queue(name).empty()


class RunningRQBackend(RQBackend):
    def enqueue(self, task: Task[..., Any], args: Any, kwargs: Any) -> TaskResult[..., Any]:
        result = super().enqueue(task, args, kwargs)
        run_jobs(self.rq_queue_name(task))
        return self.get_result(result.id)
