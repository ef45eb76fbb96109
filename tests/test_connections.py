from __future__ import annotations

import os
import threading

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from django_taskq import get_connection, get_queue
from django_taskq.connections import build_client, connection_key, describe, get_redis_connection, reset
from tests.testapp.jobs import add

BASE = settings.REDIS_URL.rsplit("/", 1)[0]
PORT = int(BASE.rsplit(":", 1)[1])


def kwargs_of(client: redis.Redis) -> dict:
    return client.connection_pool.connection_kwargs


@pytest.mark.parametrize(
    "config",
    [
        {"URL": f"{BASE}/5"},
        {"URL": f"{BASE}/0", "DB": 5},
        {"HOST": "127.0.0.1", "PORT": PORT, "DB": 5},
    ],
)
def test_url_and_host_port_reach_the_same_database(config: dict) -> None:
    client = build_client(config)
    client.set("taskq-probe", "x")
    assert redis.Redis.from_url(f"{BASE}/5").get("taskq-probe") == b"x"
    client.close()


@pytest.mark.parametrize("way", ["url", "host", "socket"])
def test_each_key_means_the_same_whichever_way(way: str) -> None:
    common = {
        "USERNAME": "u",
        "PASSWORD": "p",
        "SOCKET_TIMEOUT": 3,
        "DB": 2,
        "CONNECTION_KWARGS": {"client_name": "c"},
    }
    config = {
        "url": {"URL": "redis://h:1/0"},
        "host": {"HOST": "h", "PORT": 1},
        "socket": {"UNIX_SOCKET_PATH": "/s"},
    }
    kwargs = kwargs_of(build_client({**config[way], **common}))
    assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"], kwargs["db"]) == (
        "u",
        "p",
        3,
        2,
    )
    assert kwargs["client_name"] == "c"


def test_ssl_with_url_and_host() -> None:
    from redis.connection import SSLConnection

    for config in (
        {"URL": "redis://h:1/0", "SSL": True},
        {"URL": "rediss://h:1/0"},  # TLS from the scheme alone: SSL_CERT_REQS still applies
        {"HOST": "h", "PORT": 1, "SSL": True},
        {"SENTINELS": [("h", 1)], "MASTER_NAME": "m", "SSL": True},
    ):
        client = build_client({**config, "SSL_CERT_REQS": "none"})
        assert issubclass(client.connection_pool.connection_class, SSLConnection)
        assert kwargs_of(client)["ssl_cert_reqs"] == "none"


def test_redis_client_kwargs_apply() -> None:
    client = build_client({"URL": "redis://h:1/0", "REDIS_CLIENT_KWARGS": {"health_check_interval": 7}})
    assert kwargs_of(client)["health_check_interval"] == 7


def test_sentinel_builds_a_master_client() -> None:
    client = build_client(
        {"SENTINELS": [("127.0.0.1", 1)], "MASTER_NAME": "mymaster", "DB": 3, "PASSWORD": "pw",
         "SENTINEL_KWARGS": {"password": "sentinel-pw"}}
    )  # fmt: skip
    pool = client.connection_pool
    assert type(pool).__name__ == "SentinelConnectionPool"
    assert pool.service_name == "mymaster"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (3, "pw")
    assert pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs["password"] == "sentinel-pw"


@pytest.mark.parametrize("alias", ["django-redis", "builtin-redis"])
def test_use_redis_cache_shares_the_cache_pool(alias: str) -> None:
    with override_settings(RQ_QUEUES={"default": {"USE_REDIS_CACHE": alias}}):
        client = get_connection()
        caches[alias].set("k", "v")
        cache_db = {"django-redis": 3, "builtin-redis": 4}[alias]
        assert kwargs_of(client)["db"] == cache_db
        job = get_queue().enqueue(add, 1, 2)
        assert redis.Redis.from_url(f"{BASE}/{cache_db}").exists(f"rq:job:{job.id}") == 1


def test_use_redis_cache_rejects_other_backends() -> None:
    with override_settings(RQ_QUEUES={"default": {"USE_REDIS_CACHE": "default"}}), pytest.raises(TypeError):
        get_connection()


def test_one_client_per_distinct_configuration_and_thread_safe() -> None:
    reset()
    seen: list[redis.Redis] = []
    threads = [threading.Thread(target=lambda: seen.append(get_connection("high"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    assert get_redis_connection({"URL": settings.REDIS_URL}) is seen[0]
    assert connection_key({"URL": "x", "DEFAULT_TIMEOUT": 1}) == connection_key({"URL": "x"})


def test_setting_change_rebuilds_clients() -> None:
    before = get_connection()
    with override_settings(RQ_QUEUES={"default": {"URL": f"{BASE}/6"}}):
        inside = get_connection()
        assert kwargs_of(inside)["db"] == 6
    assert inside is not before
    assert get_connection() is not inside


@pytest.mark.usefixtures("processes")
def test_fork_gets_fresh_clients() -> None:
    parent = get_connection()
    parent.ping()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's client or its socket
        child = get_connection()
        ok = child is not parent and child.ping()
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert parent.ping()  # the parent's connection still works


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"URL": "redis://user:secret@example.com:6380/2"}, "redis://example.com:6380/2"),
        ({"URL": "rediss://:secret@example.com/0", "DB": 4}, "rediss://example.com:6379/4"),
        ({"HOST": "h", "PORT": 1, "PASSWORD": "secret"}, "redis://h:1/0"),
        ({"UNIX_SOCKET_PATH": "/run/r.sock", "PASSWORD": "secret"}, "unix:/run/r.sock?db=0"),
        ({"SENTINELS": [("s", 26379)], "MASTER_NAME": "m", "PASSWORD": "secret"}, "sentinel m@s:26379/0"),
        ({"USE_REDIS_CACHE": "django-redis"}, "cache 'django-redis'"),
    ],
)
def test_describe_never_shows_secrets(config: dict, expected: str) -> None:
    assert describe(config) == expected
    assert "secret" not in describe(config)
