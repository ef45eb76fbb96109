"""The Job an enqueue returns inside atomic(): its id and a clear status before the commit, the
usual behaviour after it, on SQLite and (where configured) PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import RequestFactory, override_settings
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.queue import Queue

from django_taskq import enqueue, get_queue
from tests.testapp.jobs import add, multiply

ALIASES = list(settings.DATABASES)
ALL = pytest.mark.django_db(transaction=True, databases=ALIASES)

ENQUEUE_PATHS = {
    "enqueue": (lambda: enqueue(add, 1, 2), JobStatus.QUEUED),
    "delay": (lambda: multiply.delay(2, 3), JobStatus.QUEUED),
    "enqueue_many": (
        lambda: get_queue().enqueue_many([Queue.prepare_data(add, (1, 2))])[0],
        JobStatus.QUEUED,
    ),
    "enqueue_in": (lambda: get_queue().enqueue_in(timedelta(minutes=1), add, 1, 2), JobStatus.SCHEDULED),
}


@ALL
@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("path", list(ENQUEUE_PATHS))
def test_a_deferred_job_shows_its_id_and_waits_for_the_commit(alias: str, path: str) -> None:
    make, status_after = ENQUEUE_PATHS[path]
    with transaction.atomic(using=alias):
        job = make()
        assert repr(job) == f"Job({job.id!r}, enqueued_at=None)"
        assert job.get_status() == JobStatus.CREATED
        assert job.get_status(refresh=False) == JobStatus.CREATED
        assert job.taskq_waiting_for_commit is True
        assert isinstance(job, Job)
    assert job.taskq_waiting_for_commit is False
    assert type(job) is Job  # its own class again: equal to the job fetched from Redis
    assert job.get_status() == status_after
    assert job == Job.fetch(job.id, connection=get_queue().connection)


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_a_rolled_back_job_waits_no_more(alias: str) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic(using=alias):
        job = enqueue(add, 1, 2)
        1 / 0  # noqa: B018
    assert job.taskq_waiting_for_commit is False
    with pytest.raises(InvalidJobOperation):  # never written: RQ's answer for a job not in Redis
        job.get_status()


@ALL
def test_a_job_waiting_for_two_databases_waits_for_both() -> None:
    if len(ALIASES) < 2:
        pytest.skip("needs a second database (PostgreSQL)")
    first, second = ALIASES[:2]
    with transaction.atomic(using=first):
        with transaction.atomic(using=second):
            job = enqueue(add, 1, 2)
        assert job.get_status() == JobStatus.CREATED
    assert job.get_status() == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_job_is_written_at_once() -> None:
    job = enqueue(add, 1, 2)
    assert job.taskq_waiting_for_commit is False
    assert job.get_status() == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)
@override_settings(RQ={"COMMIT_MODE": "request_finished"})
def test_a_job_waiting_for_the_end_of_the_request() -> None:
    from django.core.signals import request_finished, request_started

    request_started.send(sender=None, environ=RequestFactory().get("/").environ)
    try:
        job = enqueue(add, 1, 2)
        assert job.get_status() == JobStatus.CREATED
        assert job.taskq_waiting_for_commit is True
    finally:
        request_finished.send(sender=None)
    assert job.get_status() == JobStatus.QUEUED
