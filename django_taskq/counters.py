"""Job outcome counters kept in Redis by our workers: per minute (for the dashboard chart)
and running totals (for Prometheus).

Keys: ``taskq:minutes:<queue>:<outcome>:<hour>`` (hash minute -> count, expires after 3 h)
and ``taskq:totals:<queue>`` (hash: finished, failed, working_seconds).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

Outcome = Literal["finished", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("finished", "failed")
_MINUTES_TTL = 3 * 3600


def _minutes_key(queue: str, outcome: str, hour: int) -> str:
    return f"taskq:minutes:{queue}:{outcome}:{hour}"


def totals_key(queue: str) -> str:
    return f"taskq:totals:{queue}"


def record(redis: Any, queue: str, outcome: Outcome, duration: float, now: float | None = None) -> None:
    """Count one job outcome; ``redis`` may be a client or a pipeline (nothing is executed here)."""
    minute = int((now if now is not None else time.time()) // 60)
    key = _minutes_key(queue, outcome, minute // 60)
    redis.hincrby(key, str(minute), 1)
    redis.expire(key, _MINUTES_TTL)
    redis.hincrby(totals_key(queue), outcome, 1)
    redis.hincrbyfloat(totals_key(queue), "working_seconds", max(0.0, duration))


def per_minute(
    redis: Any, queues: Iterable[str], minutes: int = 60, now: float | None = None
) -> dict[str, dict[Outcome, list[int]]]:
    """Counts of the last ``minutes`` minutes per queue and outcome, oldest first (one round trip)."""
    queues = list(queues)
    last = int((now if now is not None else time.time()) // 60)
    first = last - minutes + 1
    hours = sorted({minute // 60 for minute in (first, last)})
    pipe = redis.pipeline(transaction=False)
    for queue in queues:
        for outcome in OUTCOMES:
            for hour in hours:
                pipe.hgetall(_minutes_key(queue, outcome, hour))
    replies = iter(pipe.execute())
    result: dict[str, dict[Outcome, list[int]]] = {}
    for queue in queues:
        result[queue] = {}
        for outcome in OUTCOMES:
            counts: dict[int, int] = {}
            for _hour in hours:
                for minute, count in next(replies).items():
                    counts[int(minute)] = int(count)
            result[queue][outcome] = [counts.get(minute, 0) for minute in range(first, last + 1)]
    return result


def totals(redis: Any, queues: Iterable[str]) -> dict[str, dict[str, float]]:
    """Running totals per queue: finished, failed, working_seconds (one round trip)."""
    queues = list(queues)
    pipe = redis.pipeline(transaction=False)
    for queue in queues:
        pipe.hgetall(totals_key(queue))
    result: dict[str, dict[str, float]] = {}
    for queue, raw in zip(queues, pipe.execute(), strict=True):
        values = {key.decode() if isinstance(key, bytes) else key: float(value) for key, value in raw.items()}
        result[queue] = {name: values.get(name, 0.0) for name in ("finished", "failed", "working_seconds")}
    return result
