"""Redis clients: one client (and pool) per distinct connection configuration per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.backoff import NoBackoff
from redis.retry import Retry

from .conf import CONNECTION_KEYS, taskq_settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}
_fail_fast_clients: dict[str, redis.Redis] = {}
_failing_fast: ContextVar[bool] = ContextVar("django_taskq_fail_fast", default=False)

_WATCHED_SETTINGS = frozenset({"RQ_QUEUES", "RQ", "CACHES"})


def connection_params(config: dict[str, Any]) -> dict[str, Any]:
    """The connection part of one RQ_QUEUES entry (queue options left out)."""
    return {key: config[key] for key in CONNECTION_KEYS if key in config}


def connection_key(config: dict[str, Any]) -> str:
    """A stable identity for a connection configuration: equal keys share one client."""
    return repr(sorted(connection_params(config).items(), key=lambda item: item[0]))


def get_connection(name: str = "default") -> redis.Redis:
    """The shared Redis client of queue ``name``."""
    return get_redis_connection(taskq_settings.queue_config(name))


def get_redis_connection(config: dict[str, Any]) -> redis.Redis:
    """The shared client for a connection configuration, created on first use.

    Inside ``fail_fast()`` it is that configuration's twin that never retries (see there).
    """
    key = connection_key(config)
    fast = _failing_fast.get()
    clients = _fail_fast_clients if fast else _clients
    client = clients.get(key)
    if client is None:
        shared = None if not fast else get_redis_connection_retrying(config)
        with _lock:
            client = clients.get(key)
            if client is None:
                params = connection_params(config)
                client = build_client(params) if shared is None else _without_retries(params, shared)
                clients[key] = client
    return client


def get_redis_connection_retrying(config: dict[str, Any]) -> redis.Redis:
    """The shared client that retries (redis-py's default), even inside ``fail_fast()``."""
    token = _failing_fast.set(False)
    try:
        return get_redis_connection(config)
    finally:
        _failing_fast.reset(token)


@contextmanager
def fail_fast() -> Iterator[None]:
    """Within this block (this thread or task only), ``get_redis_connection`` and everything built
    on it (``get_queue``, ``ConnectionGroup.client``) give clients that never retry.

    For the web pages that read Redis (the dashboard): redis-py 8 retries a failed connection
    about ten times with backoff, so a wrong password costs seconds and a stalled server ten
    socket timeouts per request; a page should fail within one. Workers keep the retrying clients.
    """
    token = _failing_fast.set(True)
    try:
        yield
    finally:
        _failing_fast.reset(token)


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)  # type: ignore[no-untyped-call]


def _without_retries(params: dict[str, Any], shared: redis.Redis) -> redis.Redis:
    """A client of its own pool with the same settings as ``shared``, minus redis-py's retries."""
    if "USE_REDIS_CACHE" in params:  # the cache built the pool: copy its settings
        pool = shared.connection_pool
        twin = redis.ConnectionPool(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **{**pool.connection_kwargs, "retry": _no_retry(), "retry_on_error": []},
        )
        return redis.Redis(connection_pool=twin)
    client_kwargs = {**params.get("REDIS_CLIENT_KWARGS", {}), "retry": _no_retry(), "retry_on_error": []}
    return build_client({**params, "REDIS_CLIENT_KWARGS": client_kwargs})


def server_version(client: redis.Redis) -> tuple[int, int, int]:
    """Redis server version, asked once per client (RQ asks once per queue object)."""
    version: tuple[int, int, int] | None = getattr(client, "_taskq_server_version", None)
    if version is None:
        info = client.info("server")
        major, minor, patch = (int(part) for part in str(info["redis_version"]).split(".")[:3])
        version = (major, minor, patch)
        client._taskq_server_version = version  # type: ignore[attr-defined]
    return version


def build_client(params: dict[str, Any]) -> redis.Redis:
    """A new client for the connection keys of one RQ_QUEUES entry."""
    if "USE_REDIS_CACHE" in params:
        return _client_from_cache(params["USE_REDIS_CACHE"])

    kwargs: dict[str, Any] = {}
    for key, kwarg in (
        ("DB", "db"),
        ("USERNAME", "username"),
        ("PASSWORD", "password"),
        ("SOCKET_TIMEOUT", "socket_timeout"),
    ):
        if key in params:
            kwargs[kwarg] = params[key]
    ssl = bool(params.get("SSL", False)) or str(params.get("URL", "")).startswith("rediss://")
    if ssl and "SSL_CERT_REQS" in params:
        kwargs["ssl_cert_reqs"] = params["SSL_CERT_REQS"]
    kwargs.update(params.get("CONNECTION_KWARGS", {}))
    kwargs.update(params.get("REDIS_CLIENT_KWARGS", {}))

    if "SENTINELS" in params:
        from redis.sentinel import Sentinel

        sentinel_kwargs = dict(params.get("SENTINEL_KWARGS", {}))
        if ssl:
            kwargs["ssl"] = True
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            [tuple(address) for address in params["SENTINELS"]],
            sentinel_kwargs=sentinel_kwargs or None,
            socket_timeout=params.get("SOCKET_TIMEOUT"),
        )
        master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            params["MASTER_NAME"], redis_class=redis.Redis, **kwargs
        )
        return master

    if "URL" in params:
        url = params["URL"]
        if ssl:
            url = _with_tls_scheme(url)
        client = redis.Redis.from_url(url, **kwargs)
        # redis-py lets the URL's db/user/password win over keyword arguments; here an explicit
        # DB, USERNAME or PASSWORD key wins, as it does for every other way of connecting.
        explicit = {k: v for k, v in kwargs.items() if k in ("db", "username", "password")}
        client.connection_pool.connection_kwargs.update(explicit)
        return client

    if "UNIX_SOCKET_PATH" in params:
        return redis.Redis(unix_socket_path=params["UNIX_SOCKET_PATH"], **kwargs)

    if ssl:
        kwargs["ssl"] = True
    return redis.Redis(host=params.get("HOST", "localhost"), port=params.get("PORT", 6379), **kwargs)


def _with_tls_scheme(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "redis":
        return urlunsplit(parts._replace(scheme="rediss"))
    return url


def _client_from_cache(alias: str) -> redis.Redis:
    """The client of a Django cache, sharing its pool: a django-redis cache or Django's RedisCache.

    django-redis (the ``django-redis`` extra) is asked through its public helper when installed;
    Django's own RedisCache needs no extra package.
    """
    from django.core.cache import caches

    cache = caches[alias]
    try:
        from django_redis import get_redis_connection as django_redis_client
    except ImportError:
        pass
    else:
        try:
            client: redis.Redis = django_redis_client(alias, write=True)
            return client
        except NotImplementedError:  # django-redis's answer for a cache that is not its own
            pass
    inner = getattr(cache, "_cache", None)
    if inner is not None and hasattr(inner, "get_client"):  # django.core.cache.backends.redis
        return inner.get_client(write=True)  # type: ignore[no-any-return]
    raise TypeError(f"Cache {alias!r} ({type(cache).__name__}) is not a Redis cache.")


def describe(config: dict[str, Any]) -> str:
    """Where a connection goes, for humans: never a password or a full URL."""
    params = connection_params(config)
    if "USE_REDIS_CACHE" in params:
        return f"cache {params['USE_REDIS_CACHE']!r}"
    if "SENTINELS" in params:
        hosts = ",".join(f"{host}:{port}" for host, port in params["SENTINELS"])
        return f"sentinel {params.get('MASTER_NAME')}@{hosts}/{params.get('DB', 0)}"
    if "URL" in params:
        parts = urlsplit(params["URL"])
        if parts.scheme == "unix":
            return f"unix:{parts.path}"
        db = params.get("DB", parts.path.lstrip("/") or 0)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}/{db}"
    if "UNIX_SOCKET_PATH" in params:
        return f"unix:{params['UNIX_SOCKET_PATH']}?db={params.get('DB', 0)}"
    scheme = "rediss" if params.get("SSL") else "redis"
    return f"{scheme}://{params.get('HOST', 'localhost')}:{params.get('PORT', 6379)}/{params.get('DB', 0)}"


def reset() -> None:
    """Forget every client: the next use builds fresh ones."""
    with _lock:
        clients = [*_clients.values(), *_fail_fast_clients.values()]
        _clients.clear()
        _fail_fast_clients.clear()
    for client in clients:
        client.connection_pool.disconnect()


def _forget_after_fork() -> None:
    # The child must never use the parent's sockets: drop the clients (closing nothing, since
    # the sockets are the parent's) and a lock another thread may have held at fork time.
    global _lock
    _lock = threading.Lock()
    _clients.clear()
    _fail_fast_clients.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _WATCHED_SETTINGS:
        reset()


def queues_by_connection() -> dict[str, list[str]]:
    """Queue names of RQ_QUEUES grouped by the connection they share, in settings order."""
    groups: dict[str, list[str]] = {}
    for name, config in taskq_settings.QUEUES.items():
        if isinstance(config, dict):
            groups.setdefault(connection_key(config), []).append(name)
    return groups


@dataclass(frozen=True)
class ConnectionGroup:
    """The queues of RQ_QUEUES that share one Redis connection."""

    names: tuple[str, ...]

    @property
    def config(self) -> dict[str, Any]:
        return taskq_settings.queue_config(self.names[0])

    @property
    def location(self) -> str:
        """Where the connection goes, safe to show (see ``describe``)."""
        return describe(self.config)

    @property
    def client(self) -> redis.Redis:
        return get_redis_connection(self.config)


def connection_groups(queue_names: Iterable[str] | None = None) -> list[ConnectionGroup]:
    """One group per distinct connection, in settings order; only ``queue_names`` when given."""
    wanted = set(queue_names) if queue_names is not None else None
    groups = []
    for names in queues_by_connection().values():
        selected = tuple(name for name in names if wanted is None or name in wanted)
        if selected:
            groups.append(ConnectionGroup(selected))
    return groups


def client_location(client: Any) -> str:
    """Where an existing client connects, safe to show: host:port/db or the socket, no password."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {}) or {}
    if "path" in kwargs:
        return f"unix:{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
