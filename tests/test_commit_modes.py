"""COMMIT_MODE on every enqueue path, on SQLite and (where configured) PostgreSQL."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from rq.queue import Queue

from django_taskq import enqueue, get_queue
from django_taskq.testing import capture_jobs
from tests.testapp.jobs import add, multiply

ALIASES = list(settings.DATABASES)
ALL = pytest.mark.django_db(transaction=True, databases=ALIASES)


def queued_ids() -> list[str]:
    return get_queue().job_ids


def scheduled_ids() -> list[str]:
    return get_queue().scheduled_job_registry.get_job_ids()


ENQUEUE_PATHS = {
    "enqueue": lambda: enqueue(add, 1, 2),
    "enqueue_call": lambda: get_queue().enqueue_call(add, args=(1, 2)),
    "delay": lambda: multiply.delay(2, 3),
    "job.enqueue": lambda: multiply.enqueue(args=(2, 3)),
    "enqueue_many": lambda: get_queue().enqueue_many([Queue.prepare_data(add, (1, 2))])[0],
    "enqueue_in": lambda: get_queue().enqueue_in(timedelta(minutes=1), add, 1, 2),
    "enqueue_at": lambda: get_queue().enqueue_at(
        __import__("django.utils.timezone", fromlist=["now"]).now() + timedelta(minutes=1), add, 1, 2
    ),
}


def written_ids() -> set[str]:
    return set(queued_ids()) | set(scheduled_ids())


@ALL
@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("path", list(ENQUEUE_PATHS))
def test_every_path_waits_for_commit(alias: str, path: str) -> None:
    with transaction.atomic(using=alias):
        job = ENQUEUE_PATHS[path]()
        assert job.id  # fixed before commit, so a view can store it
        assert written_ids() == set()
    assert written_ids() == {job.id}


@ALL
@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("path", list(ENQUEUE_PATHS))
def test_rollback_never_reaches_redis(alias: str, path: str, redis_client) -> None:
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        job = ENQUEUE_PATHS[path]()
        raise RuntimeError("roll back")
    assert written_ids() == set()
    assert redis_client.exists(f"rq:job:{job.id}") == 0


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_savepoint_rollback_drops_only_its_jobs(alias: str) -> None:
    with transaction.atomic(using=alias):
        kept = enqueue(add, 1, 1)
        try:
            with transaction.atomic(using=alias):
                enqueue(add, 2, 2)
                raise ValueError
        except ValueError:
            pass
        also_kept = enqueue(add, 3, 3)
    assert queued_ids() == [kept.id, also_kept.id]


@ALL
def test_waits_for_the_outermost_transaction_of_that_database() -> None:
    alias = ALIASES[-1]
    with transaction.atomic(using=alias):
        with transaction.atomic(using=alias):
            job = enqueue(add, 1, 1)
        assert queued_ids() == []
    assert queued_ids() == [job.id]


@pytest.mark.skipif(len(ALIASES) < 2, reason="needs a second database (PostgreSQL alias 'pg')")
@ALL
def test_multi_db_job_waits_for_every_open_transaction() -> None:
    with transaction.atomic(using="default"):
        with transaction.atomic(using="pg"):
            job = enqueue(add, 1, 1)
        assert queued_ids() == []  # pg committed, default still open
    assert queued_ids() == [job.id]


@pytest.mark.skipif(len(ALIASES) < 2, reason="needs a second database (PostgreSQL alias 'pg')")
@ALL
def test_multi_db_outer_rollback_drops_job() -> None:
    with pytest.raises(RuntimeError), transaction.atomic(using="default"):
        with transaction.atomic(using="pg"):
            enqueue(add, 1, 1)
        raise RuntimeError
    assert queued_ids() == []


@pytest.mark.skipif(len(ALIASES) < 2, reason="needs a second database (PostgreSQL alias 'pg')")
@ALL
def test_multi_db_inner_rollback_on_the_other_database_drops_job() -> None:
    # default commits, but the pg transaction that was open at the enqueue rolled back.
    with transaction.atomic(using="default"):
        kept = enqueue(add, 1, 1)
        with pytest.raises(RuntimeError), transaction.atomic(using="pg"):
            enqueue(add, 2, 2)
            raise RuntimeError
    assert queued_ids() == [kept.id]


@pytest.mark.skipif(len(ALIASES) < 2, reason="needs a second database (PostgreSQL alias 'pg')")
@ALL
def test_multi_db_jobs_of_one_commit_are_all_written() -> None:
    # The last hook of default's commit run belongs to a job still waiting for pg: the jobs
    # collected before it must still be written at default's commit.
    on_default, on_pg = transaction.atomic(using="default"), transaction.atomic(using="pg")
    on_default.__enter__()
    first = enqueue(add, 1, 1)
    on_pg.__enter__()
    try:  # the blocks end out of order: no `with`, but neither may outlive the test
        try:
            waiting = enqueue(add, 2, 2)
        finally:
            on_default.__exit__(None, None, None)  # blocks on two databases need not nest
        assert queued_ids() == [first.id]
    except BaseException:
        on_pg.__exit__(*sys.exc_info())
        raise
    on_pg.__exit__(None, None, None)
    assert queued_ids() == [first.id, waiting.id]


@ALL
def test_another_apps_failing_commit_hook_loses_no_job() -> None:
    def broken() -> None:
        raise RuntimeError("another app's hook")

    with pytest.raises(RuntimeError, match="another app"), transaction.atomic():
        first = enqueue(add, 1, 1)
        transaction.on_commit(broken)
        second = enqueue(add, 2, 2)
    # Django stopped running the hooks at the failure: the transaction did commit, so the
    # job collected before it is written no later than the next commit run.
    with transaction.atomic():
        third = enqueue(add, 3, 3)
    assert set(queued_ids()) >= {first.id, third.id}
    assert second.id not in queued_ids()  # its hook never ran: Django's rule for every hook


@ALL
def test_enqueue_many_keeps_the_group_in_commit_mode() -> None:
    queue = get_queue()
    with transaction.atomic():
        jobs = queue.enqueue_many(
            [Queue.prepare_data(add, (1, 2)), Queue.prepare_data(add, (3, 4))], group_id="nightly"
        )
        assert queued_ids() == []
    assert queued_ids() == [job.id for job in jobs]
    assert {queue.fetch_job(job.id).group_id for job in jobs} == {"nightly"}


@ALL
def test_enqueue_many_rejects_a_repeated_job_id() -> None:
    with pytest.raises(ValueError, match="'same' appears more than once"):
        get_queue().enqueue_many(
            [Queue.prepare_data(add, (1, 2), job_id="same"), Queue.prepare_data(add, (3, 4), job_id="same")]
        )
    assert queued_ids() == []


@ALL
def test_jobs_of_one_transaction_are_written_in_one_pipeline() -> None:
    client = get_queue().connection
    pool = client.connection_pool
    checkouts: list[int] = []
    original = pool.get_connection

    def counting(*args, **kwargs):
        checkouts.append(1)
        return original(*args, **kwargs)

    get_queue().get_redis_server_version()
    with transaction.atomic():
        jobs = [multiply.delay(i, i) for i in range(50)]
        pool.get_connection = counting
    del pool.get_connection
    assert len(checkouts) == 1
    assert queued_ids() == [job.id for job in jobs]


@ALL
def test_outside_a_transaction_the_job_is_written_at_once() -> None:
    job = enqueue(add, 1, 1)
    assert queued_ids() == [job.id]


@ALL
@override_settings(RQ={"COMMIT_MODE": "auto"})
def test_auto_mode_writes_inside_a_transaction() -> None:
    with transaction.atomic():
        job = enqueue(add, 1, 1)
        assert queued_ids() == [job.id]


@ALL
def test_commit_mode_argument_overrides_setting() -> None:
    with transaction.atomic():
        job = get_queue(commit_mode="auto").enqueue(add, 1, 1)
        assert queued_ids() == [job.id]


def test_invalid_commit_mode_argument() -> None:
    with pytest.raises(ValueError, match="commit_mode must be one of"):
        get_queue(commit_mode="later")


@pytest.mark.django_db
def test_testcase_style_capture_on_commit(django_capture_on_commit_callbacks) -> None:
    """In a test wrapped in a transaction, executing the captured callbacks writes the jobs."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        a = enqueue(add, 1, 1)
        b = multiply.delay(2, 2)
        assert queued_ids() == []
    assert len(callbacks) == 2
    assert queued_ids() == [a.id, b.id]


@ALL
def test_capture_jobs_sees_what_reached_redis() -> None:
    with capture_jobs() as captured:
        with transaction.atomic():
            multiply.delay(6, 7)
        with pytest.raises(RuntimeError), transaction.atomic():
            multiply.delay(1, 1)
            raise RuntimeError
    captured.assert_enqueued(multiply, 6, 7, queue="default")
    assert captured.calls() == [("tests.testapp.jobs.multiply", (6, 7), {})]
    with pytest.raises(AssertionError, match="was not enqueued"):
        captured.assert_enqueued(multiply, 1, 1)


@override_settings(RQ={"COMMIT_MODE": "request_finished"}, ROOT_URLCONF="tests.testapp.urls")
@pytest.mark.django_db
def test_request_finished_mode(client) -> None:
    response = client.get("/enqueue/")
    assert response.status_code == 200
    job_id = response.content.decode()
    assert queued_ids() == [job_id]


@override_settings(RQ={"COMMIT_MODE": "request_finished"}, ROOT_URLCONF="tests.testapp.urls")
@pytest.mark.django_db
def test_request_finished_mode_failed_request_enqueues_nothing(client) -> None:
    client.raise_request_exception = False
    response = client.get("/enqueue-then-fail/")
    assert response.status_code == 500
    assert queued_ids() == []


@override_settings(RQ={"COMMIT_MODE": "request_finished"})
def test_request_finished_mode_outside_a_request_writes_at_once() -> None:
    job = enqueue(add, 1, 1)
    assert queued_ids() == [job.id]
