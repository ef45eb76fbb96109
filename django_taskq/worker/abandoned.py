"""The quick check for jobs of dead workers, run every few seconds by every worker and rqscheduler.

A running job's execution sits in its queue's started registry, scored with the moment its
heartbeat expires (``HEARTBEAT_INTERVAL`` + grace after its last beat). Full registry
maintenance looks at it every ``MAINTENANCE_INTERVAL``; this check looks every
``ABANDONED_CHECK_INTERVAL`` seconds, and costs one round trip (one ZRANGEBYSCORE per queue,
stopped at the first entry) while no job is abandoned, so a SIGKILLed worker's job is failed or
retried about ``heartbeat TTL + ABANDONED_CHECK_INTERVAL`` seconds after the worker's death.
"""

from __future__ import annotations

import time
from typing import Any

from rq.queue import Queue

from ..rq_compat.worker import clean_abandoned_jobs, queues_with_expired_executions

ABANDONED_CHECK_INTERVAL = 2.0  # seconds between two looks at the started registries

__all__ = ["ABANDONED_CHECK_INTERVAL", "AbandonedJobsCheck"]


class AbandonedJobsCheck:
    """Fails or retries (per their ``Retry``) the jobs of dead workers on some queues that share
    one connection, at most once per ``interval`` seconds. Redis errors propagate."""

    def __init__(self, queues: list[Queue], interval: float = ABANDONED_CHECK_INTERVAL) -> None:
        self.queues = queues
        self.interval = interval
        self.last = float("-inf")

    @property
    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def done_now(self) -> None:
        """Count a check as done now (full registry maintenance just did its work)."""
        self.last = time.monotonic()

    def run(self, exception_handlers: list[Any]) -> int:
        """Check now if due; the number of queues that had abandoned jobs."""
        if not self.due:
            return 0
        self.done_now()  # a failing check is not retried before the next interval either
        found = queues_with_expired_executions(self.queues)
        for queue in found:
            clean_abandoned_jobs(queue, exception_handlers)
        return len(found)
