"""The JSON serializer (what it carries, what it refuses) and deploy check W007."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
import zlib
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_taskq import get_queue
from django_taskq.checks import check_pickle_exposure
from django_taskq.serializers import JSONSerializer
from django_taskq.testing import run_jobs
from tests.testapp.jobs import add

JSON = "django_taskq.serializers.JSONSerializer"
VALUES: list[Any] = [
    dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 3, 29, 1, 30),
    dt.date(2026, 2, 28),
    dt.time(9, 15, 30, 12),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    Decimal("12.3400"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
    {1, 2},
    frozenset({"a"}),
    {"nested": [1, "two", None, True, 2.5], "when": dt.date(2026, 1, 1)},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda value: type(value).__name__)
def test_round_trip_keeps_type_and_value(value: Any) -> None:
    back = JSONSerializer.loads(JSONSerializer.dumps(value))
    assert type(back) is type(value)
    assert back == value


def test_tuples_come_back_as_lists_and_plain_dicts_stay_dicts() -> None:
    assert JSONSerializer.loads(JSONSerializer.dumps((1, (2, 3)))) == [1, [2, 3]]
    plain = {"__taskq__": "datetime"}  # one key: not a tagged value
    assert JSONSerializer.loads(JSONSerializer.dumps(plain)) == plain


@pytest.mark.parametrize("value", [object(), float("nan"), add])
def test_what_json_cannot_carry_is_refused_when_enqueued(value: Any) -> None:
    with override_settings(RQ={"SERIALIZER": JSON}), pytest.raises((TypeError, ValueError)):
        get_queue("default").enqueue(add, value, 1)
    assert get_queue("default").count == 0


def test_a_pickle_in_a_json_queue_is_never_unpickled() -> None:
    payload = pickle.dumps(("os.system", None, ["echo owned"], {}))
    with pytest.raises(ValueError):  # json.JSONDecodeError: nothing is executed
        JSONSerializer.loads(payload)


def test_jobs_run_with_json_arguments_and_results() -> None:
    with override_settings(RQ={"SERIALIZER": JSON}):
        queue = get_queue("default")
        job = queue.enqueue(add, Decimal("1.5"), Decimal("2.25"))
        assert job.serializer is JSONSerializer
        report = run_jobs("default")
        assert [done.id for done in report.finished] == [job.id]
        assert job.return_value(refresh=True) == Decimal("3.75")
        raw = queue.connection.hget(job.key, "data")
        assert raw is not None
        assert zlib.decompress(raw).startswith(b'["tests.testapp.jobs.add"')  # RQ zlib-compresses data


def exposure(**config: Any) -> list[str]:
    with override_settings(RQ_QUEUES={"default": config}):
        return [message.id for message in check_pickle_exposure()]


@pytest.mark.parametrize(
    "config",
    [
        {"URL": "redis://10.1.2.3:6379/0"},
        {"URL": "redis://redis.internal:6379/0"},
        {"HOST": "192.0.2.7", "PORT": 6379},
        {"URL": "redis://10.1.2.3:6379/0", "SERIALIZER": "rq.serializers.DefaultSerializer"},
    ],
)
def test_w007_pickle_on_an_open_network_server(config: dict[str, Any]) -> None:
    assert exposure(**config) == ["django_taskq.W007"]


@pytest.mark.parametrize(
    "config",
    [
        {"URL": "redis://127.0.0.1:6379/0"},
        {"URL": "redis://[::1]:6379/0"},
        {"HOST": "localhost"},
        {"URL": "unix:///run/redis.sock"},
        {"UNIX_SOCKET_PATH": "/run/redis.sock"},
        {"URL": "redis://:secret@10.1.2.3:6379/0"},
        {"URL": "redis://10.1.2.3:6379/0", "PASSWORD": "secret"},
        {"HOST": "10.1.2.3", "CONNECTION_KWARGS": {"password": "secret"}},
        {"URL": "redis://10.1.2.3:6379/0", "SERIALIZER": JSON},
        {"USE_REDIS_CACHE": "default"},
    ],
)
def test_w007_not_raised_when_safe(config: dict[str, Any]) -> None:
    assert exposure(**config) == []


def test_w007_global_serializer_and_message_has_no_secret() -> None:
    with override_settings(RQ={"SERIALIZER": JSON}):
        assert exposure(URL="redis://10.1.2.3:6379/0") == []
    with override_settings(RQ_QUEUES={"default": {"URL": "redis://user@10.1.2.3:6379/0"}}):
        [message] = check_pickle_exposure()
    assert "10.1.2.3" in message.msg and "user" not in message.msg
    assert "JSONSerializer" in message.hint


def test_suite_settings_raise_no_w007() -> None:
    assert settings.RQ_QUEUES and check_pickle_exposure() == []
