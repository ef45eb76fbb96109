"""What the commands share: argparse validators, queue name checks, the one report of Redis errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from django.core.management.base import CommandError

from django_taskq.conf import taskq_settings
from django_taskq.connections import connection_groups
from django_taskq.management.exit_codes import ExitCode


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


class _CollectQueues(argparse.Action):
    """QUEUE arguments and ``-q/--queue`` flags add to one list, in the order given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        names = [values] if isinstance(values, str) else list(values or ())
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or ()), *names])


def add_queue_arguments(parser: argparse.ArgumentParser, *, default: str) -> None:
    """The one way commands select queues: ``QUEUE ...`` arguments, ``-q/--queue QUEUE``
    (django-rq's spelling, repeatable), or both. They add up, in the order given, in
    ``queues``, which is empty when neither is given; ``default`` says what happens then."""
    parser.add_argument(
        "queues", nargs="*", action=_CollectQueues, metavar="QUEUE", help=f"Queue names (default: {default})."
    )
    parser.add_argument(
        "-q", "--queue", action=_CollectQueues, dest="queues", metavar="QUEUE",
        help="One more queue, the same as a QUEUE argument (repeatable).",
    )  # fmt: skip


def required_queues(queues: list[str] | None) -> list[str]:
    """The selected queues of a command that needs one at least: argparse's usage error otherwise."""
    if not queues:
        raise CommandError(
            "the following arguments are required: QUEUE (or -q/--queue QUEUE)", returncode=ExitCode.USAGE
        )
    return check_queue_names(queues)


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
            returncode=ExitCode.ERROR,
        )
    return unique


@contextmanager
def redis_errors(queue_names: Iterable[str] | None = None) -> Iterator[None]:
    """Turn a Redis failure into a CommandError (exit 3) that says where, never with a traceback
    or a password: the one way every command reports Redis failures."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # redis-py wraps socket errors
        raise CommandError(
            f"Cannot reach Redis at {_where(queue_names)}: {type(exc).__name__}: {exc}",
            returncode=ExitCode.REDIS,
        ) from exc
    except redis.RedisError as exc:
        raise CommandError(
            f"Redis at {_where(queue_names)} answered with an error: {type(exc).__name__}: {exc}",
            returncode=ExitCode.REDIS,
        ) from exc


def check_reachable(queue_names: Iterable[str] | None = None) -> None:
    """Ping each connection of the queues (default: all): fail fast, naming the one that is down."""
    for group in connection_groups(queue_names):
        with redis_errors(group.names):
            group.client.ping()


def _where(queue_names: Iterable[str] | None) -> str:
    """``redis://host:6379/0 (queues a, b)`` for each connection of the queues."""
    try:
        return (
            ", ".join(
                f"{group.location} (queue{'s' if len(group.names) > 1 else ''} {', '.join(group.names)})"
                for group in connection_groups(queue_names)
            )
            or "?"
        )
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
