"""The cron runner: enqueues each due slot of RQ_CRON and of the Schedule rows exactly once.

At every tick a runner looks at the entries whose next slot has come (computed once per slot,
not per tick). One pipelined read per Redis connection tells which of those slots no runner
took yet; ``claims.claim`` takes them all in one transaction (``WATCH``, read, ``MULTI``/
``EXEC``) that records each slot and writes its job, with an id derived from the slot. Two
runners racing for a slot cannot both commit: the loser's ``EXEC`` is refused. A crash cannot
split the claim from the enqueue either, since both are in the same ``EXEC``.

Missed slots (all runners down, Redis unreachable): only the most recent due slot is ever looked
at, so a downtime causes at most one catch-up run. That run happens if the slot is at most
``grace`` seconds old (default 300, the same for Schedule rows; ``None`` means always); an older
slot is recorded as ``skipped`` and the entry waits for its next slot.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import redis

from ..backoff import Backoff
from ..conf import taskq_settings
from ..connections import client_location
from ..queues import DjangoQueue, get_queue
from .claims import Candidate, Claim, CronRun, claim
from .schedule import KEY_PREFIX, CronEntry, load_entries

if TYPE_CHECKING:
    from .loader import ScheduleLoader

logger = logging.getLogger("django_taskq.cron")

RUNNERS_KEY = f"{KEY_PREFIX}runners"  # sorted set: runner name -> heartbeat expiry
DEFAULT_TICK = 1.0


class CronRunner:
    """Evaluates the RQ_CRON entries and the enabled Schedule rows, and enqueues the due slots.

    Any number of runners (threads, processes, hosts) may run at once: each slot is enqueued by
    exactly one of them. Each entry is enqueued through its queue's own connection; a
    ``connection`` given here (a worker's, for ``rqworker --with-cron``) is used instead for the
    entries whose queue lives on the same server and database, never for the others.

    ``schedules``: a ``ScheduleLoader``, or True for one on the default database; by default the
    runner runs the rows when its entries come from RQ_CRON (``entries`` not given).
    """

    def __init__(
        self,
        entries: Sequence[CronEntry] | None = None,
        *,
        connection: redis.Redis | None = None,
        interval: float = DEFAULT_TICK,
        name: str | None = None,
        schedules: ScheduleLoader | bool | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        self.static_entries = list(load_entries() if entries is None else entries)
        self.entries = list(self.static_entries)
        self.connection = connection
        self.interval = interval
        self.name = name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        if schedules is None:
            schedules = entries is None
        if schedules is True:
            from .loader import ScheduleLoader  # the models: only once the app registry is ready

            schedules = ScheduleLoader()
        self.schedules: ScheduleLoader | None = schedules or None
        self._stop = threading.Event()
        self._queues: dict[str, DjangoQueue] = {}
        self._due: dict[str, float] = {}  # state key -> the first slot (timestamp) not yet handled
        self._groups: list[tuple[redis.Redis, list[tuple[CronEntry, DjangoQueue]]]] | None = None

    def queue(self, entry: CronEntry) -> DjangoQueue:
        """The queue object of ``entry`` (with the runner's connection when it is the same Redis)."""
        return self._queue(entry.queue)

    def _queue(self, name: str) -> DjangoQueue:
        queue = get_queue(name)
        if self.connection is None or queue.connection is self.connection:
            return queue
        if not same_location(queue.connection, self.connection):
            return queue
        cached = self._queues.get(name)
        if cached is None:
            cached = self._queues[name] = get_queue(name, connection=self.connection)
        return cached

    def refresh(self, force: bool = False) -> bool:
        """Take the Schedule rows' changes (throttled by the loader); whether the rows are readable."""
        if self.schedules is None:
            return False
        rows = self.schedules.poll(force=force)
        if rows is not None:
            before = {entry.state_key: entry for entry in self.entries}
            self.entries = [*self.static_entries, *rows]
            # An unchanged entry keeps its place in time; a new or edited one is looked at now.
            self._due = {
                entry.state_key: self._due[entry.state_key]
                for entry in self.entries
                if entry.state_key in self._due and before.get(entry.state_key) == entry
            }
            self._groups = None
        return self.schedules.available

    def _connection_groups(self) -> list[tuple[redis.Redis, list[tuple[CronEntry, DjangoQueue]]]]:
        if self._groups is None:
            groups: dict[int, tuple[redis.Redis, list[tuple[CronEntry, DjangoQueue]]]] = {}
            if self.schedules is not None and "default" in taskq_settings.QUEUES:
                default = self._queue("default").connection  # the heartbeat, even with no row yet
                groups[id(default)] = (default, [])
            for entry in self.entries:
                queue = self.queue(entry)
                groups.setdefault(id(queue.connection), (queue.connection, []))[1].append((entry, queue))
            self._groups = list(groups.values())
        return self._groups

    def tick(self, now: datetime | None = None) -> list[CronRun]:
        """Evaluate every entry once; the slots this runner claimed (others claimed the rest).

        An entry is looked at only once its next slot has come (its slots are computed once per
        slot, not per tick). Per connection, one pipelined round trip reads the last slot of the
        entries that are due (and refreshes this runner's heartbeat); only those with a newer
        due slot go on to the claiming transaction. Redis errors propagate after every
        connection has been tried, so one unreachable server does not hold up another's entries.
        """
        now = now or datetime.now(timezone.utc)
        self.refresh()
        runs: list[CronRun] = []
        failure: Exception | None = None
        for connection, members in self._connection_groups():
            due = [(entry, queue, slot) for entry, queue in members if (slot := self._due_slot(entry, now))]
            try:
                lasts = self._last_slots(connection, [entry for entry, _queue, _slot in due], now)
                free = [
                    Candidate(entry, queue, slot)
                    for (entry, queue, slot), last in zip(due, lasts, strict=True)
                    if last is None or float(last) < slot.timestamp()
                ]
                result = claim(connection, free, now, self.name) if free else Claim()
            except (redis.RedisError, OSError) as exc:
                failure = failure or exc
                continue  # these entries are looked at again at the next tick
            self._report(result)
            runs.extend(result.runs)
            retry = {candidate.entry.state_key for candidate in result.failed}
            for entry, _queue, _slot in due:
                if entry.state_key not in retry:
                    following = entry.next_slot(now)
                    self._due[entry.state_key] = math.inf if following is None else following.timestamp()
        if failure is not None:
            raise failure
        return runs

    def _report(self, result: Claim) -> None:
        """Log what a claim wrote, and tell the Schedule rows (their run state)."""
        for candidate, run, _job, runs in result.enqueued:
            entry, queue = candidate.entry, candidate.queue
            logger.info(
                "cron %s: enqueued job %s on %s for slot %s", entry.name, run.job_id, queue.name, run.slot
            )
            if self.schedules is not None:
                self.schedules.record(entry, slot=run.slot, job_id=str(run.job_id), runs=runs, now=run.at)
        for candidate, run in result.skipped:
            logger.warning("cron %s: slot %s skipped (%.0f s late, grace %s s)",
                           candidate.entry.name, run.slot, run.late, candidate.entry.grace)  # fmt: skip
        for entry, runs in result.finished:
            logger.info("cron %s: %d runs, its maximum: disabled", entry.name, runs)
            if self.schedules is not None:
                self.schedules.finished(entry, runs)

    def _due_slot(self, entry: CronEntry, now: datetime) -> datetime | None:
        """The slot of ``entry`` to claim at ``now``, if one came since the entry was last handled."""
        if now.timestamp() < self._due.get(entry.state_key, -math.inf):
            return None
        slot = entry.slot_at(now)
        if slot is None:  # e.g. a row whose window has not opened yet
            following = entry.next_slot(now)
            self._due[entry.state_key] = math.inf if following is None else following.timestamp()
        return slot

    def _last_slots(self, connection: redis.Redis, entries: list[CronEntry], now: datetime) -> list[Any]:
        stamp = now.timestamp()
        with connection.pipeline(transaction=False) as pipe:
            pipe.zadd(RUNNERS_KEY, {self.name: stamp + max(3 * self.interval, 10.0)})
            pipe.zremrangebyscore(RUNNERS_KEY, "-inf", stamp - 3600)
            for entry in entries:
                pipe.hget(entry.state_key, "last_slot")
            return pipe.execute()[2:]

    def wait_time(self, now: datetime) -> float:
        """Seconds until the next tick: ``interval``, or less when a slot comes sooner."""
        stamp = now.timestamp()
        upcoming = [due for entry in self.entries if (due := self._due.get(entry.state_key, 0.0)) > stamp]
        until = min(upcoming, default=math.inf) - stamp
        return max(0.0, min(self.interval, until + 0.001))

    def run(self) -> None:
        """Tick until ``stop()``; Redis errors are logged and retried with backoff."""
        logger.info("cron runner %s started: %d entr%s%s, tick %g s", self.name, len(self.entries),
                    "y" if len(self.entries) == 1 else "ies",
                    " and the Schedule rows" if self.schedules else "", self.interval)  # fmt: skip
        backoff = Backoff(initial=2 * self.interval)  # 2, 4, 8... ticks, up to MAX_BACKOFF
        while not self._stop.is_set():
            try:
                self.tick()
            except (redis.RedisError, OSError) as exc:
                delay = backoff.next_delay()
                logger.warning("cron runner %s: Redis error (%s: %s), retrying in %.1f s",
                               self.name, type(exc).__name__, exc, delay)  # fmt: skip
                self._stop.wait(delay)
                continue
            except Exception:  # a bug must not silently end the schedule: log it and go on
                logger.exception("cron runner %s: tick failed", self.name)
                self._stop.wait(self.interval)
                continue
            if backoff.failures:
                logger.info("cron runner %s: Redis is back", self.name)
                backoff.reset()
            self._stop.wait(self.wait_time(datetime.now(timezone.utc)))
        self.leave()
        if self.schedules is not None:
            self.schedules.close()  # this thread's database connection
        logger.info("cron runner %s stopped", self.name)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def leave(self) -> None:
        """Remove this runner from the list of live runners."""
        for connection, _members in self._connection_groups():
            with contextlib.suppress(redis.RedisError, OSError):
                connection.zrem(RUNNERS_KEY, self.name)


def same_location(first: redis.Redis, second: redis.Redis) -> bool:
    """Whether two clients reach the same server, database and user (False when unsure)."""
    if first is second:
        return True
    here, there = _address(first), _address(second)
    return here is not None and here == there


def _address(client: redis.Redis) -> tuple[str, Any] | None:
    kwargs = client.get_connection_kwargs()
    if not kwargs.get("host") and not kwargs.get("path"):
        return None  # e.g. Sentinel: the address is only known when connecting
    # The user too: two ACL users of one database may not have the same rights.
    return client_location(client), kwargs.get("username")


def start_cron_thread(
    connection: redis.Redis | None = None,
    interval: float = DEFAULT_TICK,
    entries: Sequence[CronEntry] | None = None,
) -> Callable[[], None]:
    """Run a CronRunner in a daemon thread; returns a callable that stops it and waits for it.

    For ``rqworker --with-cron``. Raises CronConfigError if RQ_CRON is invalid. The thread runs
    the Schedule rows too when ``entries`` is not given (rows may be added at any time); with
    explicit ``entries`` and none given, no thread is started and the callable does nothing.
    """
    runner = CronRunner(entries, connection=connection, interval=interval)
    if not runner.entries and runner.schedules is None:
        logger.info("No cron entry: no cron thread started")
        return lambda: None
    thread = threading.Thread(target=runner.run, name="taskq-cron", daemon=True)
    thread.start()

    def stop(timeout: float | None = 10.0) -> None:
        runner.stop()
        thread.join(timeout)

    return stop
