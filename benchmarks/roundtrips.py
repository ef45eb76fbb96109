"""Counting Redis round trips: one send per command, one per pipeline or script call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection


def count_round_trips() -> list[int]:
    """Count from now on, in this process; the returned list holds the count."""
    count = [0]
    original = AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    return count


@contextmanager
def counting_round_trips() -> Iterator[list[int]]:
    """Count within the block only."""
    original = AbstractConnection.send_packed_command
    try:
        yield count_round_trips()
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
