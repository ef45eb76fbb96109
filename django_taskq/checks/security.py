"""Deploy check W007: pickled jobs on a Redis server that anyone on the network can write to.

A worker unpickles every job it takes, so whoever can write to its Redis can run code in the
workers. That is fine on loopback, a unix socket or a server that asks for a password; on an
open network address it is not.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.core.checks import CheckMessage, register

from ..conf import taskq_settings
from .messages import warning

# What RQ_QUEUES / RQ may name for RQ's pickle serializer (the default).
PICKLE_SERIALIZERS = frozenset(
    {"", "pickle", "rq.serializers.DefaultSerializer", "rq.serializers.PickleSerializer"}
)


@register("django_taskq", deploy=True)
def check_pickle_exposure(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name, config in taskq_settings.QUEUES.items():
        if not isinstance(config, dict):
            continue  # reported by E002
        serializer = str(config.get("SERIALIZER") or taskq_settings.RQ.get("SERIALIZER") or "")
        if serializer not in PICKLE_SERIALIZERS:
            continue
        host = open_network_host(config)
        if host is not None:
            messages.append(
                warning(
                    7,
                    f"Queue {name!r} stores pickled jobs on Redis at {host} with no password: anyone "
                    "who can reach that server can run code in your workers.",
                    "Set a PASSWORD (or a password in the URL) for that server, reach it over "
                    'loopback or a unix socket, or use RQ = {"SERIALIZER": '
                    '"django_taskq.serializers.JSONSerializer"}.',
                    f"RQ_QUEUES[{name!r}]",
                )
            )
    return messages


def open_network_host(config: dict[str, Any]) -> str | None:
    """The host a queue reaches without a password over the network, or None if it does not.

    Unknown ways of connecting (a Django cache, Sentinel) count as not open: their settings
    live elsewhere.
    """
    extra = {**config.get("CONNECTION_KWARGS", {}), **config.get("REDIS_CLIENT_KWARGS", {})}
    if config.get("PASSWORD") or extra.get("password"):
        return None
    if "USE_REDIS_CACHE" in config or "SENTINELS" in config or "UNIX_SOCKET_PATH" in config:
        return None
    if "URL" in config:
        parts = urlsplit(str(config["URL"]))
        if parts.scheme == "unix" or parts.password:
            return None
        host = parts.hostname or "localhost"
    else:
        host = str(config.get("HOST", "localhost"))
    return None if is_loopback(host) else host


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything
