"""How a runner keeps the enabled ``Schedule`` rows: one cheap query every 2 s, the rows only on change.

``ScheduleLoader.poll()`` asks the database for the number of enabled rows and their latest
``updated_at`` (one aggregate query) at most every ``every`` seconds. Only when that changed
(a row was added, edited, enabled, disabled or deleted) does it read the enabled rows again;
every ``full_every`` seconds it reads them anyway, which bounds the effect of a change that
neither moved ``updated_at`` nor the count (a ``queryset.update()`` of another field, or a web
server whose clock is behind). The runners' own writes (run state) leave ``updated_at`` alone,
so they never make the other runners reload. The cost per runner is the same however many
runners there are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import Count, Max

from ..conf import taskq_settings
from ..models import Schedule
from .rows import ScheduleEntry
from .run_state import disable_finished, record_run
from .schedule import CronConfigError, CronEntry

logger = logging.getLogger("django_taskq.cron")

RELOAD_EVERY = 2.0  # seconds between two looks at the table: edits take effect within ~2 s + a tick
FULL_RELOAD_EVERY = 60.0


class ScheduleLoader:
    """The enabled rows of one database as runner entries, re-read only when they changed."""

    def __init__(
        self,
        using: str | None = None,
        *,
        every: float = RELOAD_EVERY,
        full_every: float = FULL_RELOAD_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.using = using or router.db_for_read(Schedule)
        self.every = every
        self.full_every = full_every
        self.clock = clock
        self.available = False  # whether the last look at the table succeeded
        self.queries = 0  # database queries made (for the benchmark)
        self._version: tuple[Any, ...] | None = None
        self._checked = -float("inf")
        self._loaded = -float("inf")
        self._problem: str | None = None
        self._refused: set[tuple[int, Any]] = set()  # rows already reported as unable to run

    def poll(self, force: bool = False) -> list[ScheduleEntry] | None:
        """The entries of the enabled rows if they may have changed since the last poll, else None."""
        moment = self.clock()
        if not force and moment - self._checked < self.every:
            return None
        self._checked = moment
        rows = Schedule.objects.using(self.using).filter(enabled=True)
        try:
            self.queries += 1
            version = tuple(rows.aggregate(count=Count("pk"), latest=Max("updated_at")).values())
            if version == self._version and moment - self._loaded < self.full_every and not force:
                self._recovered()
                return None
            self.queries += 1
            loaded = list(rows.order_by("pk"))
        except DatabaseError as exc:
            self._failed(exc)
            return None
        self._recovered()
        self._version, self._loaded = version, moment
        return [entry for row in loaded if (entry := self._entry(row)) is not None]

    def _entry(self, row: Schedule) -> ScheduleEntry | None:
        try:
            if row.queue not in taskq_settings.QUEUES:
                raise CronConfigError(f"Schedule {row.name!r}: the queue {row.queue!r} is not in RQ_QUEUES.")
            return ScheduleEntry.from_row(row, database=self.using)
        except CronConfigError as exc:
            if (row.pk, row.updated_at) not in self._refused:  # once per version of the row
                self._refused.add((row.pk, row.updated_at))
                logger.error("%s It does not run until it is fixed.", exc)
            return None

    def _failed(self, exc: DatabaseError) -> None:
        self.available = False
        problem = f"{type(exc).__name__}: {exc}".strip()
        if problem != self._problem:  # once per distinct problem, not every 2 s
            self._problem = problem
            logger.warning("cron: cannot read the Schedule rows (%s); RQ_CRON entries go on", problem)
        connections[self.using].close()  # the next poll reconnects

    def _recovered(self) -> None:
        if self._problem is not None:
            logger.info("cron: the Schedule rows are readable again")
            self._problem = None
        self.available = True

    def close(self) -> None:
        """Close the calling thread's connection to the database (a runner thread that ends)."""
        connections[self.using].close()

    # --- what the runner reports back --------------------------------------------------------

    def record(self, entry: CronEntry, *, slot: datetime, job_id: str, runs: int, now: datetime) -> None:
        """The runner enqueued ``job_id`` for ``entry``'s ``slot`` (its ``runs``-th run)."""
        if isinstance(entry, ScheduleEntry):
            self._write(record_run, entry, at=slot, job_id=job_id, runs=runs, next_run=entry.next_slot(now))

    def finished(self, entry: CronEntry, runs: int) -> None:
        """``entry`` reached its maximum number of runs: disable its row."""
        if isinstance(entry, ScheduleEntry):
            self._write(disable_finished, entry, runs=runs)

    def _write(self, write: Callable[..., None], entry: ScheduleEntry, **kwargs: Any) -> None:
        # The job is in Redis already: a failed write is repaired by the row's next run (the
        # count Redis keeps is authoritative), so it is logged, never raised.
        try:
            self.queries += 1
            write(entry, **kwargs)
        except DatabaseError:
            logger.exception("cron: could not record the run state of schedule %s", entry.name)
            connections[entry.database].close()
