"""rqsuspend/rqresume, rqempty, rqfailed, rqclean, and the exit codes and Redis errors of every command."""

from __future__ import annotations

import re
import sys
import time
from importlib import import_module
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError
from django.test import override_settings
from django.utils import autoreload
from rq.job import Job, JobStatus

from django_taskq.management.common import check_reachable, redis_errors
from django_taskq.management.exit_codes import ExitCode
from django_taskq.queues import get_queue
from django_taskq.worker.pool import FATAL_EXIT_CODES
from tests.command_helpers import call, closed_port, manage
from tests.maintenance_helpers import make_jobs


@pytest.fixture
def db1() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_BASE + "/1")


# rqsuspend / rqresume


def test_suspend_and_resume_every_connection(redis_client: redis.Redis, db1: redis.Redis) -> None:
    out = call("rqsuspend")
    assert redis_client.exists("rq:suspended") and db1.exists("rq:suspended")
    assert redis_client.ttl("rq:suspended") == -1
    assert out.count("Suspended workers on") == 2
    assert "until rqresume" in out

    out = call("rqresume")
    assert not redis_client.exists("rq:suspended") and not db1.exists("rq:suspended")
    assert out.count("Resumed workers on") == 2
    assert "Workers were not suspended" in call("rqresume")


def test_suspend_one_connection_with_duration(redis_client: redis.Redis, db1: redis.Redis) -> None:
    out = call("rqsuspend", "--queue", "other-db", "--duration", "120")
    assert db1.exists("rq:suspended")
    assert 100 < db1.ttl("rq:suspended") <= 120
    assert not redis_client.exists("rq:suspended")
    assert "for 120 seconds" in out and "(queues: other-db)" in out
    call("rqresume", "-q", "other-db")
    assert not db1.exists("rq:suspended")


@pytest.mark.usefixtures("processes")
def test_suspend_bad_input() -> None:
    with pytest.raises(CommandError, match="Unknown queue 'nope'"):
        call("rqsuspend", "-q", "nope")
    result = manage("rqsuspend", "--duration", "0")
    assert result.returncode == 2 and "must be greater than 0" in result.stderr
    result = manage("rqsuspend", "--duration", "soon")
    assert result.returncode == 2 and "is not a whole number" in result.stderr


@pytest.mark.usefixtures("processes")
def test_suspend_redis_down_exit_code() -> None:
    port = closed_port()
    for name in ("rqsuspend", "rqresume", "rqclean"):
        result = manage(name, settings="tests.settings_closed_redis", TASKQ_CLOSED_PORT=str(port))
        assert result.returncode == 3, (name, result.stderr)
        assert "Cannot reach Redis at redis://127.0.0.1:" in result.stderr
        assert "Traceback" not in result.stderr and "not-shown-pw" not in result.stderr


# rqempty


def test_empty_queues(redis_client: redis.Redis) -> None:
    make_jobs(get_queue("default"), 30)
    make_jobs(get_queue("high"), 2)
    kept = make_jobs(get_queue("low"), 4)
    failed = make_jobs(get_queue("default"), 1, status="failed")

    out = call("rqempty", "default", "high", "--batch-size", "7", interactive=False)

    assert "default: deleted 30 queued jobs" in out
    assert "high: deleted 2 queued jobs" in out
    assert get_queue("default").count == 0 and get_queue("high").count == 0
    assert get_queue("low").get_job_ids() == kept
    assert redis_client.exists(Job.key_for(failed[0]))  # only queued jobs go


@pytest.mark.usefixtures("processes")
def test_empty_asks_first_in_a_subprocess() -> None:
    ids = make_jobs(get_queue("default"), 3)
    refused = manage("rqempty", "default", input="no\n")
    assert refused.returncode == 1
    assert "Cancelled: nothing was deleted" in refused.stderr
    assert get_queue("default").get_job_ids() == ids

    no_terminal = manage("rqempty", "default", input="")
    assert no_terminal.returncode == 1
    assert "Cancelled" in no_terminal.stderr and "Traceback" not in no_terminal.stderr

    accepted = manage("rqempty", "default", input="yes\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "default: deleted 3 queued jobs" in accepted.stdout
    assert get_queue("default").count == 0

    unknown = manage("rqempty", "default", "nope", "--noinput")
    assert unknown.returncode == 1
    assert "CommandError: Unknown queue 'nope'" in unknown.stderr

    missing = manage("rqempty")
    assert missing.returncode == 2 and "the following arguments are required: QUEUE" in missing.stderr


# rqfailed


def test_failed_list_requeue_delete(redis_client: redis.Redis) -> None:
    default = get_queue("default")
    ids = make_jobs(default, 12, status="failed")
    make_jobs(get_queue("high"), 2, status="failed")

    listing = call("rqfailed", "default", "--limit", "3")
    assert "default: 12 failed jobs" in listing
    assert listing.count("tests.testapp.jobs.add") == 3

    out = call("rqfailed", "default", "--requeue", "--batch-size", "5")
    assert "default: requeued 12 failed jobs" in out
    assert default.get_job_ids() == ids
    assert Job.fetch(ids[0], connection=redis_client).get_status() == JobStatus.QUEUED

    out = call("rqfailed", "high", "--delete", interactive=False)
    assert "high: deleted 2 failed jobs" in out
    assert get_queue("high").failed_job_registry.get_job_count(cleanup=False) == 0


def test_failed_requeue_at_front() -> None:
    default = get_queue("default")
    queued = make_jobs(default, 1)
    failed = make_jobs(default, 1, status="failed")
    call("rqfailed", "default", "--requeue", "--at-front")
    assert default.get_job_ids() == [*failed, *queued]


@pytest.mark.usefixtures("processes")
def test_failed_bad_input() -> None:
    with pytest.raises(CommandError, match="--at-front only goes with --requeue"):
        call("rqfailed", "default", "--at-front")
    with pytest.raises(CommandError, match="Unknown queue 'nope'"):
        call("rqfailed", "nope", "--requeue")
    both = manage("rqfailed", "default", "--requeue", "--delete")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    make_jobs(get_queue("default"), 2, status="failed")
    refused = manage("rqfailed", "default", "--delete", input="n\n")
    assert refused.returncode == 1
    assert get_queue("default").failed_job_registry.get_job_count(cleanup=False) == 2


# rqclean


def test_clean_reports_per_queue(redis_client: redis.Redis) -> None:
    default = get_queue("default")
    finished = make_jobs(default, 5, status="finished")
    redis_client.zadd(default.finished_job_registry.key, {job_id: time.time() - 5 for job_id in finished[:2]})
    failed = make_jobs(get_queue("low"), 3, status="failed")
    redis_client.delete(Job.key_for(failed[0]))

    out = call("rqclean")
    lines = {line.split(":")[0]: line for line in out.splitlines()}
    assert set(lines) == {"default", "high", "low", "other-db", "sync"}
    assert "removed 2 " in lines["default"] and "finished 2" in lines["default"]
    assert "removed 1 " in lines["low"] and "failed 1" in lines["low"]
    assert "removed 0 " in lines["high"]
    assert default.finished_job_registry.get_job_count(cleanup=False) == 3

    only = call("rqclean", "low")
    assert only.startswith("low: removed 0")


# One exit-code table and one Redis error report for every command


def test_exit_code_table_is_the_documented_one() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "commands.rst").read_text()
    section = text.split("Exit status\n-----------", 1)[1].split("\n\n\n", 1)[0]
    rows = [tuple(match) for match in re.findall(r"^(\d+)\s+([A-Z]+)\s", section, flags=re.MULTILINE)]
    assert rows == [(str(code.value), code.name) for code in ExitCode if code is not ExitCode.RELOAD]
    assert "code 4 (``RELOAD``)" in " ".join(section.split()) and ExitCode.RELOAD == 4
    # A pool member failing at start with one of these stops the pool with the same code.
    assert {ExitCode.ERROR, ExitCode.USAGE, ExitCode.REDIS} == FATAL_EXIT_CODES


def test_no_command_spells_an_exit_code_as_a_number() -> None:
    package = Path(__file__).resolve().parent.parent / "django_taskq" / "management"
    for path in package.rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"returncode=\d|return \d+\s*$", source, flags=re.MULTILINE), path


@pytest.mark.parametrize(
    "args",
    [
        ("rqstats",),
        ("rqhealth",),
        ("rqenqueue", "tests.testapp.jobs.add", "1", "2"),
        ("rqempty", "default", "--noinput"),
        ("rqfailed", "default"),
        ("rqscheduler", "default"),
        ("rqworker", "default", "--burst"),
        ("rqworker-pool", "default", "--burst"),
    ],
)
def test_every_command_reports_redis_down_the_same_way(args: tuple[str, ...], processes: None) -> None:
    port = closed_port()
    result = manage(*args, settings="tests.settings_closed_redis", TASKQ_CLOSED_PORT=str(port))
    assert result.returncode == ExitCode.REDIS, result.stderr
    assert f"CommandError: Cannot reach Redis at redis://127.0.0.1:{port}/0 (queue" in result.stderr
    assert ": ConnectionError: " in result.stderr
    assert "Traceback" not in result.stderr and "not-shown-pw" not in result.stderr + result.stdout


def test_redis_errors_names_the_connection_and_its_queues(redis_client: redis.Redis) -> None:
    with pytest.raises(CommandError) as caught, redis_errors(["other-db", "default"]):
        get_queue("default").connection.execute_command("NO-SUCH-COMMAND")
    message = str(caught.value)
    assert caught.value.returncode == ExitCode.REDIS
    assert message.startswith(f"Redis at {settings.REDIS_BASE.split('@')[-1]}/0 (queue default), "), message
    assert "/1 (queue other-db) answered with an error: ResponseError: unknown command" in message


def test_check_reachable_names_only_the_connection_that_is_down() -> None:
    port = closed_port()
    queues = {**settings.RQ_QUEUES, "other-db": {"URL": f"redis://:pw-not-shown@127.0.0.1:{port}/1"}}
    with override_settings(RQ_QUEUES=queues):
        check_reachable(["default", "high"])
        with pytest.raises(CommandError) as caught:
            check_reachable()
    assert caught.value.returncode == ExitCode.REDIS
    assert str(caught.value).startswith(
        f"Cannot reach Redis at redis://127.0.0.1:{port}/1 (queue other-db): "
    )
    assert "pw-not-shown" not in str(caught.value)


def test_reload_child_that_cannot_reach_redis_stops_the_reloader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: None
) -> None:
    # Django's reloader restarts a child that exits 3, which is REDIS here: only RELOAD restarts.
    runs = tmp_path / "runs"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "n = len(p.read_text()) + 1 if p.exists() else 1; p.write_text('x' * n); "
        f"sys.exit({int(ExitCode.RELOAD)} if n == 1 else {int(ExitCode.REDIS)})"
    )
    monkeypatch.setattr(autoreload, "get_child_arguments", lambda: [sys.executable, "-c", script, str(runs)])
    rqworker = import_module("django_taskq.management.commands.rqworker")
    assert rqworker._run_reloader() == ExitCode.REDIS
    assert runs.read_text() == "xx"
