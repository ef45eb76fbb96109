"""Schedule rows: their slots (time zone, window, DST), words, upcoming runs, "Run now", run state."""

from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.db import OperationalError, connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from rq import SimpleWorker
from rq.job import Job

from django_taskq.cron import CronEntry, CronRunner
from django_taskq.cron import loader as loader_module
from django_taskq.cron.database import describe_schedule, run_now, upcoming_runs
from django_taskq.cron.loader import ScheduleLoader
from django_taskq.cron.rows import ScheduleEntry
from django_taskq.models import Schedule
from django_taskq.queues import get_queue
from tests.command_helpers import ROOT, call, manage_argv, subprocess_env, wait_for

ADD = "tests.testapp.jobs.add"
FAIL = "tests.testapp.jobs.fail"
ALIASES = list(settings.DATABASES)
ALL = pytest.mark.django_db(transaction=True, databases=ALIASES)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def row(**fields: Any) -> Schedule:
    """An unsaved row (the pure functions need no database)."""
    values: dict[str, Any] = {"pk": 7, "name": "r", "func": ADD, "args": [1, 2], "time_zone": "UTC"}
    values.update(fields)
    return Schedule(**values)


def queued_ids(client: redis.Redis, queue: str = "default") -> list[str]:
    return [raw.decode() for raw in client.lrange(f"rq:queue:{queue}", 0, -1)]


# --- slots, words and upcoming runs (pure) ----------------------------------------------------


def test_interval_slots_count_from_start_at_or_the_epoch() -> None:
    plain = ScheduleEntry.from_row(row(interval=60))
    assert plain.slot_at(utc(2026, 1, 15, 10, 7, 30)) == utc(2026, 1, 15, 10, 7)
    anchored = ScheduleEntry.from_row(row(interval=60, start_at=utc(2026, 1, 15, 10, 0, 20)))
    assert anchored.slot_at(utc(2026, 1, 15, 10, 0, 19)) is None  # before the window
    assert anchored.slot_at(utc(2026, 1, 15, 10, 7, 30)) == utc(2026, 1, 15, 10, 7, 20)
    assert anchored.next_slot(utc(2026, 1, 1)) == utc(2026, 1, 15, 10, 0, 20)
    assert anchored.next_slot(utc(2026, 1, 15, 10, 7, 20)) == utc(2026, 1, 15, 10, 8, 20)


def test_the_window_bounds_every_kind_of_schedule() -> None:
    start, end = utc(2026, 1, 15, 10), utc(2026, 1, 15, 11)
    for fields in ({"interval": 600}, {"cron": "*/10 * * * *"}):
        entry = ScheduleEntry.from_row(row(start_at=start, end_at=end, **fields))
        assert entry.slot_at(utc(2026, 1, 15, 9, 59)) is None
        assert entry.next_slot(utc(2026, 1, 15, 9)) == start
        assert entry.slot_at(utc(2026, 1, 15, 15)) == end  # the last slot of the window
        assert entry.next_slot(end) is None  # over
    once = ScheduleEntry.from_row(row(run_at=utc(2026, 1, 15, 12), end_at=end))
    assert once.next_slot(utc(2026, 1, 1)) is None
    assert once.slot_at(utc(2026, 1, 16)) is None


def test_run_at_is_one_slot() -> None:
    entry = ScheduleEntry.from_row(row(run_at=utc(2026, 12, 1, 9)))
    assert entry.slot_at(utc(2026, 12, 1, 8, 59)) is None
    assert entry.slot_at(utc(2026, 12, 1, 9, 0, 5)) == utc(2026, 12, 1, 9)
    assert entry.next_slot(utc(2026, 11, 1)) == utc(2026, 12, 1, 9)
    assert entry.next_slot(utc(2026, 12, 1, 9)) is None


def test_a_cron_row_in_europe_paris_across_both_dst_changes() -> None:
    daily = ScheduleEntry.from_row(row(cron="30 2 * * *", time_zone="Europe/Paris"))
    # Spring, 29 Mar 2026: 02:30 does not exist in Paris; the job runs at 03:00 CEST (01:00 UTC).
    assert daily.next_slot(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)
    assert daily.next_slot(utc(2026, 3, 29, 1)) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST
    # Autumn, 25 Oct 2026: 02:30 happens twice (00:30 and 01:30 UTC); a fixed hour runs once.
    assert daily.next_slot(utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 0, 30)
    assert daily.slot_at(utc(2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30)
    assert daily.next_slot(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)  # 02:30 CET
    # A wildcard hour keeps real time through the repeated hour.
    half_hourly = ScheduleEntry.from_row(row(cron="*/30 * * * *", time_zone="Europe/Paris"))
    runs = upcoming_runs(row(cron="*/30 * * * *", time_zone="Europe/Paris"), 4, after=utc(2026, 10, 25, 0))
    assert runs == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 25, 2),
    ]
    assert half_hourly.slot_at(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 1)
    # The row's zone, not TIME_ZONE: 09:00 in New York is 14:00 UTC in winter.
    assert upcoming_runs(row(cron="0 9 * * *", time_zone="America/New_York"), 1, after=utc(2026, 1, 15)) == [
        utc(2026, 1, 15, 14)
    ]


def test_upcoming_runs_honour_max_runs_and_the_window() -> None:
    after = utc(2026, 1, 15, 10)
    assert upcoming_runs(row(interval=30), 3, after=after) == [
        utc(2026, 1, 15, 10, 0, 30), utc(2026, 1, 15, 10, 1), utc(2026, 1, 15, 10, 1, 30)
    ]  # fmt: skip
    assert len(upcoming_runs(row(interval=30, max_runs=5, run_count=3), 5, after=after)) == 2
    assert upcoming_runs(row(interval=30, max_runs=5, run_count=5), after=after) == []
    assert upcoming_runs(row(interval=30, end_at=utc(2026, 1, 15, 10, 1)), after=after) == [
        utc(2026, 1, 15, 10, 0, 30), utc(2026, 1, 15, 10, 1)
    ]  # fmt: skip
    assert upcoming_runs(row(run_at=utc(2026, 1, 16)), after=after) == [utc(2026, 1, 16)]
    assert upcoming_runs(row(interval=30, enabled=False), 1, after=after) == [utc(2026, 1, 15, 10, 0, 30)]
    assert upcoming_runs(row(cron="not a cron"), after=after) == []
    assert upcoming_runs(row(interval=30, time_zone="Mars/Olympus"), after=after) == []
    now = datetime.now(timezone.utc)
    (first,) = upcoming_runs(row(interval=3600), 1)
    assert first.tzinfo == timezone.utc and now < first <= now + timedelta(hours=1)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"interval": 30}, "every 30 seconds"),
        ({"interval": 1}, "every second"),
        ({"interval": 60}, "every minute"),
        ({"interval": 7200}, "every 2 hours"),
        ({"interval": 90}, "every 90 seconds"),
        ({"interval": 86400}, "every day"),
        ({"cron": "0 9 * * 1-5", "time_zone": "Europe/Paris"}, "cron 0 9 * * 1-5 (Europe/Paris)"),
        ({"run_at": utc(2026, 12, 1, 9)}, "once at 2026-12-01 09:00 UTC"),
        (
            {"run_at": utc(2026, 12, 1, 9), "time_zone": "Europe/Paris"},
            "once at 2026-12-01 10:00 Europe/Paris",
        ),
        (
            {
                "interval": 300,
                "start_at": utc(2026, 1, 1),
                "end_at": utc(2026, 2, 1, 0, 0, 30),
                "max_runs": 10,
            },
            "every 5 minutes, from 2026-01-01 00:00 UTC, until 2026-02-01 00:00:30 UTC, at most 10 runs",
        ),
        ({"interval": 5, "max_runs": 1}, "every 5 seconds, at most 1 run"),
        ({}, "no schedule"),
    ],
)
def test_describe_schedule(fields: dict[str, Any], words: str) -> None:
    assert describe_schedule(row(**fields)) == words


def test_row_keys_and_job_ids_never_meet_rq_cron_names() -> None:
    entry = ScheduleEntry.from_row(row(pk=12, name="report", interval=5))
    assert entry.state_key == "taskq:schedule:12"
    assert entry.runs_key == "taskq:schedule:12:runs"
    assert entry.job_id(utc(2026, 1, 15, 10, 5)) == "schedule-12-20260115T100500"
    assert not entry.state_key.startswith("taskq:cron:")


# --- run now (real Redis, both databases) ----------------------------------------------------


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_run_now_enqueues_one_job_like_a_scheduled_run_and_counts_it(
    alias: str, redis_client: redis.Redis
) -> None:
    schedule = Schedule.objects.using(alias).create(
        name="now", func=ADD, args=[2, 3], kwargs={}, interval=3600, timeout=42, result_ttl=77, max_runs=2,
        enabled=False,
    )  # fmt: skip
    job = run_now(schedule)
    assert queued_ids(redis_client) == [job.id]
    fetched = Job.fetch(job.id, connection=redis_client)
    assert (fetched.func_name, fetched.args, fetched.timeout, fetched.result_ttl) == (ADD, (2, 3), 42, 77)
    assert fetched.meta["schedule"] == schedule.pk
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.last_job_id, schedule.last_status) == (1, job.id, "queued")
    assert schedule.last_run_at is not None
    # The job runs: its callback records the outcome on the row.
    SimpleWorker([get_queue("default")], connection=redis_client).work(burst=True)
    schedule.refresh_from_db()
    assert (schedule.last_status, schedule.success_count, schedule.failure_count) == ("finished", 1, 0)
    # The second run reaches max_runs: the row is disabled (it was disabled already here: enable it).
    Schedule.objects.using(alias).filter(pk=schedule.pk).update(enabled=True)
    run_now(schedule)
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.enabled) == (2, False)
    assert len(queued_ids(redis_client)) == 1


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("cron", ["*/30 * * * *", "0 * * * *", "30 2 * * *", "15,45 1-3 * * *"])
def test_the_latest_slot_is_exact_through_dst_changes(zone: str, cron: str) -> None:
    """slot_at(t) is the last of the next_slot() sequence at or before t (croniter's get_prev()
    alone answers an earlier slot inside the repeated autumn hour, which would skip a run)."""
    nights = {
        "Europe/Paris": [utc(2026, 3, 28, 22), utc(2026, 10, 24, 22)],
        "America/New_York": [utc(2026, 3, 8, 4), utc(2026, 11, 1, 3)],
        "Australia/Lord_Howe": [utc(2026, 4, 4, 12), utc(2026, 10, 3, 12)],  # half-hour DST shifts
    }[zone]
    with override_settings(TIME_ZONE=zone):
        entries = [
            ScheduleEntry.from_row(row(cron=cron, time_zone=zone)),
            CronEntry(name="e", func=ADD, cron=cron),
        ]
        for entry in entries:
            for night in nights:
                slots = [entry.slot_at(night - timedelta(days=2))]
                while slots[-1] is not None and slots[-1] < night + timedelta(hours=7):
                    slots.append(entry.next_slot(slots[-1]))
                for minute in range(0, 6 * 60, 5):
                    moment = night + timedelta(minutes=minute)
                    expected = max(slot for slot in slots if slot is not None and slot <= moment)
                    assert entry.slot_at(moment) == expected, (type(entry).__name__, moment)


# --- the runner with rows (in process, real Redis, both databases) -----------------------------


def runner_for(alias: str, name: str = "r0") -> CronRunner:
    """A runner of the rows only, looking at the table at every tick (the runners wait 2 s)."""
    return CronRunner([], schedules=ScheduleLoader(alias, every=0), name=name)


def make(alias: str, **fields: Any) -> Schedule:
    values: dict[str, Any] = {"name": f"row-{uuid.uuid4().hex[:6]}", "func": ADD, "args": [1, 2]}
    values.update(fields)
    return Schedule.objects.using(alias).create(**values)


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_a_row_runs_each_slot_once_and_records_its_run_state(alias: str, redis_client: redis.Redis) -> None:
    schedule = make(alias, interval=60, timeout=42, kwargs={}, queue="low")
    runner = runner_for(alias)
    (run,) = runner.tick(utc(2026, 1, 15, 10, 7, 30))
    assert run.job_id == f"schedule-{schedule.pk}-20260115T100700"
    assert runner.tick(utc(2026, 1, 15, 10, 7, 31)) == []
    assert runner_for(alias, "r1").tick(utc(2026, 1, 15, 10, 7, 32)) == []  # another runner: claimed
    assert queued_ids(redis_client, "low") == [run.job_id]
    job = Job.fetch(run.job_id, connection=redis_client)
    assert (job.func_name, job.args, job.timeout) == (ADD, (1, 2), 42)
    assert job.meta["schedule"] == schedule.pk and job.meta["cron_slot"] == "2026-01-15T10:07:00+00:00"
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.last_job_id, schedule.last_status) == (1, run.job_id, "queued")
    assert (schedule.last_run_at, schedule.next_run_at) == (utc(2026, 1, 15, 10, 7), utc(2026, 1, 15, 10, 8))
    assert redis_client.hget(f"taskq:schedule:{schedule.pk}", "runs") == b"1"


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_edits_new_rows_disables_and_deletes_take_effect_at_the_next_look(
    alias: str, redis_client: redis.Redis
) -> None:
    schedule = make(alias, interval=60)
    runner = runner_for(alias)
    assert [run.slot for run in runner.tick(utc(2026, 1, 15, 10, 0, 5))] == [utc(2026, 1, 15, 10)]
    schedule.interval = 30  # as the admin does: save()
    schedule.save()
    assert [run.slot for run in runner.tick(utc(2026, 1, 15, 10, 0, 31))] == [utc(2026, 1, 15, 10, 0, 30)]
    schedule.enabled = False
    schedule.save()
    assert runner.tick(utc(2026, 1, 15, 10, 1, 5)) == []
    Schedule.objects.using(alias).filter(pk=schedule.pk).update(enabled=True)  # updated_at unchanged
    assert [run.slot for run in runner.tick(utc(2026, 1, 15, 10, 1, 35))] == [utc(2026, 1, 15, 10, 1, 30)]
    other = make(alias, cron="*/2 * * * *")
    Schedule.objects.using(alias).filter(pk=schedule.pk).delete()
    runs = runner.tick(utc(2026, 1, 15, 10, 2, 5))
    assert [(run.job_id or "").split("-")[1] for run in runs] == [str(other.pk)]
    assert len(runner.entries) == 1


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_max_runs_disables_the_row_after_exactly_that_many_runs(
    alias: str, redis_client: redis.Redis
) -> None:
    schedule = make(alias, interval=10, max_runs=3)
    runner = runner_for(alias)
    for step in range(8):
        runner.tick(utc(2026, 1, 15, 10) + timedelta(seconds=10 * step + 1))
    assert len(queued_ids(redis_client)) == 3
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.enabled, schedule.next_run_at) == (3, False, None)
    assert runner.entries == []


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_a_lost_run_state_write_is_repaired_and_max_runs_stays_exact(
    alias: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A runner that dies (or loses its database) between its Redis claim and its database write."""
    schedule = make(alias, interval=10, max_runs=2)
    real = loader_module.record_run
    calls: list[int] = []

    def lost_once(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("the database went away")
        real(*args, **kwargs)

    monkeypatch.setattr(loader_module, "record_run", lost_once)
    runner = runner_for(alias)
    runner.tick(utc(2026, 1, 15, 10, 0, 1))
    schedule.refresh_from_db()
    assert schedule.run_count == 0  # the job is in Redis, the row does not know yet
    assert "could not record the run state" in caplog.text
    for step in range(1, 5):
        runner.tick(utc(2026, 1, 15, 10) + timedelta(seconds=10 * step + 1))
    assert len(queued_ids(redis_client)) == 2  # Redis's count is authoritative: two runs, not three
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.enabled) == (2, False)


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_the_window_and_run_at_bound_the_runs(alias: str, redis_client: redis.Redis) -> None:
    once = make(alias, run_at=utc(2026, 1, 15, 10, 0, 30))
    windowed = make(
        alias, interval=10, start_at=utc(2026, 1, 15, 10, 0, 5), end_at=utc(2026, 1, 15, 10, 0, 40)
    )
    runner = runner_for(alias)
    ran: list[tuple[int, datetime]] = []
    for step in range(16):
        for run in runner.tick(utc(2026, 1, 15, 9, 59, 56) + timedelta(seconds=5 * step)):
            ran.append((int((run.job_id or "").split("-")[1]), run.slot))
    assert ran == [
        (windowed.pk, utc(2026, 1, 15, 10, 0, 5)),
        (windowed.pk, utc(2026, 1, 15, 10, 0, 15)),
        (windowed.pk, utc(2026, 1, 15, 10, 0, 25)),
        (once.pk, utc(2026, 1, 15, 10, 0, 30)),
        (windowed.pk, utc(2026, 1, 15, 10, 0, 35)),
    ]
    windowed.refresh_from_db()
    once.refresh_from_db()
    assert (windowed.next_run_at, once.next_run_at, once.run_count) == (None, None, 1)


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_racing_runner_threads_run_each_slot_of_each_row_once(alias: str, redis_client: redis.Redis) -> None:
    rows = [make(alias, interval=10) for _ in range(4)]
    runners = [runner_for(alias, f"r{i}") for i in range(3)]
    instants = [utc(2026, 1, 15, 10) + timedelta(seconds=10 * n + 1) for n in range(12)]
    barrier = threading.Barrier(len(runners))
    claimed: list[Any] = []

    def race(runner: CronRunner) -> None:
        try:
            for now in instants:
                barrier.wait()
                claimed.extend(runner.tick(now))
        finally:
            connections.close_all()  # this thread's database connections

    threads = [threading.Thread(target=race, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    ids = queued_ids(redis_client)
    assert len(ids) == len(set(ids)) == len(claimed) == len(rows) * len(instants)
    for schedule in rows:
        schedule.refresh_from_db()
        assert schedule.run_count == len(instants)
        assert schedule.last_run_at == instants[-1] - timedelta(seconds=1)


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_job_outcomes_are_counted_and_a_deleted_row_does_not_fail_its_job(
    alias: str, redis_client: redis.Redis
) -> None:
    failing = make(alias, func=FAIL, args=["boom"], interval=60)
    gone = make(alias, interval=60)
    runner = runner_for(alias)
    runs = {int((run.job_id or "").split("-")[1]): run for run in runner.tick(utc(2026, 1, 15, 10, 0, 1))}
    Schedule.objects.using(alias).filter(pk=gone.pk).delete()
    SimpleWorker([get_queue("default")], connection=redis_client).work(burst=True)
    failing.refresh_from_db()
    assert (failing.last_status, failing.failure_count, failing.success_count) == ("failed", 1, 0)
    assert Job.fetch(str(runs[gone.pk].job_id), connection=redis_client).get_status() == "finished"


@pytest.mark.django_db(databases=ALIASES)
@pytest.mark.parametrize("alias", ALIASES)
def test_an_unchanged_table_costs_one_query_per_look(alias: str) -> None:
    make(alias, interval=60)
    loader = ScheduleLoader(alias, every=0)
    with CaptureQueriesContext(connections[alias]) as queries:
        assert len(loader.poll() or []) == 1
        assert loader.poll() is None
        assert loader.poll() is None
    assert len(queries) == 4  # version + rows, then the version alone twice
    row_two = make(alias, interval=30)
    assert [entry.pk for entry in loader.poll() or []][-1] == row_two.pk
    throttled = ScheduleLoader(alias)  # every 2 s
    throttled.poll()
    with CaptureQueriesContext(connections[alias]) as queries:
        assert throttled.poll() is None
    assert len(queries) == 0


@pytest.mark.django_db(databases=ALIASES)
def test_a_row_that_cannot_run_is_reported_once_and_the_others_run(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    make("default", name="bad-queue", interval=60, queue="nowhere")
    make("default", name="bad-cron", cron="61 * * * *")
    good = make("default", interval=60)
    runner = runner_for("default")
    (run,) = runner.tick(utc(2026, 1, 15, 10, 0, 1))
    runner.refresh(force=True)
    assert run.job_id == f"schedule-{good.pk}-20260115T100000"
    assert caplog.text.count("'bad-queue'") == 1 and caplog.text.count("'bad-cron'") == 1


# --- what the dashboard and rqcron --list show ------------------------------------------------


@pytest.mark.django_db
def test_the_cron_page_lists_rq_cron_entries_and_schedule_rows_with_their_runs(
    redis_client: redis.Redis,
) -> None:
    schedule = make("default", name="nightly-report", interval=30)
    make("default", name="paused", cron="0 9 * * *", time_zone="Europe/Paris", enabled=False)
    (run,) = runner_for("default").tick()
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    with override_settings(RQ_CRON=[{"func": "tests.testapp.jobs.whisper", "interval": 30}]):
        html = client.get("/django-rq/cron/").content.decode()
    assert "tests.testapp.jobs.whisper" in html  # RQ_CRON
    assert "nightly-report" in html and "every 30 seconds" in html and run.job_id in html
    assert f'href="/admin/django_taskq/schedule/{schedule.pk}/change/"' in html
    assert "cron 0 9 * * * (Europe/Paris)" in html and "disabled" in html
    listing = call("rqcron", "--list")
    assert "nightly-report (Schedule row" in listing and "every 30 seconds (UTC)" in listing
    assert "paused (Schedule row" in listing and "disabled" in listing
    assert f"{run.outcome} {run.job_id}" in listing


# --- real rqcron processes (PostgreSQL: a database the runners and this process share) -----------

needs_pg = pytest.mark.skipif("pg" not in settings.DATABASES, reason="PostgreSQL is not reachable")
SHARED = pytest.mark.django_db(transaction=True, databases=["default", "pg"])


@pytest.fixture
def start_runners(processes: None) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = {"TASKQ_TEST_SCHEDULE_DB": str(connections["pg"].settings_dict["NAME"])}
        proc = subprocess.Popen(
            manage_argv("rqcron", "--skip-checks", *args, settings="tests.schedules_settings"),
            env=subprocess_env(**env),
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def wait_until_alive(client: redis.Redis, procs: list[subprocess.Popen[str]]) -> None:
    def alive() -> bool:
        names = [raw.decode() for raw in client.zrange("taskq:cron:runners", 0, -1)]
        return all(any(f".{proc.pid}." in name for name in names) for proc in procs)

    wait_for(alive, timeout=150, what="the runners' first ticks")


def stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err
        assert "Traceback" not in err, err


def enqueued(client: redis.Redis) -> list[tuple[float, float]]:
    """(slot, enqueued at) of every job in the default queue, duplicates included, as timestamps."""
    runs = []
    for job_id in queued_ids(client):
        job = Job.fetch(job_id, connection=client)
        slot = datetime.fromisoformat(job.meta["cron_slot"]).timestamp()
        assert job.enqueued_at is not None
        runs.append((slot, job.enqueued_at.replace(tzinfo=timezone.utc).timestamp()))
    return sorted(runs)


def report(label: str, expected: set[float], slots: list[float]) -> tuple[int, int]:
    duplicates = len(slots) - len(set(slots))
    misses = len(expected - set(slots))
    ran = len(set(slots) & expected)
    missed = ", ".join(f"{slot:.0f}" for slot in sorted(expected - set(slots)))
    print(
        f"{label}: slots expected {len(expected)}, ran {ran}, duplicates {duplicates}, "
        f"misses {misses} {missed}"
    )
    return duplicates, misses


@needs_pg
@SHARED
def test_two_rqcron_processes_for_a_minute_every_slot_once_edit_and_disable_within_5_s(
    redis_client: redis.Redis, start_runners: Callable[..., subprocess.Popen[str]]
) -> None:
    """The "done when" measurement: a 2-second row, two runners, an admin edit, a disable."""
    schedule = Schedule.objects.using("pg").create(name="every-2s", func=ADD, args=[1, 1], interval=2)
    procs = [start_runners("--interval", "0.5") for _ in range(2)]
    wait_until_alive(redis_client, procs)
    begin = math.ceil(time.time() / 2) * 2 + 2  # the first slot both runners are up for
    time.sleep(max(0.0, begin + 30 - time.time()))
    edited = time.time()
    schedule.interval = 1  # as the admin does it: save() from another process
    schedule.save()
    time.sleep(max(0.0, edited + 15 - time.time()))
    disabled = time.time()
    schedule.enabled = False
    schedule.save()
    time.sleep(max(0.0, disabled + 10 - time.time()))
    stop_all(procs)

    runs = enqueued(redis_client)
    slots = [slot for slot, _at in runs]
    two_second = {float(s) for s in range(begin, math.floor(edited) + 1, 2) if s < edited}
    # A slot due less than a tick (0.5 s) before the disable may meet the disable first: it
    # need not run, so the last second before the disable is not counted either way.
    one_second = {
        float(s) for s in range(math.ceil(edited + 5), math.floor(disabled) + 1) if s < disabled - 1
    }
    dup_a, miss_a = report("interval 2 s (two runners)", two_second, [s for s in slots if s < edited])
    dup_b, miss_b = report("after the edit to 1 s", one_second, [s for s in slots if edited + 5 <= s])
    first_new = min(at for slot, at in runs if slot > edited and slot % 2 == 1)
    last_run = max(at for _slot, at in runs)
    latencies = f"{first_new - edited:.2f} s; disable after {max(0.0, last_run - disabled):.2f} s"
    print(f"edited at {edited:.2f}, disabled at {disabled:.2f}")
    print(f"edit took effect after {latencies}")
    assert len(slots) == len(set(slots)), "a slot ran twice"
    assert (dup_a, miss_a, dup_b, miss_b) == (0, 0, 0, 0)
    assert first_new - edited < 5, "the edit took more than 5 s"
    assert last_run - disabled < 5, "the disable took more than 5 s"
    assert all(slot < disabled + 5 for slot in slots)
    schedule.refresh_from_db()
    assert schedule.run_count == len(slots)  # the run state agrees with what ran


@needs_pg
@SHARED
def test_a_runner_sigkilled_mid_run_loses_and_duplicates_no_slot(
    redis_client: redis.Redis, start_runners: Callable[..., subprocess.Popen[str]]
) -> None:
    schedule = Schedule.objects.using("pg").create(name="every-1s", func=ADD, args=[1, 1], interval=1)
    procs = [start_runners("--interval", "0.1") for _ in range(3)]
    wait_until_alive(redis_client, procs)
    begin = math.ceil(time.time()) + 1
    time.sleep(max(0.0, begin + 4.005 - time.time()))  # just after a slot: the runners are claiming it
    procs[0].send_signal(signal.SIGKILL)
    end = time.time() + 6
    time.sleep(max(0.0, end - time.time()))
    stop_all(procs)
    slots = [slot for slot, _at in enqueued(redis_client)]
    expected = {float(s) for s in range(begin, math.floor(end))}
    duplicates, misses = report("three runners, one SIGKILLed", expected, slots)
    assert (duplicates, misses) == (0, 0)
    schedule.refresh_from_db()
    assert schedule.run_count == len(slots)


@needs_pg
@SHARED
@pytest.mark.usefixtures("processes")
def test_rqworker_with_cron_runs_the_rows_and_their_outcomes_reach_the_row(redis_client: redis.Redis) -> None:
    schedule = Schedule.objects.using("pg").create(
        name="in-worker", func="tests.testapp.cron_jobs.record", args=["w"], interval=1
    )
    env = {"TASKQ_TEST_SCHEDULE_DB": str(connections["pg"].settings_dict["NAME"])}
    argv = manage_argv("rqworker", "--with-cron", "--skip-checks", settings="tests.schedules_settings")
    with subprocess.Popen(
        argv, env=subprocess_env(**env), cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        try:
            wait_for(
                lambda: Schedule.objects.using("pg").get(pk=schedule.pk).success_count >= 2,
                timeout=120,
                what="two runs counted by the job callbacks",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    schedule.refresh_from_db()
    assert schedule.last_status in ("queued", "finished") and schedule.failure_count == 0
    ran = [raw.decode() for raw in redis_client.lrange("cron-test:ran", 0, -1)]
    assert len(ran) == len(set(ran)) >= 2 and all(item.startswith("w|") for item in ran)


def test_a_tick_claims_any_number_of_due_slots_in_a_few_round_trips(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(1)
        return original(self, *args, **kwargs)

    entries = [CronEntry(name=f"e{i}", func=ADD, args=(i, i), interval=60) for i in range(200)]
    first, second = CronRunner(entries, name="first"), CronRunner(entries, name="second")
    assert len(first.tick(utc(2026, 1, 15, 10, 0, 1))) == 200  # (connections opened, server version read)
    assert second.tick(utc(2026, 1, 15, 10, 0, 2)) == []
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    assert len(first.tick(utc(2026, 1, 15, 10, 1, 1))) == 200
    claimed = len(sent)
    assert second.tick(utc(2026, 1, 15, 10, 1, 2)) == []  # a runner a moment late: one read
    late = len(sent) - claimed
    assert second.tick(utc(2026, 1, 15, 10, 1, 3)) == []  # nothing due: the heartbeat only
    idle = len(sent) - claimed - late
    monkeypatch.setattr(AbstractConnection, "send_packed_command", original)
    assert (claimed, late, idle) == (4, 1, 1)  # read; WATCH, read, MULTI/EXEC
    assert len(set(queued_ids(redis_client))) == 400
