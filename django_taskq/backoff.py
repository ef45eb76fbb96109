"""Waiting after failures: one exponential backoff and one interruptible sleep for every loop."""

from __future__ import annotations

import time
from collections.abc import Callable

MAX_BACKOFF = 30.0  # seconds: the longest wait between two attempts anywhere in django-taskq


class Backoff:
    """Exponential delays: ``initial``, twice that, ... up to ``cap``; ``reset()`` after a success."""

    def __init__(self, initial: float = 1.0, cap: float = MAX_BACKOFF) -> None:
        self.initial = initial
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        delay = min(self.cap, self.initial * 2.0**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


def sleep_unless(stopped: Callable[[], bool], seconds: float, step: float = 0.2) -> bool:
    """Sleep up to ``seconds``, waking every ``step`` to return early once ``stopped()``.

    Returns whether it was stopped. A loop that owns a ``threading.Event`` should wait on
    the event instead; this is for loops stopped by a signal handler's flag.
    """
    deadline = time.monotonic() + seconds
    while not stopped():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(step, left))
    return True
