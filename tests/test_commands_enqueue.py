"""rqenqueue: typed arguments, scheduling, options, and every bad input as a CommandError."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
from django.core.management import CommandError
from rq.job import Job, JobStatus

from django_taskq.queues import get_queue
from django_taskq.testing import run_jobs
from tests.command_helpers import call, manage


def _job(job_id: str) -> Job:
    return Job.fetch(job_id, connection=get_queue("default").connection)


def test_typed_json_args_and_kwargs_run() -> None:
    job_id = call(
        "rqenqueue", "tests.testapp.jobs.add", "--args-json", "[2]", "--kwargs-json", '{"b": 40}'
    ).strip()
    job = _job(job_id)
    assert job.args == [2]
    assert job.kwargs == {"b": 40}
    assert job.origin == "default"
    assert job.get_status() == JobStatus.QUEUED
    report = run_jobs("default")
    assert report.finished[0].return_value() == 42


def test_plain_args_are_strings_and_queue_option() -> None:
    job_id = call("rqenqueue", "-q", "high", "tests.testapp.jobs.add", "ab", "cd").strip()
    job = _job(job_id)
    assert job.args == ["ab", "cd"]
    assert job.origin == "high"
    assert job_id in get_queue("high").get_job_ids()
    assert run_jobs("high").finished[0].return_value() == "abcd"


def test_job_options() -> None:
    job_id = call(
        "rqenqueue", "tests.testapp.jobs.add", "--args-json", "[1, 2]", "--timeout", "5m",
        "--result-ttl", "30", "--failure-ttl", "99", "--ttl", "600", "--job-id", "my-job",
        "--description", "from the shell",
    ).strip()  # fmt: skip
    assert job_id == "my-job"
    job = _job(job_id)
    assert (job.timeout, job.result_ttl, job.failure_ttl, job.description) == (300, 30, 99, "from the shell")
    unlimited = call("rqenqueue", "tests.testapp.jobs.add", "--timeout", "-1").strip()
    assert _job(unlimited).timeout == -1


def test_at_front() -> None:
    first = call("rqenqueue", "tests.testapp.jobs.add", "--args-json", "[1, 1]").strip()
    second = call("rqenqueue", "tests.testapp.jobs.add", "--args-json", "[2, 2]", "--at-front").strip()
    assert get_queue("default").get_job_ids() == [second, first]


def test_at_schedules_in_utc(redis_client: redis.Redis) -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=2)
    local = when.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    job_id = call("rqenqueue", "tests.testapp.jobs.add", "--args-json", "[1, 2]", "--at", local).strip()
    queue = get_queue("default")
    assert queue.count == 0
    score = redis_client.zscore(queue.scheduled_job_registry.key, job_id)
    assert score is not None
    assert abs(score - when.timestamp()) < 2
    assert _job(job_id).get_status() == JobStatus.SCHEDULED


def test_at_accepts_z_suffix(redis_client: redis.Redis) -> None:
    job_id = call("rqenqueue", "tests.testapp.jobs.add", "--at", "2099-01-02T03:04:05Z").strip()
    score = redis_client.zscore(get_queue("default").scheduled_job_registry.key, job_id)
    assert score == datetime(2099, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()


def test_in_schedules_relative(redis_client: redis.Redis) -> None:
    before = time.time()
    job_id = call("rqenqueue", "tests.testapp.jobs.add", "--in", "90").strip()
    score = redis_client.zscore(get_queue("default").scheduled_job_registry.key, job_id)
    assert score is not None
    assert before + 88 <= score <= time.time() + 92


def test_sync_queue_runs_at_once() -> None:
    job_id = call("rqenqueue", "-q", "sync", "tests.testapp.jobs.add", "--args-json", "[20, 22]").strip()
    job = Job.fetch(job_id, connection=get_queue("sync").connection)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == 42


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tests.testapp.jobs.add", "--args-json", "[1,"], "--args-json is not valid JSON"),
        (["tests.testapp.jobs.add", "--args-json", '{"a": 1}'], "--args-json must be a JSON array, not dict"),
        (["tests.testapp.jobs.add", "--kwargs-json", "[1]"], "--kwargs-json must be a JSON object, not list"),
        (["tests.testapp.jobs.add", "--kwargs-json", "{x: 1}"], "--kwargs-json is not valid JSON"),
        (["tests.testapp.jobs.add", "1", "--args-json", "[2]"], "either as ARGS or with --args-json"),
        (["tests.testapp.nope.add"], "Cannot import 'tests.testapp.nope.add'"),
        (["tests.testapp.jobs.nope"], "Cannot import 'tests.testapp.jobs.nope'"),
        (["no_such_module_at_all"], "Cannot import 'no_such_module_at_all'"),
        (["tests.testapp.jobs."], "is not a dotted path"),
        (["django_taskq.maintenance.BATCH_SIZE"], "is a int, not a callable"),
        (["tests.testapp.jobs.add", "--at", "2030-01-01T09:00:00"], "has no UTC offset"),
        (["tests.testapp.jobs.add", "--at", "tomorrow"], "is not an ISO 8601 date and time"),
        (["tests.testapp.jobs.add", "--timeout", "ten"], "--timeout 'ten'"),
        (["tests.testapp.jobs.add", "--timeout", "0"], "give a positive duration"),
        (["-q", "nope", "tests.testapp.jobs.add"], "Unknown queue 'nope'"),
    ],
)
def test_bad_input_is_a_command_error(args: list[str], message: str, redis_client: redis.Redis) -> None:
    with pytest.raises(CommandError, match=None) as caught:
        call("rqenqueue", *args)
    assert message in str(caught.value)
    assert caught.value.returncode == 1
    assert not redis_client.keys("rq:job:*")  # nothing was written


@pytest.mark.usefixtures("processes")
def test_subprocess_prints_the_id_and_exit_codes() -> None:
    ok = manage("rqenqueue", "tests.testapp.jobs.add", "--args-json", "[1, 2]")
    assert ok.returncode == 0, ok.stderr
    job_id = ok.stdout.strip()
    assert _job(job_id).args == [1, 2]

    bad = manage("rqenqueue", "tests.testapp.jobs.add", "--kwargs-json", "{oops")
    assert bad.returncode == 1
    assert "CommandError: --kwargs-json is not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr

    both = manage("rqenqueue", "tests.testapp.jobs.add", "--at", "2030-01-01T00:00:00Z", "--in", "5")
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr

    negative = manage("rqenqueue", "tests.testapp.jobs.add", "--in", "-5")
    assert negative.returncode == 2
    assert "must be 0 or more" in negative.stderr
