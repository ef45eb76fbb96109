"""Periodic jobs declared in ``RQ_CRON``, enqueued exactly once per slot however many runners run.

Each entry has *slots*: the instants its cron string (read in Django's ``TIME_ZONE``) or its
interval (multiples of ``interval`` seconds since the Unix epoch) name. At every tick a runner
looks at the most recent slot of each entry that is due. In one Redis transaction (``WATCH`` on
the entry's state key, then ``MULTI``/``EXEC``) it checks that no runner has taken that slot yet,
records it as the entry's last slot and writes the job with an id derived from the slot. Two
runners racing for a slot cannot both commit: the loser's ``EXEC`` is refused. A crash cannot
split the claim from the enqueue either, since both are in the same ``EXEC``.

Missed slots (all runners down, Redis unreachable): only the most recent due slot is ever looked
at, so a downtime causes at most one catch-up run. That run happens if the slot is at most
``grace`` seconds old (default 300; ``None`` means always); an older slot is recorded as
``skipped`` and the entry waits for its next slot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import redis
from croniter import croniter  # type: ignore[import-untyped]
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import WatchError
from rq.job import Job

from .conf import taskq_settings
from .queues import DjangoQueue, get_queue

__all__ = [
    "CronEntry",
    "CronEntryStatus",
    "CronRun",
    "CronRunner",
    "cron_runners",
    "cron_status",
    "load_entries",
    "start_cron_thread",
]

logger = logging.getLogger("django_taskq.cron")

KEY_PREFIX = "taskq:cron:"
RUNNERS_KEY = f"{KEY_PREFIX}runners"
DEFAULT_GRACE = 300
DEFAULT_TICK = 1.0
HISTORY = 20
MAX_BACKOFF = 30.0

# Keys of one RQ_CRON entry and the types their values may have.
ENTRY_KEYS: dict[str, tuple[type, ...]] = {
    "func": (str,),
    "queue": (str,),
    "cron": (str,),
    "interval": (int, float),
    "args": (list, tuple),
    "kwargs": (dict,),
    "timeout": (int, str),
    "result_ttl": (int,),
    "ttl": (int,),
    "failure_ttl": (int,),
    "description": (str,),
    "meta": (dict,),
    "at_front": (bool,),
    "grace": (int, float, type(None)),
    "name": (str,),
    "id": (str,),
}

_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class CronConfigError(ImproperlyConfigured):
    """RQ_CRON is invalid; the system checks (django_taskq.E030-E039) say where and how."""


@dataclass(frozen=True)
class CronEntry:
    """One periodic job of RQ_CRON."""

    name: str
    func: str
    queue: str = "default"
    cron: str | None = None
    interval: float | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    grace: float | None = DEFAULT_GRACE
    options: dict[str, Any] = field(default_factory=dict)  # timeout, result_ttl, ttl, ...
    at_front: bool = False

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval is None):
            raise CronConfigError(f"Cron entry {self.name!r} needs exactly one of 'cron' and 'interval'.")
        if self.cron is not None and not valid_cron(self.cron):
            raise CronConfigError(f"Cron entry {self.name!r}: {self.cron!r} is not a valid cron string.")
        if self.interval is not None and not self.interval > 0:
            raise CronConfigError(f"Cron entry {self.name!r}: interval must be positive.")

    @classmethod
    def from_setting(cls, item: dict[str, Any]) -> CronEntry:
        """An entry from one RQ_CRON dict (assumed valid: the system checks report problems)."""
        options = {
            key: item[key]
            for key in ("timeout", "result_ttl", "ttl", "failure_ttl", "description", "meta")
            if item.get(key) is not None
        }
        interval = item.get("interval")
        return cls(
            name=entry_name(item),
            func=str(item["func"]),
            queue=str(item.get("queue", "default")),
            cron=item.get("cron"),
            interval=float(interval) if interval is not None else None,
            args=tuple(item.get("args", ())),
            kwargs=dict(item.get("kwargs", {})),
            grace=item.get("grace", DEFAULT_GRACE),
            options=options,
            at_front=bool(item.get("at_front", False)),
        )

    @property
    def schedule(self) -> str:
        """The schedule for humans: the cron string, or ``every N s``."""
        if self.cron is not None:
            return self.cron
        return f"every {self.interval or 0:g} s"

    def slot_at(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now``, in UTC (cron strings are read in TIME_ZONE)."""
        if self.interval is not None:
            stamp = math.floor(now.timestamp() / self.interval) * self.interval
            return datetime.fromtimestamp(stamp, timezone.utc)
        local = now.astimezone(cron_timezone())
        # croniter's get_prev() is strict: nudge past ``now`` so that a slot at ``now`` counts.
        it = croniter(self._cron, local + timedelta(microseconds=1))
        for _ in range(4):  # a repeated autumn hour is skipped at most once in a row
            slot: datetime = it.get_prev(datetime)
            if not self._repeated_wall_time(slot):
                return slot.astimezone(timezone.utc)  # (ambiguous local times never compare equal)
        return None  # pragma: no cover - cannot happen for a valid cron string

    def next_slot(self, now: datetime) -> datetime:
        """The first slot strictly after ``now``."""
        if self.interval is not None:
            stamp = (math.floor(now.timestamp() / self.interval) + 1) * self.interval
            return datetime.fromtimestamp(stamp, timezone.utc)
        it = croniter(self._cron, now.astimezone(cron_timezone()))
        while True:
            slot: datetime = it.get_next(datetime)
            if not self._repeated_wall_time(slot):
                return slot.astimezone(timezone.utc)

    @property
    def _cron(self) -> str:
        return self.cron or ""

    def _repeated_wall_time(self, slot: datetime) -> bool:
        """Whether ``slot`` is the second pass of a wall-clock time repeated by the autumn DST change.

        Entries pinned to fixed hours (e.g. ``30 2 * * *``) run once that night, like system
        cron; entries whose hour field has a ``*`` (``*/30 * * * *``) keep running in real time.
        """
        fields = self._cron.split()
        if len(fields) < 5 or "*" in fields[1]:
            return False
        naive = slot.replace(tzinfo=None)
        zone = slot.tzinfo
        first, second = naive.replace(fold=0).replace(tzinfo=zone), naive.replace(fold=1).replace(tzinfo=zone)
        if first.utcoffset() == second.utcoffset():
            return False  # not an ambiguous time
        return slot.utcoffset() == second.utcoffset()

    def job_id(self, slot: datetime) -> str:
        """The id of the job of ``slot``: the same in every runner, so a slot is one job."""
        safe = _JOB_ID_UNSAFE.sub("_", self.name).strip("_") or "entry"
        if safe != self.name:  # keep names that differ only in unsafe characters apart
            safe = f"{safe}-{hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:8]}"
        when = slot.astimezone(timezone.utc)
        fraction = f"{when.microsecond:06d}" if when.microsecond else ""  # sub-second intervals
        return f"cron-{safe}-{when:%Y%m%dT%H%M%S}{fraction}"

    @property
    def state_key(self) -> str:
        return f"{KEY_PREFIX}{self.name}"

    @property
    def runs_key(self) -> str:
        return f"{KEY_PREFIX}{self.name}:runs"


def entry_name(item: dict[str, Any]) -> str:
    """The stable name of an RQ_CRON dict: its ``name`` or ``id``, else its ``func``."""
    return str(item.get("name") or item.get("id") or item.get("func"))


def valid_cron(expression: str) -> bool:
    """Whether ``expression`` is a five-field cron string or an alias such as ``@daily``."""
    fields = expression.split()
    if not (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))):
        return False
    try:
        return bool(croniter.is_valid(expression))
    except Exception:  # croniter raises on some malformed input instead of answering False
        return False


def cron_timezone() -> tzinfo:
    """The zone cron strings are read in: Django's TIME_ZONE (UTC when unset)."""
    return ZoneInfo(getattr(settings, "TIME_ZONE", None) or "UTC")


def load_entries(raw: Iterable[Any] | None = None) -> list[CronEntry]:
    """The entries of RQ_CRON (or ``raw``); raises CronConfigError if the checks find errors."""
    from .cron_checks import check_entries

    items = list(taskq_settings.CRON if raw is None else raw)
    errors = [message for message in check_entries(items) if message.is_serious()]
    if errors:
        raise CronConfigError(f"RQ_CRON is invalid: {errors[0].msg} ({errors[0].id})")
    return [CronEntry.from_setting(item) for item in items]


@dataclass(frozen=True)
class CronRun:
    """What a runner did with one slot of an entry."""

    slot: datetime
    job_id: str | None  # None when the slot was skipped
    at: datetime  # when the runner claimed the slot
    late: float  # seconds between the slot and the claim
    outcome: str  # "enqueued" or "skipped" (older than the entry's grace)
    runner: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot.isoformat(),
            "job_id": self.job_id,
            "at": self.at.isoformat(),
            "late": round(self.late, 3),
            "outcome": self.outcome,
            "runner": self.runner,
        }

    @classmethod
    def from_json(cls, raw: str | bytes) -> CronRun:
        data = json.loads(raw)
        return cls(
            slot=datetime.fromisoformat(data["slot"]),
            job_id=data.get("job_id"),
            at=datetime.fromisoformat(data["at"]),
            late=float(data.get("late", 0.0)),
            outcome=str(data.get("outcome", "enqueued")),
            runner=str(data.get("runner", "")),
        )


class CronRunner:
    """Evaluates the RQ_CRON entries every ``interval`` seconds and enqueues the due slots.

    Any number of runners (threads, processes, hosts) may run at once: each slot is enqueued by
    exactly one of them. Each entry is enqueued through its queue's own connection; a
    ``connection`` given here (a worker's, for ``rqworker --with-cron``) is used instead for the
    entries whose queue lives on the same server and database, never for the others.
    """

    def __init__(
        self,
        entries: Sequence[CronEntry] | None = None,
        *,
        connection: redis.Redis | None = None,
        interval: float = DEFAULT_TICK,
        name: str | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be positive")
        self.entries = list(load_entries() if entries is None else entries)
        self.connection = connection
        self.interval = interval
        self.name = name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._queues: dict[str, DjangoQueue] = {}

    def queue(self, entry: CronEntry) -> DjangoQueue:
        """The queue object of ``entry`` (with the runner's connection when it is the same Redis)."""
        queue = get_queue(entry.queue)
        if self.connection is None or queue.connection is self.connection:
            return queue
        if not same_location(queue.connection, self.connection):
            return queue
        cached = self._queues.get(entry.queue)
        if cached is None:
            cached = self._queues[entry.queue] = get_queue(entry.queue, connection=self.connection)
        return cached

    def tick(self, now: datetime | None = None) -> list[CronRun]:
        """Evaluate every entry once; the slots this runner claimed (others claimed the rest).

        Per connection, one pipelined round trip reads the last slot of every entry (and
        refreshes this runner's heartbeat); only entries with a newer due slot go on to the
        claiming transaction. Redis errors propagate after every connection has been tried, so
        one unreachable server does not hold up the entries of another.
        """
        now = now or datetime.now(timezone.utc)
        runs: list[CronRun] = []
        failure: Exception | None = None
        groups: dict[int, tuple[redis.Redis, list[tuple[CronEntry, DjangoQueue]]]] = {}
        for entry in self.entries:
            queue = self.queue(entry)
            groups.setdefault(id(queue.connection), (queue.connection, []))[1].append((entry, queue))
        for connection, members in groups.values():
            try:
                lasts = self._last_slots(connection, [entry for entry, _queue in members], now)
            except (redis.RedisError, OSError) as exc:
                failure = failure or exc
                continue
            for (entry, queue), last in zip(members, lasts, strict=True):
                slot = entry.slot_at(now)
                if slot is None or (last is not None and float(last) >= slot.timestamp()):
                    continue
                try:
                    run = self._claim(entry, queue, now)
                except (redis.RedisError, OSError) as exc:
                    failure = failure or exc
                    continue
                except Exception:
                    logger.exception("cron entry %r failed; the other entries go on", entry.name)
                    continue
                if run is not None:
                    runs.append(run)
        if failure is not None:
            raise failure
        return runs

    def _last_slots(self, connection: redis.Redis, entries: list[CronEntry], now: datetime) -> list[Any]:
        stamp = now.timestamp()
        with connection.pipeline(transaction=False) as pipe:
            pipe.zadd(RUNNERS_KEY, {self.name: stamp + max(3 * self.interval, 10.0)})
            pipe.zremrangebyscore(RUNNERS_KEY, "-inf", stamp - 3600)
            for entry in entries:
                pipe.hget(entry.state_key, "last_slot")
            return pipe.execute()[2:]

    def _claim(self, entry: CronEntry, queue: DjangoQueue, now: datetime) -> CronRun | None:
        slot = entry.slot_at(now)
        if slot is None:
            return None
        stamp = slot.timestamp()
        job_id = entry.job_id(slot)
        job_key = Job.key_for(job_id)
        late = max(0.0, now.timestamp() - stamp)
        skipped = entry.grace is not None and late > entry.grace
        with queue.connection.pipeline() as pipe:
            try:
                pipe.watch(entry.state_key, job_key)  # type: ignore[no-untyped-call]
                last: Any = pipe.hget(entry.state_key, "last_slot")  # immediate while watching
                if last is not None and float(last) >= stamp:
                    return None  # already claimed, by us or another runner
                if pipe.exists(job_key):
                    skipped = True  # state lost but the slot's job exists: never write it twice
                job = None if skipped else self._job(entry, queue, job_id, slot)
                run = CronRun(slot, None if job is None else job_id, now, late,
                              "skipped" if job is None else "enqueued", self.name)  # fmt: skip
                pipe.multi()
                pipe.hset(
                    entry.state_key,
                    mapping={
                        "last_slot": repr(stamp),
                        "last_job_id": run.job_id or "",
                        "last_at": now.isoformat(),
                    },
                )
                pipe.lpush(entry.runs_key, json.dumps(run.as_dict()))
                pipe.ltrim(entry.runs_key, 0, HISTORY - 1)
                if job is not None and queue._is_async:
                    # With a pipeline, RQ's own enqueue only queues writes: they join our EXEC.
                    queue.enqueue_job(job, pipeline=pipe, at_front=entry.at_front)
                pipe.execute()
            except WatchError:
                return None  # another runner claimed the slot between our read and our write
        if job is not None and not queue._is_async:
            queue.enqueue_job(job, at_front=entry.at_front)  # a synchronous queue runs it here
        if job is None:
            logger.warning(
                "cron %s: slot %s skipped (%.0f s late, grace %s s)", entry.name, slot, late, entry.grace
            )
        else:
            logger.info("cron %s: enqueued job %s on %s for slot %s", entry.name, job_id, queue.name, slot)
        return run

    def _job(self, entry: CronEntry, queue: DjangoQueue, job_id: str, slot: datetime) -> Job:
        options = dict(entry.options)
        meta = {**options.pop("meta", {}), "cron": entry.name, "cron_slot": slot.isoformat()}
        return queue.create_job(
            entry.func, args=entry.args, kwargs=entry.kwargs, job_id=job_id, meta=meta, **options
        )

    def wait_time(self, now: datetime) -> float:
        """Seconds until the next tick: ``interval``, or less when a slot comes sooner."""
        upcoming = [entry.next_slot(now).timestamp() for entry in self.entries]
        until = min(upcoming, default=math.inf) - now.timestamp()
        return max(0.0, min(self.interval, until + 0.001))

    def run(self) -> None:
        """Tick until ``stop()``; Redis errors are logged and retried with backoff."""
        logger.info("cron runner %s started: %d entr%s, tick %g s", self.name, len(self.entries),
                    "y" if len(self.entries) == 1 else "ies", self.interval)  # fmt: skip
        failures = 0
        while not self._stop.is_set():
            try:
                self.tick()
            except (redis.RedisError, OSError) as exc:
                failures += 1
                delay = min(MAX_BACKOFF, self.interval * 2**failures)
                logger.warning("cron runner %s: Redis error (%s: %s), retrying in %.1f s",
                               self.name, type(exc).__name__, exc, delay)  # fmt: skip
                self._stop.wait(delay)
                continue
            except Exception:  # a bug must not silently end the schedule: log it and go on
                logger.exception("cron runner %s: tick failed", self.name)
                self._stop.wait(self.interval)
                continue
            if failures:
                logger.info("cron runner %s: Redis is back", self.name)
                failures = 0
            self._stop.wait(self.wait_time(datetime.now(timezone.utc)))
        self.leave()
        logger.info("cron runner %s stopped", self.name)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def leave(self) -> None:
        """Remove this runner from the list of live runners."""
        for connection in {id(q.connection): q.connection for q in map(self.queue, self.entries)}.values():
            with contextlib.suppress(redis.RedisError, OSError):
                connection.zrem(RUNNERS_KEY, self.name)


def same_location(first: redis.Redis, second: redis.Redis) -> bool:
    """Whether two clients reach the same server and database (False when unsure)."""
    keys = ("host", "port", "path", "db", "username")

    def location(client: redis.Redis) -> tuple[Any, ...] | None:
        kwargs = getattr(client.connection_pool, "connection_kwargs", {})
        if not kwargs.get("host") and not kwargs.get("path"):
            return None  # e.g. Sentinel: the address is only known when connecting
        return tuple(kwargs.get(key) for key in keys)

    here = location(first)
    return here is not None and here == location(second)


def start_cron_thread(
    connection: redis.Redis | None = None,
    interval: float = DEFAULT_TICK,
    entries: Sequence[CronEntry] | None = None,
) -> Callable[[], None]:
    """Run a CronRunner in a daemon thread; returns a callable that stops it and waits for it.

    For ``rqworker --with-cron``. Raises CronConfigError if RQ_CRON is invalid. With no
    entries configured, no thread is started and the callable does nothing.
    """
    runner = CronRunner(entries, connection=connection, interval=interval)
    if not runner.entries:
        logger.info("RQ_CRON is empty: no cron thread started")
        return lambda: None
    thread = threading.Thread(target=runner.run, name="taskq-cron", daemon=True)
    thread.start()

    def stop(timeout: float | None = 10.0) -> None:
        runner.stop()
        thread.join(timeout)

    return stop


@dataclass(frozen=True)
class CronEntryStatus:
    """One RQ_CRON entry as the dashboard shows it."""

    name: str
    func: str
    queue: str
    schedule: str
    timezone: str
    next_run: datetime | None
    last_runs: list[CronRun]
    error: str | None = None  # why this entry cannot run (invalid settings, Redis down)

    @property
    def last_run(self) -> datetime | None:
        """When the most recent slot was claimed (enqueued or skipped)."""
        return self.last_runs[0].at if self.last_runs else None

    @property
    def last_status(self) -> str | None:
        """``enqueued`` or ``skipped``: what happened to the most recent slot."""
        return self.last_runs[0].outcome if self.last_runs else None

    @property
    def last_job_id(self) -> str | None:
        return next((run.job_id for run in self.last_runs if run.job_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "func": self.func,
            "queue": self.queue,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_runs": [run.as_dict() for run in self.last_runs],
            "error": self.error,
        }


def cron_status(
    entries: Sequence[CronEntry] | None = None, *, now: datetime | None = None, limit: int = HISTORY
) -> list[CronEntryStatus]:
    """Schedule, next run and last runs of every entry; one pipelined round trip per connection.

    Never raises for bad settings or an unreachable Redis: the entry's ``error`` says what is wrong.
    """
    from .cron_checks import check_entries

    now = now or datetime.now(timezone.utc)
    zone = str(cron_timezone())
    rows: list[tuple[CronEntry | None, dict[str, Any], str | None]] = []
    if entries is not None:
        rows = [(entry, {}, None) for entry in entries]
    else:
        for item in taskq_settings.CRON:
            errors = [m for m in check_entries([item]) if m.is_serious()]
            if errors:
                rows.append((None, item if isinstance(item, dict) else {}, str(errors[0].msg)))
            else:
                rows.append((CronEntry.from_setting(item), item, None))
    runs: dict[str, list[CronRun]] = {}
    failures: dict[str, str] = {}
    by_connection: dict[int, tuple[redis.Redis, list[CronEntry]]] = {}
    for entry, _item, _error in rows:
        if entry is not None:
            connection = get_queue(entry.queue).connection
            by_connection.setdefault(id(connection), (connection, []))[1].append(entry)
    for connection, group in by_connection.values():
        try:
            with connection.pipeline(transaction=False) as pipe:
                for entry in group:
                    pipe.lrange(entry.runs_key, 0, limit - 1)
                results = pipe.execute()
        except (redis.RedisError, OSError) as exc:
            for entry in group:
                failures[entry.name] = f"Redis unreachable ({type(exc).__name__})"
            continue
        for entry, raw_runs in zip(group, results, strict=True):
            runs[entry.name] = [CronRun.from_json(item) for item in raw_runs]
    statuses = []
    for entry, item, error in rows:
        if entry is None:
            statuses.append(
                CronEntryStatus(
                    name=entry_name(item) if item else "?",
                    func=str(item.get("func", "")),
                    queue=str(item.get("queue", "default")),
                    schedule=str(item.get("cron") or item.get("interval") or ""),
                    timezone=zone,
                    next_run=None,
                    last_runs=[],
                    error=error,
                )
            )
            continue
        statuses.append(
            CronEntryStatus(
                name=entry.name,
                func=entry.func,
                queue=entry.queue,
                schedule=entry.schedule,
                timezone=zone if entry.cron is not None else "UTC",
                next_run=entry.next_slot(now),
                last_runs=runs.get(entry.name, []),
                error=failures.get(entry.name),
            )
        )
    return statuses


def cron_runners(connection: redis.Redis | None = None, *, now: datetime | None = None) -> list[str]:
    """Names of the cron runners alive (ticked recently) on ``connection``.

    Default: the connection of the first RQ_CRON entry's queue (every runner ticks on the
    connections of all entries), else of the ``default`` queue.
    """
    if connection is None:
        items = [item for item in taskq_settings.CRON if isinstance(item, dict)]
        name = str(items[0].get("queue", "default")) if items else "default"
        connection = get_queue(name if name in taskq_settings.QUEUES else "default").connection
    stamp = (now or datetime.now(timezone.utc)).timestamp()
    names = connection.zrangebyscore(RUNNERS_KEY, stamp, "+inf")
    return sorted(name.decode() if isinstance(name, bytes) else str(name) for name in names)
