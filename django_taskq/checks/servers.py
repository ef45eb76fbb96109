"""Deploy checks that contact Redis (``check --deploy``): E020 unreachable, E021 too old."""

from __future__ import annotations

from typing import Any

import redis
from django.core.checks import CheckMessage, register

from ..connections import connection_groups, server_version
from .messages import error

MIN_REDIS_VERSION = (5, 0, 0)


@register("django_taskq", deploy=True)
def check_servers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Ping each distinct Redis server (deploy only: it needs the network)."""
    messages: list[CheckMessage] = []
    for group in connection_groups():
        where = group.location
        obj = f"RQ_QUEUES[{group.names[0]!r}]"
        try:
            version = server_version(group.client)
        except (redis.RedisError, OSError, TypeError, ValueError) as exc:
            messages.append(
                error(
                    20,
                    f"Redis at {where} (queues {', '.join(group.names)}) is unreachable: "
                    f"{type(exc).__name__}.",
                    "Start the server or fix the connection settings of these queues.",
                    obj,
                )
            )
            continue
        if version < MIN_REDIS_VERSION:
            found = ".".join(map(str, version))
            needed = ".".join(map(str, MIN_REDIS_VERSION))
            messages.append(
                error(21, f"Redis at {where} is version {found}; RQ needs {needed} or newer.",
                      "Upgrade the Redis server.", obj)
            )  # fmt: skip
    return messages
