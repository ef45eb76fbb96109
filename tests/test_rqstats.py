"""rqstats: the table, --json/--yaml (parsed), --queue, --interval with SIGINT, Redis down."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import redis
import yaml
from django.core.management import CommandError
from django.test import override_settings

from django_taskq.queues import get_queue
from django_taskq.stats import gather
from tests.command_helpers import background, call, closed_port, manage, wait_for
from tests.maintenance_helpers import make_jobs


@pytest.fixture
def some_jobs(redis_client: redis.Redis) -> None:
    default = get_queue("default")
    make_jobs(default, 3)
    make_jobs(default, 2, status="failed")
    make_jobs(default, 1, status="finished")
    make_jobs(get_queue("high"), 1, status="scheduled")
    make_jobs(get_queue("other-db"), 4)
    # The oldest queued job of default was enqueued a minute and a half ago.
    first = default.get_job_ids(0, 1)[0]
    old = (datetime.now(timezone.utc) - timedelta(seconds=90)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    redis_client.hset(f"rq:job:{first}", "enqueued_at", old)


def _without_clock(data: dict) -> dict:
    """The data minus what changes between two reads (time of reading, ages)."""
    data = dict(data)
    data.pop("generated_at")
    data["queues"] = [
        {**queue, "oldest_queued_age": queue["oldest_queued_age"] is not None} for queue in data["queues"]
    ]
    return data


def test_json_is_the_stats_schema(some_jobs: None) -> None:
    data = json.loads(call("rqstats", "--json"))

    assert _without_clock(data) == _without_clock(gather().as_dict())
    assert list(data) == ["schema", "generated_at", "queues", "connections", "outbox"]
    assert data["schema"] == 1
    datetime.fromisoformat(data["generated_at"])
    by_name = {queue["name"]: queue for queue in data["queues"]}
    assert [queue["name"] for queue in data["queues"]] == ["default", "high", "low", "other-db", "sync"]
    assert (by_name["default"]["queued"], by_name["default"]["failed"], by_name["default"]["finished"]) == (
        3,
        2,
        1,
    )
    assert by_name["high"]["scheduled"] == 1
    assert by_name["other-db"]["queued"] == 4
    assert 85 <= by_name["default"]["oldest_queued_age"] < 600
    assert by_name["low"]["oldest_queued_age"] is None
    assert list(by_name["default"]) == [
        # django-rq 4.2's keys, in its order
        "name", "jobs", "oldest_job_timestamp", "index", "connection_kwargs", "scheduler_pid", "workers",
        "finished_jobs", "started_jobs", "deferred_jobs", "failed_jobs", "scheduled_jobs",
        # ours
        "queued", "started", "deferred", "finished", "failed", "scheduled", "canceled",
        "oldest_queued_age", "connection",
    ]  # fmt: skip
    assert [conn["queues"] for conn in data["connections"]] == [
        ["default", "high", "low", "sync"],
        ["other-db"],
    ]


def test_yaml_has_the_same_data(some_jobs: None) -> None:
    from_yaml = yaml.safe_load(call("rqstats", "--yaml"))
    from_json = json.loads(call("rqstats", "--json"))
    assert _without_clock(from_yaml) == _without_clock(from_json)


def test_no_password_in_any_output() -> None:
    from django.conf import settings

    # The suite's server has no password, so it refuses the AUTH: the error must not show it either.
    with_password = settings.REDIS_URL.replace("redis://", "redis://:s3cret-pw@")
    queues = {"default": {"URL": with_password}}
    with override_settings(RQ_QUEUES=queues):
        outputs = []
        for flag in ("--json", "--yaml", None):
            try:
                outputs.append(call("rqstats", *([flag] if flag else [])))
            except CommandError as exc:
                outputs.append(str(exc))
    for text in outputs:
        assert "s3cret-pw" not in text
        assert "127.0.0.1" in text


def test_queue_filter_and_table(some_jobs: None) -> None:
    data = json.loads(call("rqstats", "--json", "-q", "high", "--queue", "other-db"))
    assert [queue["name"] for queue in data["queues"]] == ["high", "other-db"]

    table = call("rqstats", "-q", "default")
    lines = table.splitlines()
    assert lines[0].split() == [
        "Name", "Queued", "Started", "Deferred", "Finished", "Failed", "Scheduled", "Canceled", "Workers",
        "Oldest", "queued",
    ]  # fmt: skip
    row = lines[1].split()
    assert row[:9] == ["default", "3", "0", "0", "1", "2", "0", "0", "0"]
    assert row[9] in {"1m", "2m"}  # e.g. "1m 30s"
    assert "1 queue, 0 workers, running" in table


def test_table_shows_suspension(redis_client: redis.Redis) -> None:
    call("rqsuspend")
    assert "workers suspended" in call("rqstats")


def test_unknown_queue_is_a_command_error() -> None:
    with pytest.raises(CommandError, match=r"Unknown queue 'nope'.*RQ_QUEUES defines default"):
        call("rqstats", "-q", "nope")


@pytest.mark.usefixtures("processes")
def test_bad_interval_is_refused() -> None:
    result = manage("rqstats", "--interval", "0")
    assert result.returncode == 2
    assert "must be greater than 0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("processes")
def test_json_and_yaml_are_exclusive() -> None:
    result = manage("rqstats", "--json", "--yaml")
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr


def test_yaml_without_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    with pytest.raises(CommandError, match=r"--yaml needs PyYAML: pip install 'django-taskq\[yaml\]'"):
        call("rqstats", "--yaml")


def test_redis_down_is_a_clear_error() -> None:
    port = closed_port()
    queues = {"default": {"URL": f"redis://:hidden-pw@127.0.0.1:{port}/0"}}
    with override_settings(RQ_QUEUES=queues), pytest.raises(CommandError) as caught:
        call("rqstats", "--json")
    assert caught.value.returncode == 3
    assert f"Cannot reach Redis at redis://127.0.0.1:{port}/0" in str(caught.value)
    assert "hidden-pw" not in str(caught.value)


@pytest.mark.usefixtures("processes")
def test_redis_down_subprocess_exit_code() -> None:
    port = closed_port()
    result = manage("rqstats", settings="tests.settings_closed_redis", TASKQ_CLOSED_PORT=str(port))
    assert result.returncode == 3
    assert f"CommandError: Cannot reach Redis at redis://127.0.0.1:{port}/0" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-shown-pw" not in result.stderr


@pytest.mark.usefixtures("processes")
def test_subprocess_json_exit_zero(some_jobs: None) -> None:
    result = manage("rqstats", "--json", "-q", "default")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queues"][0]["queued"] == 3


@pytest.mark.parametrize("fmt", ["--json", "--yaml", None])
@pytest.mark.usefixtures("processes")
def test_interval_redraws_until_ctrl_c(fmt: str | None) -> None:
    args = ["rqstats", "--interval", "0.2", "-q", "default", *([fmt] if fmt else [])]
    with background(*args) as process:
        assert process.stdout is not None
        lines: list[str] = []
        marker = {"--json": '"schema"', "--yaml": "schema:", None: "Name"}[fmt]

        def two_frames() -> bool:
            lines.append(process.stdout.readline())  # type: ignore[union-attr]
            return sum(marker in line for line in lines) >= 2

        wait_for(two_frames, timeout=60, what="two redraws")
        make_jobs(get_queue("default"), 2)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        rest = process.stdout.read()
        stderr = process.stderr.read()  # type: ignore[union-attr]
    assert "Traceback" not in stderr
    text = "".join(lines) + rest
    if fmt == "--json":  # JSON Lines: one document per line
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert len(docs) >= 2
        assert docs[-1]["queues"][0]["queued"] == 2
    elif fmt == "--yaml":  # a stream of "---" documents
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        assert len(docs) >= 2
        assert docs[-1]["queues"][0]["queued"] == 2
    else:  # not a terminal: tables one after the other, a blank line apart, no escape codes
        assert "\n\nName" in text
        assert "\x1b[2J" not in text
        rows = [line.split()[:2] for line in text.splitlines() if line.startswith("default ")]
        assert rows[-1] == ["default", "2"]  # the last frame's row (lines below it: connection, outbox)


def test_one_round_trip_per_connection_and_no_clean_up(
    some_jobs: None, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    default = get_queue("default")
    expired = make_jobs(default, 1, status="finished")[0]
    redis_client.zadd(default.finished_job_registry.key, {expired: time.time() - 60})
    call("rqstats", "--json")  # warm-up: connections opened, scripts loaded
    sends = []
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, *args: object, **kwargs: object) -> None:
        sends.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    data = json.loads(call("rqstats", "--json"))
    monkeypatch.undo()

    assert len(data["queues"]) == 5
    assert len(sends) == 2  # two Redis connections (db 0 and db 1), one pipeline each
    # Reading the numbers did not clean the registry: the expired entry is still counted.
    assert redis_client.zscore(default.finished_job_registry.key, expired) is not None
    assert data["queues"][0]["finished"] == 2


# --- django-rq's keys and flags ------------------------------------------------------------------


def test_django_rq_keys_have_django_rq_meaning(some_jobs: None, redis_client: redis.Redis) -> None:
    default = get_queue("default")
    # One finished and one failed entry past their expiry: RQ's len(registry) (what django-rq
    # shows) cleans them up first, so they are not counted there; ours counts them until then.
    for state in ("finished", "failed"):
        registry = getattr(default, f"{state}_job_registry")
        redis_client.zadd(registry.key, {make_jobs(default, 1, status=state)[0]: time.time() - 60})

    data = json.loads(call("rqstats", "-j"))
    by_name = {queue["name"]: queue for queue in data["queues"]}
    queue = by_name["default"]

    assert (queue["finished"], queue["failed"]) == (2, 3)  # ours: every entry still there
    assert queue["jobs"] == queue["queued"] == default.count == 3
    assert queue["deferred_jobs"] == len(default.deferred_job_registry)
    assert queue["scheduled_jobs"] == len(default.scheduled_job_registry)
    assert by_name["high"]["scheduled_jobs"] == 1
    assert queue["workers"] == 0
    # len() runs RQ's clean-up: compared after the command, which did not clean anything.
    assert (queue["finished_jobs"], queue["failed_jobs"]) == (1, 2)
    assert queue["finished_jobs"] == len(default.finished_job_registry)
    assert queue["failed_jobs"] == len(default.failed_job_registry)
    assert queue["started_jobs"] == len(default.started_job_registry) == 0
    assert [q["index"] for q in data["queues"]] == [0, 1, 2, 3, 4]
    port = int(str(redis_client.connection_pool.connection_kwargs["port"]))
    # An in-process RQ worker of an earlier test may have set socket_timeout on the shared
    # client: django-rq reports that key too, so only where the queue connects is compared.
    where = ("host", "port", "db")
    assert {key: queue["connection_kwargs"][key] for key in where} == {
        "host": "127.0.0.1",
        "port": port,
        "db": 0,
    }
    other = by_name["other-db"]["connection_kwargs"]
    assert {key: other[key] for key in where} == {"host": "127.0.0.1", "port": port, "db": 1}
    assert not {"password", "username"} & (set(queue["connection_kwargs"]) | set(other))
    assert queue["scheduler_pid"] is None
    assert by_name["low"]["oldest_job_timestamp"] == "-"


def test_index_is_django_rq_s_sorted_position() -> None:
    from django.conf import settings

    queues = {"zeta": {"URL": settings.REDIS_URL}, "alpha": {"URL": settings.REDIS_URL}}
    with override_settings(RQ_QUEUES=queues):
        data = json.loads(call("rqstats", "--json"))
    # The list keeps the settings order; the index is the one of django-rq's URLs (sorted names).
    assert [(queue["name"], queue["index"]) for queue in data["queues"]] == [("zeta", 1), ("alpha", 0)]


def test_oldest_job_timestamp_is_local_time(some_jobs: None, redis_client: redis.Redis) -> None:
    first = get_queue("default").get_job_ids(0, 1)[0]
    redis_client.hset(f"rq:job:{first}", "enqueued_at", "2030-01-02T03:04:05.000006Z")
    with override_settings(TIME_ZONE="Asia/Kolkata"):  # UTC+05:30 all year
        data = json.loads(call("rqstats", "-j", "default"))
    assert data["queues"][0]["oldest_job_timestamp"] == "2030-01-02, 08:34:05"


def test_scheduler_pid_is_the_lock_holder_s() -> None:
    import os

    from rq.scheduler import RQScheduler

    default = get_queue("default")
    scheduler = RQScheduler(["default"], connection=default.connection)
    assert scheduler.acquire_locks() == {"default"}
    scheduler.register_birth()
    try:
        data = json.loads(call("rqstats", "-j", "default", "high"))
        assert default.scheduler_pid == os.getpid()  # RQ's own reading
    finally:
        scheduler.release_locks()
    assert [queue["scheduler_pid"] for queue in data["queues"]] == [os.getpid(), None]


def test_connection_kwargs_never_show_a_user_or_password() -> None:
    from django_taskq.connections import build_client
    from django_taskq.stats import CONNECTION_KWARGS, connection_kwargs

    def shown(client: redis.Redis) -> dict[str, object]:
        kwargs = connection_kwargs(client)
        assert set(kwargs) <= set(CONNECTION_KWARGS)  # django-rq's allowlist: no username, password
        assert "u-name" not in str(kwargs) and "pw-" not in str(kwargs)
        return {key: kwargs.get(key) for key in ("host", "port", "db", "path")}

    client = redis.Redis(
        host="h.example", port=6390, db=2, username="u-name", password="pw-1", socket_timeout=3
    )
    assert shown(client) == {"host": "h.example", "port": 6390, "db": 2, "path": None}
    assert connection_kwargs(client)["socket_timeout"] == 3
    url = redis.Redis.from_url("redis://u-name:pw-1@h.example:6391/4")
    assert shown(url) == {"host": "h.example", "port": 6391, "db": 4, "path": None}
    socket = redis.Redis(unix_socket_path="/tmp/r.sock", password="pw-1")
    assert shown(socket) == {"host": None, "port": None, "db": 0, "path": "/tmp/r.sock"}
    sentinel = build_client(
        {"SENTINELS": [("s1.example", 26379), ("s2.example", 26380)], "MASTER_NAME": "mymaster",
         "DB": 1, "PASSWORD": "pw-1", "SENTINEL_KWARGS": {"password": "pw-2"}}
    )  # fmt: skip
    kwargs = connection_kwargs(sentinel)
    assert "pw-" not in str(kwargs)
    assert {key: kwargs[key] for key in ("host", "port", "db", "service_name", "sentinels")} == {
        "host": "s1.example",
        "port": 26379,
        "db": 1,
        "service_name": "mymaster",
        "sentinels": [["s1.example", 26379], ["s2.example", 26380]],
    }


def test_yaml_has_no_aliases_for_shared_connections(some_jobs: None) -> None:
    text = call("rqstats", "-y")
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text)["queues"][1]["connection_kwargs"]["db"] == 0


def test_django_rq_short_flags_and_queue_spellings(some_jobs: None) -> None:
    assert _without_clock(json.loads(call("rqstats", "-j"))) == _without_clock(
        json.loads(call("rqstats", "--json"))
    )
    assert _without_clock(yaml.safe_load(call("rqstats", "-y"))) == _without_clock(
        json.loads(call("rqstats", "--json"))
    )
    # Positional QUEUE arguments and -q/--queue add up, in any mix.
    for argv in (["high", "other-db"], ["-q", "high", "--queue", "other-db"], ["high", "-q", "other-db"]):
        data = json.loads(call("rqstats", "-j", *argv))
        assert [queue["name"] for queue in data["queues"]] == ["high", "other-db"], argv
