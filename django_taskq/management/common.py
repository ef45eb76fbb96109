"""What the non-worker commands share: argparse validators, queue name checks, Redis errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import redis
from django.core.management.base import CommandError

from django_taskq.conf import taskq_settings
from django_taskq.connections import describe, get_redis_connection, queues_by_connection

# Exit codes shared by the commands (documented in docs/commands.rst).
EXIT_ERROR = 1  # a bad value, an unknown queue, a refused confirmation, an unhealthy probe
# 2 is argparse's own: a malformed command line (unknown flag, missing or unparsable value).
EXIT_REDIS = 3  # Redis could not be reached or answered with an error


def _seconds(text: str, *, zero_allowed: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be {'0 or more' if zero_allowed else 'greater than 0'}"
        )
    return value


def positive_number(text: str) -> float:
    """argparse type: a finite number of seconds greater than zero."""
    return _seconds(text, zero_allowed=False)


def non_negative_number(text: str) -> float:
    """argparse type: a finite number of seconds, zero or more."""
    return _seconds(text, zero_allowed=True)


def positive_int(text: str) -> int:
    """argparse type: a whole number greater than zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def add_queue_filter(
    parser: argparse.ArgumentParser,
    help: str = "Only the Redis connection of this queue (repeatable). Default: every connection.",
) -> None:
    """``-q/--queue QUEUE``, repeatable, collected in ``queues`` (None when not given)."""
    parser.add_argument("-q", "--queue", action="append", dest="queues", metavar="QUEUE", help=help)


def add_bulk_arguments(parser: argparse.ArgumentParser, *, what: str, confirm_help: str | None) -> None:
    """``--batch-size`` (``what`` per round trip) and, where ``confirm_help`` says when the
    command asks, ``--noinput``: the arguments of the batched maintenance commands."""
    from django_taskq.maintenance import BATCH_SIZE

    if confirm_help is not None:
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help=confirm_help
        )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=BATCH_SIZE,
        help=f"{what} per Redis round trip (default: {BATCH_SIZE}).",
    )


def check_queue_names(names: Iterable[str]) -> list[str]:
    """The names, deduplicated in order; CommandError naming the unknown ones and the known."""
    known = taskq_settings.QUEUES
    unique = list(dict.fromkeys(names))
    unknown = [name for name in unique if not isinstance(known.get(name), dict)]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise CommandError(
            f"Unknown queue{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"RQ_QUEUES defines {listed}.",
            returncode=EXIT_ERROR,
        )
    return unique


def connections_of(queue_names: Iterable[str] | None = None) -> list[tuple[str, redis.Redis, list[str]]]:
    """(location, client, queue names) for each distinct connection of the queues (default: all)."""
    wanted = set(queue_names) if queue_names is not None else None
    result = []
    for names in queues_by_connection().values():
        selected = [name for name in names if wanted is None or name in wanted]
        if selected:
            config = taskq_settings.QUEUES[selected[0]]
            result.append((describe(config), get_redis_connection(config), selected))
    return result


def locations(queue_names: Iterable[str] | None = None) -> str:
    return ", ".join(location for location, _client, _names in connections_of(queue_names))


@contextmanager
def redis_errors(queue_names: Iterable[str] | None = None) -> Iterator[None]:
    """Turn a Redis failure into a CommandError that says where, never with a traceback."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        where = _safe_locations(queue_names)
        raise CommandError(f"Cannot reach Redis at {where}: {exc}", returncode=EXIT_REDIS) from exc
    except redis.RedisError as exc:
        where = _safe_locations(queue_names)
        raise CommandError(f"Redis at {where} answered with an error: {exc}", returncode=EXIT_REDIS) from exc


def _safe_locations(queue_names: Iterable[str] | None) -> str:
    try:
        return locations(queue_names) or "?"
    except Exception:  # describing must never hide the real error
        return "?"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def confirm(question: str) -> bool:
    """Ask on the terminal, Django's flush-style: only 'yes' goes ahead."""
    try:
        answer: str = input(f"{question}\nType 'yes' to continue, or 'no' to cancel: ")
    except EOFError:  # no terminal to ask (cron, CI): use --noinput
        return False
    return answer.strip().lower() == "yes"
