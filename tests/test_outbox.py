"""The outbox commit mode in one process, on SQLite and (where configured) PostgreSQL.

A stored job is a row in the transaction's database until its push; these tests look at the
rows and at Redis after each step. Redis being down is simulated by queues on a closed port.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.core.signals import request_finished, request_started
from django.db import connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings
from django.utils import timezone
from rq.queue import Queue

from django_taskq import enqueue, get_queue
from django_taskq.checks import check_outbox_table
from django_taskq.management.exit_codes import ExitCode
from django_taskq.models import OutboxJob
from django_taskq.outbox import cleanup, push, relay, rows
from django_taskq.outbox.status import outbox_status
from tests.command_helpers import call, closed_port
from tests.testapp.jobs import add, multiply

ALIASES = list(settings.DATABASES)
ALL = pytest.mark.django_db(transaction=True, databases=ALIASES)
OUTBOX = override_settings(RQ={"COMMIT_MODE": "outbox"})


@pytest.fixture(autouse=True)
def _nothing_noted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no row noted for deletion by an earlier test of this thread."""
    monkeypatch.setattr(cleanup, "_later", cleanup._Later())


def stored(alias: str = "default") -> list[OutboxJob]:
    return list(OutboxJob.objects.using(alias).order_by("id"))


def all_stored() -> int:
    return sum(OutboxJob.objects.using(alias).count() for alias in ALIASES)


def queued_ids(name: str = "default") -> list[str]:
    return get_queue(name).job_ids


def down_queues() -> dict[str, dict[str, object]]:
    """RQ_QUEUES with "default" on a port nothing listens on (Redis down)."""
    queues = dict(settings.RQ_QUEUES)
    queues["default"] = {"URL": f"redis://127.0.0.1:{closed_port()}/0", "SOCKET_TIMEOUT": 1}
    return queues


@ALL
@OUTBOX
@pytest.mark.parametrize("alias", ALIASES)
def test_a_job_is_a_row_until_the_commit_then_on_its_queue(alias: str) -> None:
    with transaction.atomic(using=alias):
        job = enqueue(add, 1, 2)
        [row] = stored(alias)
        assert (row.job_id, row.queue, row.at_front) == (job.id, "default", False)
        assert queued_ids() == []
    assert queued_ids() == [job.id]
    assert len(stored(alias)) == 1  # pushed; its row goes with the next ones (cleanup)
    cleanup.after_request()
    assert all_stored() == 0
    assert get_queue().fetch_job(job.id).perform() == 3


@ALL
@OUTBOX
@pytest.mark.parametrize("alias", ALIASES)
def test_rollback_stores_nothing_and_pushes_nothing(alias: str, redis_client: redis.Redis) -> None:
    with pytest.raises(RuntimeError), transaction.atomic(using=alias):
        job = enqueue(add, 1, 2)
        raise RuntimeError
    assert all_stored() == 0
    assert queued_ids() == []
    assert redis_client.exists(f"rq:job:{job.id}") == 0


@ALL
@OUTBOX
@pytest.mark.parametrize("alias", ALIASES)
def test_savepoint_rollback_drops_only_its_rows(alias: str) -> None:
    with transaction.atomic(using=alias):
        kept = enqueue(add, 1, 1)
        with pytest.raises(ValueError), transaction.atomic(using=alias):
            enqueue(add, 2, 2)
            raise ValueError
        assert [row.job_id for row in stored(alias)] == [kept.id]
    assert queued_ids() == [kept.id]
    cleanup.delete_now()
    assert all_stored() == 0


@ALL
@OUTBOX
def test_every_enqueue_path_goes_through_the_outbox(redis_client: redis.Redis) -> None:
    queue = get_queue()
    with transaction.atomic():
        plain = queue.enqueue(add, 1, 2, job_id="plain", meta={"k": "v"}, description="d", result_ttl=77)
        front = queue.enqueue(add, 1, 2, at_front=True)
        later = queue.enqueue_in(timedelta(minutes=5), add, 3, 4)
        many = queue.enqueue_many([Queue.prepare_data(add, (5, 6)), Queue.prepare_data(add, (7, 8))])
        delayed = multiply.delay(2, 3)
        assert len(stored()) == 5  # enqueue_many: one row
    assert queued_ids() == [front.id, plain.id, *(job.id for job in many), delayed.id]
    assert queue.scheduled_job_registry.get_job_ids() == [later.id]
    fetched = queue.fetch_job("plain")
    assert (fetched.meta, fetched.description, fetched.result_ttl) == ({"k": "v"}, "d", 77)
    cleanup.after_request()
    assert all_stored() == 0
    assert redis_client.keys(push.MARKER_PREFIX + "*") == []


@ALL
@OUTBOX
def test_the_rows_of_pushed_jobs_are_deleted_together_then_their_markers(redis_client: redis.Redis) -> None:
    def markers() -> int:
        return len(redis_client.keys(push.MARKER_PREFIX + "*"))

    with transaction.atomic():
        enqueue(add, 1, 1)
    assert (all_stored(), markers()) == (1, 1)  # waiting for more, or for a second
    with transaction.atomic():
        for i in range(cleanup.BATCH):
            enqueue(add, i, i)
    assert (all_stored(), markers()) == (0, cleanup.BATCH + 1)  # a batch of rows: one DELETE
    with transaction.atomic():
        enqueue(add, 2, 2)
    assert (all_stored(), markers()) == (1, 1)  # the markers went with this push
    cleanup.after_request()
    assert (all_stored(), markers()) == (0, 0)
    assert len(queued_ids()) == cleanup.BATCH + 2


@ALL
@OUTBOX
def test_jobs_rq_writes_itself_are_written_at_the_commit_without_a_row() -> None:
    queue = get_queue()
    with transaction.atomic():
        parent = queue.enqueue(add, 1, 1)
        child = queue.enqueue(add, 2, 2, depends_on=parent)
        assert [row.job_id for row in stored()] == [parent.id]  # the dependent job: RQ's own write
    assert queued_ids() == [parent.id]
    assert queue.deferred_job_registry.get_job_ids() == [child.id]


@ALL
@OUTBOX
def test_outside_a_transaction_the_job_is_written_at_once() -> None:
    job = enqueue(add, 1, 2)
    assert queued_ids() == [job.id]
    assert all_stored() == 0


@ALL
def test_get_queue_commit_mode_outbox() -> None:
    with transaction.atomic():
        job = get_queue(commit_mode="outbox").enqueue(add, 1, 2)
        assert [row.job_id for row in stored()] == [job.id]
    assert queued_ids() == [job.id]


@ALL
def test_a_queue_of_rq_queues_in_outbox_mode(settings: Any) -> None:
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "kept": {**settings.RQ_QUEUES["default"], "COMMIT_MODE": "outbox"},
    }
    assert (get_queue("kept").commit_mode, get_queue().commit_mode) == ("outbox", "on_db_commit")
    assert get_queue("kept", commit_mode="auto").commit_mode == "auto"
    with transaction.atomic():
        stored_job = get_queue("kept").enqueue(add, 1, 2)
        deferred = get_queue().enqueue(add, 3, 4)
        assert [row.job_id for row in stored()] == [stored_job.id]  # the other waits in memory
    assert (queued_ids("kept"), queued_ids()) == ([stored_job.id], [deferred.id])


@ALL
@OUTBOX
def test_redis_down_at_commit_leaves_the_rows_for_the_relay(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        job = enqueue(add, 1, 2)
    # the transaction committed and nothing raised: the row waits
    assert [row.job_id for row in stored()] == [job.id]
    assert job.id in caplog.text and "relay" in caplog.text
    assert relay.relay_once(min_age=0).pushed == 1
    assert queued_ids() == [job.id]
    assert all_stored() == 0


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_default_mode_keeps_what_redis_refused_at_commit(
    alias: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "django_taskq")
    with override_settings(RQ_QUEUES=down_queues()):
        with transaction.atomic(using=alias):
            jobs = [enqueue(add, i, i) for i in range(3)]
        assert all(not job.taskq_waiting_for_commit for job in jobs)
    [row, *_] = stored("default")  # kept in the router's database for OutboxJob
    assert row.after_failed_write
    assert all(job.id in caplog.text for job in jobs)
    assert "password" not in caplog.text
    assert relay.relay_once(min_age=0).pushed == 3
    assert queued_ids() == [job.id for job in jobs]
    assert all_stored() == 0


@ALL
def test_default_mode_relay_skips_a_job_whose_failed_write_reached_redis() -> None:
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        job = enqueue(add, 1, 2)
    pending = rows.pendings_from_row(stored()[0], "default")[0]
    get_queue().enqueue_job(pending.job)  # the write "timed out" after Redis took it
    result = relay.relay_once(min_age=0)
    assert (result.pushed, result.found_pushed) == (0, 1)
    assert queued_ids() == [job.id]
    assert all_stored() == 0


@ALL
def test_default_mode_without_the_table_raises_as_before_and_w060_says_so() -> None:
    assert check_outbox_table(databases=ALIASES) == []
    with connections["default"].schema_editor() as editor:
        editor.delete_model(OutboxJob)
    rows._forget_tables()
    try:
        [message] = check_outbox_table(databases=ALIASES)  # migration 0003 applied, no table
        assert (message.id, message.obj) == ("django_taskq.W060", "DATABASES['default']")
        assert "migrate django_taskq" in message.hint
        assert check_outbox_table() == []  # a database check: only when databases are given
        recorder = MigrationRecorder(connections["default"])
        recorder.record_unapplied("django_taskq", "0003_outboxjob")
        try:  # what `migrate` sees before it creates the table: Django's own notice covers it
            assert check_outbox_table(databases=ALIASES) == []
        finally:
            recorder.record_applied("django_taskq", "0003_outboxjob")
        with (
            pytest.raises(redis.ConnectionError),
            override_settings(RQ_QUEUES=down_queues()),
            transaction.atomic(),
        ):
            enqueue(add, 1, 2)
        with OUTBOX, pytest.raises(ImproperlyConfigured, match="migrate django_taskq"), transaction.atomic():
            enqueue(add, 1, 2)
        assert queued_ids() == []
    finally:
        with connections["default"].schema_editor() as editor:
            editor.create_model(OutboxJob)
        rows._forget_tables()


@ALL
@OUTBOX
def test_the_relay_leaves_young_rows_to_their_process() -> None:
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        enqueue(add, 1, 2)
    assert relay.relay_once(min_age=60).pushed == 0
    assert len(stored()) == 1
    OutboxJob.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert relay.relay_once(min_age=60).pushed == 1


@ALL
@OUTBOX
def test_fast_path_and_relay_on_the_same_rows_push_each_job_once(redis_client: redis.Redis) -> None:
    # The relay takes the rows after the commit and before the process's own push.
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        jobs = [enqueue(add, i, i) for i in range(5)]
    pendings = [pending for row in stored() for pending in rows.pendings_from_row(row, "default")]
    assert relay.relay_once(min_age=0).pushed == 5
    from django_taskq.outbox.commit import deliver

    assert deliver(pendings) == []
    assert queued_ids() == [job.id for job in jobs]
    assert len(redis_client.keys("rq:job:*")) == 5


@ALL
@OUTBOX
def test_status_counts_the_rows_and_the_oldest_age() -> None:
    assert (outbox_status().jobs, outbox_status().oldest_age) == (0, None)
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        enqueue(add, 1, 2)
        enqueue(add, 1, 2)
    OutboxJob.objects.filter(pk=stored()[0].pk).update(created_at=timezone.now() - timedelta(seconds=30))
    status = outbox_status()
    assert status.jobs == 2
    assert status.oldest_age is not None and 30 <= status.oldest_age < 40
    assert "Outbox: 2 jobs waiting, oldest 3" in call("rqstats")  # 30s..39s
    document = json.loads(call("rqstats", "--json"))["outbox"]
    assert (document["jobs"], document["errors"]) == (2, [])
    assert 30 <= document["oldest_age"] < 40


@ALL
@OUTBOX
def test_rqrelay_once_pushes_what_waits_and_says_so() -> None:
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        jobs = [enqueue(add, i, i) for i in range(3)]
    with (
        override_settings(RQ_QUEUES=down_queues()),
        pytest.raises(CommandError, match=r"Redis at 127\.0\.0\.1") as failed,
    ):
        call("rqrelay", "--once")
    assert failed.value.returncode == ExitCode.REDIS
    assert "Pushed 3 job(s) from the outbox." in call("rqrelay", "--once", "default")
    assert queued_ids() == [job.id for job in jobs]
    with pytest.raises(CommandError, match="Unknown queue 'nope'"):
        call("rqrelay", "--once", "nope")


@ALL
def test_a_periodic_relay_waits_longer_after_each_failed_pass() -> None:
    now = [100.0]
    periodic = relay.PeriodicRelay(interval=5, clock=lambda: now[0])
    with override_settings(RQ_QUEUES=down_queues()):
        with OUTBOX, transaction.atomic():
            enqueue(add, 1, 2)
        OutboxJob.objects.update(created_at=timezone.now() - timedelta(seconds=5))
        assert periodic.maybe_run() is not None and periodic.next_run == 105  # failed: 5 s
        assert periodic.maybe_run() is None  # not due
        now[0] = 105
        assert periodic.run().errors and periodic.next_run == 115  # then 10 s
    now[0] = 115
    result = periodic.maybe_run()
    assert result is not None and result.pushed == 1 and periodic.next_run == 120  # back to 5 s


@ALL
@OUTBOX
def test_the_dashboard_overview_shows_the_outbox() -> None:
    from django.test import Client

    from tests.dashboard_helpers import PASSWORD, make_user

    make_user("viewer")
    client = Client()
    client.login(username="viewer", password=PASSWORD)
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        enqueue(add, 1, 2)
    OutboxJob.objects.update(created_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/django-rq/")
    assert response.context["outbox"].jobs == 1
    html = response.content.decode()
    assert 'taskq-outbox taskq-card-bad"' in html and "in the outbox, oldest 1 min 30 s" in html


needs_pg = pytest.mark.skipif("pg" not in ALIASES, reason="needs a second database (PostgreSQL alias 'pg')")


@needs_pg
@ALL
@OUTBOX
def test_a_job_waiting_on_two_databases_is_stored_in_the_routers_and_pushed_after_both() -> None:
    with transaction.atomic(using="default"):
        with transaction.atomic(using="pg"):
            job = enqueue(add, 1, 1)
        assert [row.job_id for row in stored("default")] == [job.id]
        assert stored("pg") == []
        assert queued_ids() == []  # pg committed, default still open
    assert queued_ids() == [job.id]
    cleanup.delete_now()
    assert all_stored() == 0


@needs_pg
@ALL
@OUTBOX
def test_the_other_database_rolling_back_deletes_the_row_at_the_commit() -> None:
    with transaction.atomic(using="default"):
        with pytest.raises(RuntimeError), transaction.atomic(using="pg"):
            enqueue(add, 1, 1)
            raise RuntimeError
        assert len(stored("default")) == 1  # in default's open transaction
    assert all_stored() == 0  # deleted once default committed: never pushed
    assert queued_ids() == []
    assert relay.relay_once(min_age=0).pushed == 0


@needs_pg
@ALL
@OUTBOX
def test_the_other_database_rolling_back_after_the_commit_deletes_the_row_soon_after() -> None:
    on_default, on_pg = transaction.atomic(using="default"), transaction.atomic(using="pg")
    on_default.__enter__()
    on_pg.__enter__()
    try:  # the blocks end out of order: no `with`, but neither may outlive the test
        try:
            enqueue(add, 1, 1)
        finally:
            on_default.__exit__(None, None, None)  # the row is committed in default
        assert len(stored("default")) == 1
    finally:
        try:
            raise RuntimeError
        except RuntimeError:
            on_pg.__exit__(*sys.exc_info())  # pg rolls back
    with transaction.atomic():  # this thread's next push deletes the row first
        kept = enqueue(add, 2, 2)
    assert all_stored() == 0
    assert queued_ids() == [kept.id]


@ALL
@OUTBOX
def test_the_end_of_a_request_deletes_the_markers_left(redis_client: redis.Redis) -> None:
    request_started.send(sender=None)
    with transaction.atomic():
        enqueue(add, 1, 1)
    assert len(redis_client.keys(push.MARKER_PREFIX + "*")) == 1
    request_finished.send(sender=None)  # after the response is sent
    assert redis_client.keys(push.MARKER_PREFIX + "*") == []


@ALL
@OUTBOX
def test_a_batch_is_stored_in_rows_of_jobs_per_row_and_relayed_once_each(
    monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis
) -> None:
    monkeypatch.setattr(rows, "JOBS_PER_ROW", 3)
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        jobs = get_queue().enqueue_many([Queue.prepare_data(add, (i, i)) for i in range(7)])
        front = get_queue().enqueue_many([Queue.prepare_data(add, (0, 0), at_front=True)])
    assert [(row.jobs, row.job_id, row.at_front) for row in stored()] == [
        (3, jobs[0].id, False), (3, jobs[3].id, False), (1, jobs[6].id, False), (1, front[0].id, True),
    ]  # fmt: skip
    assert outbox_status().jobs == 8
    # A relay that pushed the first two jobs of the first row before it died: their markers stay.
    first = rows.pendings_from_row(stored()[0], "default")
    assert len(push.push(first[:2], by=push.BY_RELAY).fresh) == 2
    result = relay.relay_once(min_age=0, batch_size=4)  # two rows of 3 are two transactions
    assert (result.pushed, result.found_pushed, result.errors) == (6, 2, [])
    assert queued_ids() == [front[0].id, *(job.id for job in jobs)]
    assert len(redis_client.keys("rq:job:*")) == 8
    assert all_stored() == 0


@ALL
@OUTBOX
def test_a_row_of_more_jobs_than_the_batch_size_is_claimed_alone() -> None:
    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        get_queue().enqueue_many([Queue.prepare_data(add, (i, i)) for i in range(5)])
        enqueue(add, 9, 9)
    with transaction.atomic():
        claimed, more = rows.claim("default", ["default"], limit=2, min_age=0)
        assert ([row.jobs for row in claimed], more) == ([5], True)
    with transaction.atomic():
        claimed, more = rows.claim("default", ["default"], limit=6, min_age=0)
        assert ([row.jobs for row in claimed], more) == ([5, 1], False)


@ALL
@OUTBOX
def test_the_relay_places_jobs_by_their_priority() -> None:
    from django_taskq.rq_compat import priority

    with override_settings(RQ_QUEUES=down_queues()), transaction.atomic():
        queue = get_queue()
        placed = []
        for value in (-5, 0, 5):
            job = queue.create_job(add, args=(value, value))
            priority.mark(job, value)  # as the Django Tasks backend marks a task's job
            placed.append(queue.enqueue_job(job))
    assert relay.relay_once(min_age=0).pushed == 3
    assert queued_ids() == [placed[2].id, placed[1].id, placed[0].id]
