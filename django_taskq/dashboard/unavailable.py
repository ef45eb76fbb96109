"""What a dashboard page does when a Redis server fails it: a 503 that says where and what.

Views never handle Redis errors themselves, except the pages that span connections (overview,
workers, scheduler), which read each connection in ``per_connection`` and mark the failing
ones. ``site.dashboard_view`` catches the rest (``REDIS_ERRORS``) in one place and answers with
``render_unavailable``. No client, URL or password is kept in a local of a frame that can raise
into Django's debug page: the failure is described as text (``Failure``) as soon as it is caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import redis

from ..conf import taskq_settings
from ..connections import ConnectionGroup, connection_groups

# redis-py wraps socket errors, but a TLS or DNS failure can surface as a bare OSError.
REDIS_ERRORS = (redis.RedisError, OSError)
T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """A Redis server that failed a page: where it is (no password) and what went wrong."""

    location: str
    problem: str
    queues: tuple[str, ...] = ()


def problem(error: BaseException) -> str:
    """What failed, for humans: the error's kind and redis-py's message, never a password."""
    if isinstance(error, redis.AuthenticationError | redis.AuthenticationWrongNumberOfArgsError):
        return f"{type(error).__name__}: the server refused the credentials"
    if isinstance(error, redis.TimeoutError):
        return f"{type(error).__name__}: the server did not answer within the socket timeout"
    text = str(error)
    for secret in _passwords():  # redis-py does not show passwords; a wrapper might
        text = text.replace(secret, "********")
    return f"{type(error).__name__}: {text}"[:500]


def _passwords() -> Iterable[str]:
    from urllib.parse import urlsplit

    for config in taskq_settings.QUEUES.values():
        if not isinstance(config, dict):
            continue
        password = config.get("PASSWORD") or urlsplit(str(config.get("URL", ""))).password
        if password:
            yield str(password)


def is_wrong_type(error: BaseException) -> bool:
    """Whether Redis refused a command because the key holds another type (a 404, not a 503)."""
    return isinstance(error, redis.ResponseError) and str(error).startswith("WRONGTYPE")


def failure_of(error: BaseException, queue_names: Iterable[str] = ()) -> Failure:
    """The ``Failure`` of a page whose Redis error came from the queues named (or an unknown one)."""
    groups = connection_groups(set(queue_names) & set(taskq_settings.QUEUES)) if queue_names else []
    if len(groups) == 1:
        return Failure(groups[0].location, problem(error), groups[0].names)
    return Failure("a Redis server of the dashboard", problem(error))


def per_connection(
    read: Callable[[ConnectionGroup], T], groups: Iterable[ConnectionGroup] | None = None
) -> tuple[list[T], list[Failure]]:
    """``read`` each connection (default: all of them); the failing ones become ``Failure``s."""
    results: list[T] = []
    failures: list[Failure] = []
    for group in connection_groups() if groups is None else groups:
        try:
            results.append(read(group))
        except REDIS_ERRORS as error:
            failures.append(Failure(group.location, problem(error), group.names))
    return results, failures


__all__ = ["REDIS_ERRORS", "Failure", "failure_of", "is_wrong_type", "per_connection", "problem"]
