"""Errors raised by django-taskq."""

from __future__ import annotations

from collections.abc import Iterable


class TaskqError(Exception):
    """Base class of django-taskq's own errors."""


class UnknownQueueError(TaskqError, KeyError):
    """A queue name that RQ_QUEUES does not define."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(name)

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none"
        return f"Unknown queue {self.name!r}: RQ_QUEUES defines {known}."


class MixedConnectionsError(TaskqError, ValueError):
    """Queues that must share one Redis connection do not."""
