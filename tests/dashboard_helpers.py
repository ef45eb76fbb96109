"""Shared set-up of the dashboard tests: users per role and real jobs in every state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Permission, User
from rq import Queue, SimpleWorker
from rq.job import Job

from django_taskq import get_connection
from tests.testapp.jobs import add, fail

PASSWORD = "dashboard-tests-pw"
ROLES = ("anonymous", "non_staff", "staff", "viewer", "manager")


def make_user(role: str) -> User | None:
    """A user of ``role``: None (anonymous), a non-staff user, staff without the dashboard
    permissions, staff with ``view_queues`` only, staff with ``manage_queues``."""
    if role == "anonymous":
        return None
    user = User.objects.create_user(role, f"{role}@example.com", PASSWORD, is_staff=role != "non_staff")
    if role in ("non_staff", "viewer", "manager"):
        codename = "manage_queues" if role == "manager" else "view_queues"
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label="django_taskq")
        )
    return user


def rq_queue(name: str = "default") -> Queue:
    """RQ's own queue object: its enqueues write to Redis at once (no commit-mode deferral)."""
    return Queue(name, connection=get_connection(name))


def run_burst(queue: Queue) -> None:
    """Run the queued jobs in this process with RQ's SimpleWorker, until the queue is empty."""
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@dataclass
class Jobs:
    queued: Job
    failed: Job
    finished: Job
    scheduled: Job
    deferred: Job
    canceled: Job


def jobs_in_every_state(name: str = "default") -> Jobs:
    queue = rq_queue(name)
    failed = queue.enqueue(fail, "it broke", description="a failing job")
    finished = queue.enqueue(add, 2, 3)
    run_burst(queue)
    queued = queue.enqueue(add, 1, 2)
    scheduled = queue.enqueue_in(timedelta(hours=1), add, 5, 6)
    deferred = queue.enqueue(add, 7, 8, depends_on=queued)
    canceled = queue.enqueue(add, 9, 10)
    canceled.cancel()
    return Jobs(queued, failed, finished, scheduled, deferred, canceled)
