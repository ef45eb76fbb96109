"""django-rq 4.2's command lines parse with the same meaning, and queues are selected one way.

AUDIT holds every option of django-rq 4.2's commands (read from its management/commands), each
with the value our command reads from it. The behaviour tests then run the short flags.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.management import CommandError, load_command_class
from rq.job import Job
from rq.suspension import is_suspended

from django_taskq.queues import get_queue
from django_taskq.rq_compat.storage import suspended_key
from tests.command_helpers import call, manage, wait_for
from tests.maintenance_helpers import make_jobs


def parse(command: str, *argv: str) -> dict[str, Any]:
    """The options ``command`` would run with, for this command line (not run)."""
    parser = load_command_class("django_taskq", command).create_parser("manage.py", command)
    return vars(parser.parse_args(list(argv)))


AUDIT: list[tuple[str, list[str], dict[str, Any]]] = [
    # rqworker: queues, then every flag of django-rq's rqworker
    (
        "rqworker",
        ["high", "default", "low", "--burst"],
        {"queues": ["high", "default", "low"], "burst": True},
    ),
    ("rqworker", ["--worker-class", "path.to.GeventWorker"], {"worker_class": "path.to.GeventWorker"}),
    ("rqworker", ["--queue-class", "path.to.CustomQueue"], {"queue_class": "path.to.CustomQueue"}),
    ("rqworker", ["--job-class", "path.to.CustomJob"], {"job_class": "path.to.CustomJob"}),
    ("rqworker", ["--pid", "/run/rqworker.pid"], {"pid": "/run/rqworker.pid"}),
    ("rqworker", ["--with-scheduler"], {"with_scheduler": True}),
    ("rqworker", ["--name", "worker-1"], {"name": "worker-1"}),
    ("rqworker", ["--worker-ttl", "420"], {"worker_ttl": 420}),
    ("rqworker", ["--max-jobs", "5"], {"max_jobs": 5}),
    ("rqworker", ["--max-idle-time", "10"], {"max_idle_time": 10}),
    (
        "rqworker",
        ["--serializer", "rq.serializers.DefaultSerializer"],
        {"serializer": "rq.serializers.DefaultSerializer"},
    ),
    ("rqworker", ["-v", "2"], {"verbosity": 2}),
    # rqworker-pool
    (
        "rqworker-pool",
        ["default", "low", "medium", "--num-workers", "4"],
        {"queues": ["default", "low", "medium"], "num_workers": 4},
    ),
    (
        "rqworker-pool",
        ["--worker-class", "a.W", "--pid", "p", "--burst", "--queue-class", "a.Q", "--job-class", "a.J"],
        {"worker_class": "a.W", "pid": "p", "burst": True, "queue_class": "a.Q", "job_class": "a.J"},
    ),
    (
        "rqworker-pool",
        ["--serializer", "rq.serializers.JSONSerializer"],
        {"serializer": "rq.serializers.JSONSerializer"},
    ),
    # rqscheduler
    ("rqscheduler", ["--pid", "/run/s.pid"], {"pid": "/run/s.pid"}),
    ("rqscheduler", ["--interval", "60"], {"interval": 60}),
    ("rqscheduler", ["-i", "60"], {"interval": 60}),
    ("rqscheduler", ["--queue", "default"], {"queues": ["default"]}),
    # rqstats
    ("rqstats", ["-j"], {"json": True}),
    ("rqstats", ["--json"], {"json": True}),
    ("rqstats", ["-y"], {"yaml": True}),
    ("rqstats", ["--yaml"], {"yaml": True}),
    ("rqstats", ["-i", "1"], {"interval": 1}),
    ("rqstats", ["--interval=0.5"], {"interval": 0.5}),
    # rqsuspend, rqresume
    ("rqsuspend", ["-d", "600"], {"duration": 600}),
    ("rqsuspend", ["--duration", "600"], {"duration": 600}),
    ("rqsuspend", [], {"duration": None}),
    ("rqresume", [], {}),
    # rqenqueue: the function, its arguments, -q and -t
    (
        "rqenqueue",
        ["-q", "high", "-t", "30", "myapp.jobs.send", "a", "b"],
        {"queue": "high", "timeout": "30", "callable": "myapp.jobs.send", "call_args": ["a", "b"]},
    ),
    (
        "rqenqueue",
        ["--queue", "low", "--timeout", "30", "myapp.jobs.send"],
        {"queue": "low", "timeout": "30"},
    ),
    ("rqenqueue", ["myapp.jobs.send"], {"queue": "default", "timeout": None}),
    # rqcron: a config module, and its logging level
    ("rqcron", ["cron_config.py"], {"config": "cron_config.py"}),
    (
        "rqcron",
        ["myapp.cron_jobs", "--logging-level", "DEBUG"],
        {"config": "myapp.cron_jobs", "logging_level": "DEBUG"},
    ),
    ("rqcron", ["cron_config.py", "-l", "WARNING"], {"config": "cron_config.py", "logging_level": "WARNING"}),
]


@pytest.mark.parametrize(("command", "argv", "expected"), AUDIT, ids=lambda value: repr(value)[:40])
def test_django_rq_command_lines_keep_their_meaning(command: str, argv: list[str], expected: dict) -> None:
    options = parse(command, *argv)
    assert {key: options[key] for key in expected} == expected


SELECTING = ["rqworker", "rqworker-pool", "rqscheduler", "rqstats", "rqsuspend", "rqresume", "rqempty",
             "rqfailed", "rqclean", "rqhealth"]  # fmt: skip


@pytest.mark.parametrize("command", SELECTING)
def test_queues_by_argument_and_by_flag_add_up_in_order(command: str) -> None:
    assert parse(command, "high", "-q", "low", "--queue", "default")["queues"] == ["high", "low", "default"]
    assert parse(command, "-q", "low", "high")["queues"] == ["low", "high"]
    assert not parse(command)["queues"]  # neither: the command's default


def test_a_command_that_needs_a_queue_accepts_the_flag_alone() -> None:
    make_jobs(get_queue("default"), 2)
    assert "default: deleted 2 queued jobs" in call("rqempty", "-q", "default", "--noinput")
    with pytest.raises(CommandError, match="the following arguments are required: QUEUE") as caught:
        call("rqfailed")
    assert caught.value.returncode == 2


def test_rqsuspend_d_suspends_for_that_long(redis_client: redis.Redis) -> None:
    call("rqsuspend", "-d", "5")
    assert is_suspended(redis_client)
    assert 0 < redis_client.ttl(suspended_key()) <= 5
    call("rqresume", "default")  # the connection of this queue
    assert not is_suspended(redis_client)
    with pytest.raises(CommandError, match="must be greater than 0"):
        call("rqsuspend", "-d", "0")


def test_rqenqueue_t_is_the_job_timeout() -> None:
    job_id = call("rqenqueue", "-q", "high", "-t", "30", "tests.testapp.jobs.add", "a", "b").strip()
    job = Job.fetch(job_id, connection=get_queue("high").connection)
    assert (job.timeout, job.origin, job.args) == (30, "high", ["a", "b"])


def test_rqclean_and_rqhealth_take_the_flag() -> None:
    assert call("rqclean", "-q", "high").startswith("high: removed 0")
    with pytest.raises(CommandError, match=r"^No live worker serves low\.$"):
        call("rqhealth", "--queue", "low")


@pytest.mark.usefixtures("processes")
def test_rqscheduler_i_and_queue_move_due_jobs() -> None:
    from datetime import timedelta

    from tests.command_helpers import background

    job = get_queue("default").enqueue_in(timedelta(seconds=1), "tests.testapp.jobs.add", 1, 2)
    with background("rqscheduler", "-i", "1", "--queue", "default") as process:
        wait_for(lambda: job.id in get_queue("default").get_job_ids(), timeout=30, what="the due job queued")
        assert process.poll() is None
    usage = manage("rqscheduler", "-i", "0")
    assert usage.returncode == 2 and "must be greater than 0" in usage.stderr
