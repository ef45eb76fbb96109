"""System checks: the exact ids for each misconfiguration."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_taskq.checks import check_globals, check_queues, check_servers

URL = "redis://127.0.0.1:6390/0"


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def queue_ids(queues: Any) -> list[str]:
    with override_settings(RQ_QUEUES=queues):
        return ids(check_queues())


def global_ids(**extra: Any) -> list[str]:
    with override_settings(**extra):
        return ids(check_globals())


def test_valid_settings_have_no_messages() -> None:
    assert ids(check_queues()) == []
    assert ids(check_globals()) == []


@pytest.mark.parametrize("queues", [None, {}, [], "redis://"])
def test_missing_or_empty(queues: Any) -> None:
    assert queue_ids(queues) == ["django_taskq.E001"]


def test_missing_setting_entirely() -> None:
    with override_settings():
        from django.conf import settings

        del settings.RQ_QUEUES
        messages = check_queues()
    assert ids(messages) == ["django_taskq.E001"]
    assert "RQ_QUEUES" in messages[0].hint


def test_queue_not_a_dict() -> None:
    assert queue_ids({"default": "redis://x"}) == ["django_taskq.E002"]


def test_unknown_key_suggests_the_right_one() -> None:
    with override_settings(RQ_QUEUES={"default": {"URL": URL, "DEFUALT_TIMEOUT": 5}}):
        messages = check_queues()
    assert ids(messages) == ["django_taskq.W001"]
    assert messages[0].hint == "Did you mean 'DEFAULT_TIMEOUT'?"


@pytest.mark.parametrize(
    "config",
    [
        {"HOST": "localhost", "PORT": "6379"},
        {"URL": URL, "DB": "0"},
        {"URL": URL, "ASYNC": "no"},
        {"URL": URL, "DEFAULT_TIMEOUT": 1.5},
        {"URL": URL, "DEFAULT_RESULT_TTL": True},
        {"URL": URL, "CONNECTION_KWARGS": []},
        {"SENTINELS": [("h", 1, 2)], "MASTER_NAME": "m"},
    ],
)
def test_wrong_types(config: dict[str, Any]) -> None:
    assert queue_ids({"default": config}) == ["django_taskq.E003"]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"URL": URL, "HOST": "localhost"}, "URL and HOST"),
        ({"HOST": "h", "UNIX_SOCKET_PATH": "/tmp/r.sock"}, "HOST and UNIX_SOCKET_PATH"),
        ({"URL": URL, "USE_REDIS_CACHE": "django-redis"}, "URL and USE_REDIS_CACHE"),
    ],
)
def test_conflicting_ways_to_connect(config: dict[str, Any], named: str) -> None:
    with override_settings(RQ_QUEUES={"default": config}):
        messages = check_queues()
    assert ids(messages) == ["django_taskq.E004"]
    assert named in messages[0].msg


def test_sentinels_without_master_name() -> None:
    assert queue_ids({"default": {"SENTINELS": [("127.0.0.1", 26379)]}}) == ["django_taskq.E005"]


def test_use_redis_cache_missing_cache() -> None:
    assert queue_ids({"default": {"USE_REDIS_CACHE": "nope"}}) == ["django_taskq.E006"]


def test_use_redis_cache_not_redis() -> None:
    assert queue_ids({"default": {"USE_REDIS_CACHE": "default"}}) == ["django_taskq.E007"]


@pytest.mark.parametrize("alias", ["django-redis", "builtin-redis"])
def test_use_redis_cache_ok(alias: str) -> None:
    assert queue_ids({"default": {"USE_REDIS_CACHE": alias}}) == []


@pytest.mark.parametrize(
    "config",
    [
        {"USE_REDIS_CACHE": "django-redis", "DB": 2},
        {"USE_REDIS_CACHE": "builtin-redis", "PASSWORD": "s3cret", "SSL": True},
        {"URL": URL, "PORT": 6380},
        {"HOST": "h", "MASTER_NAME": "m"},
        {"UNIX_SOCKET_PATH": "/tmp/r.sock", "PORT": 1},
        {"SENTINELS": [("h", 26379)], "MASTER_NAME": "m", "PORT": 1},
    ],
)
def test_keys_that_the_way_of_connecting_ignores(config: dict[str, Any]) -> None:
    with override_settings(RQ_QUEUES={"default": config}):
        messages = check_queues()
    assert ids(messages) == ["django_taskq.W004"]
    assert "s3cret" not in messages[0].msg


@pytest.mark.parametrize("key", ["QUEUE_CLASS", "JOB_CLASS", "SERIALIZER"])
def test_queue_paths_that_do_not_import(key: str) -> None:
    assert queue_ids({"default": {"URL": URL, key: "no.such.Thing"}}) == ["django_taskq.E009"]


def test_queue_class_not_commit_safe() -> None:
    assert queue_ids({"default": {"URL": URL, "QUEUE_CLASS": "rq.queue.Queue"}}) == ["django_taskq.W003"]


def test_invalid_commit_mode() -> None:
    assert global_ids(RQ={"COMMIT_MODE": "sometimes"}) == ["django_taskq.E008"]
    assert queue_ids({"default": {"URL": URL, "COMMIT_MODE": "sometimes"}}) == ["django_taskq.E008"]
    assert queue_ids({"default": {"URL": URL, "COMMIT_MODE": "outbox"}}) == []


@pytest.mark.parametrize("key", ["QUEUE_CLASS", "JOB_CLASS", "WORKER_CLASS", "SERIALIZER", "SCHEDULER_CLASS"])
def test_global_paths_that_do_not_import(key: str) -> None:
    assert global_ids(RQ={key: "no.such.Thing"}) == ["django_taskq.E009"]


def test_scheduler_class_must_be_an_rq_scheduler() -> None:
    assert global_ids(RQ={"SCHEDULER_CLASS": "rq.queue.Queue"}) == ["django_taskq.W005"]
    assert global_ids(RQ={"SCHEDULER_CLASS": "rq.scheduler.RQScheduler"}) == []


def test_django_rq_autocommit_is_deprecated_but_accepted() -> None:
    assert global_ids(RQ={"AUTOCOMMIT": True}) == ["django_taskq.W006"]
    assert global_ids(RQ={"AUTOCOMMIT": False, "COMMIT_MODE": "auto"}) == ["django_taskq.W006"]
    assert global_ids(RQ={"AUTOCOMMIT": "yes"}) == ["django_taskq.E003", "django_taskq.W006"]


def test_rq_not_a_dict() -> None:
    assert global_ids(RQ=["COMMIT_MODE"]) == ["django_taskq.E010"]


def test_rq_unknown_key_and_wrong_type() -> None:
    assert global_ids(RQ={"COMIT_MODE": "auto"}) == ["django_taskq.W002"]
    assert global_ids(RQ={"DEFAULT_RESULT_TTL": "1h"}) == ["django_taskq.E003"]


def test_exception_handlers() -> None:
    assert global_ids(RQ_EXCEPTION_HANDLERS="x.y") == ["django_taskq.E011"]
    assert global_ids(RQ_EXCEPTION_HANDLERS=["no.such.handler"]) == ["django_taskq.E011"]
    assert global_ids(RQ_EXCEPTION_HANDLERS=["tests.testapp.jobs.add"]) == []


def test_api_token_type() -> None:
    assert global_ids(RQ_API_TOKEN=1234) == ["django_taskq.E012"]


def test_deploy_check_reports_unreachable_server_without_password() -> None:
    queues = {"default": {"URL": "redis://:hunter2@127.0.0.1:1/0", "SOCKET_TIMEOUT": 1}}
    with override_settings(RQ_QUEUES=queues):
        messages = check_servers()
    assert ids(messages) == ["django_taskq.E020"]
    assert "127.0.0.1:1" in messages[0].msg
    assert "hunter2" not in messages[0].msg


def test_deploy_check_passes_on_the_suite_server() -> None:
    assert ids(check_servers()) == []


def test_deploy_checks_only_run_with_deploy() -> None:
    queues = {"default": {"URL": "redis://127.0.0.1:1/0", "SOCKET_TIMEOUT": 1}}
    with override_settings(RQ_QUEUES=queues):
        assert "django_taskq.E020" not in ids(run_checks(tags=["django_taskq"]))
        assert "django_taskq.E020" in ids(run_checks(tags=["django_taskq"], include_deployment_checks=True))
