"""Schedule rows: their slots (time zone, window, DST), words, upcoming runs, "Run now", run state."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from rq import SimpleWorker
from rq.job import Job

from django_taskq.cron import CronEntry
from django_taskq.cron.database import describe_schedule, run_now, upcoming_runs
from django_taskq.cron.rows import ScheduleEntry
from django_taskq.models import Schedule
from django_taskq.queues import get_queue

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
