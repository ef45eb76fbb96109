"""The cron runner's cost per tick with 1,000 enabled Schedule rows, for 1 and 3 runners.

    python benchmarks/bench_schedules.py [--rows 1000] [--seconds 15] [--database sqlite|postgres]

The rows: three in four run every 60 s with their ``start_at`` spread over the minute (about
12 slots come due each second), one in four is a cron row (``*/5 * * * *`` in four time zones).
For 1 and then 3 runners (threads, each its own database connection and Redis client, racing
for every slot), each tick is measured in the thread that runs it: database queries, Redis
round trips and CPU time. Also shown: a runner's first tick (a restart: it loads the 1,000
rows and looks at each one's state once; the rows' very first slots were claimed before, not
measured) and a tick that reloads the rows after an edit. Checked at the end: every slot that
came due ran exactly once.

Starts its own redis-server (django_taskq.embedded) and its own database (a temporary SQLite
file, or a PostgreSQL database created on 127.0.0.1 and dropped afterwards).
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FUNC = "benchmarks.bench_schedules.noop"


def noop() -> None:
    """The job every row enqueues (never run here)."""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    from django_taskq.embedded import EmbeddedRedis

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="bench-schedules-")).start()
    try:
        return run(server.url, args)
    finally:
        server.stop()


def configure(url: str, database: str) -> None:
    import django
    from django.conf import settings

    if database == "postgres":
        db: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": 5432,
            "TEST": {"NAME": f"bench_schedules_{int(time.time())}"},
        }
    else:
        db = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": "",
            "TEST": {"NAME": str(Path(tempfile.mkdtemp(prefix="bench-schedules-")) / "db.sqlite3")},
        }
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_taskq"],
        DATABASES={"default": db},
        USE_TZ=True,
        TIME_ZONE="UTC",
        RQ_QUEUES={"default": {"URL": url}},
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.getLogger("django_taskq.cron").setLevel(logging.ERROR)


class Meter:
    """Per-thread counters of Redis round trips and database queries.

    benchmarks/roundtrips.py counts round trips for the whole process; the runners here are
    threads measured side by side, so the same hook counts by thread.
    """

    def __init__(self) -> None:
        self.round_trips: dict[int, int] = defaultdict(int)
        self.queries: dict[int, int] = defaultdict(int)
        from redis.connection import AbstractConnection

        original = AbstractConnection.send_packed_command
        meter = self

        def counted(connection: Any, *args: Any, **kwargs: Any) -> Any:
            meter.round_trips[threading.get_ident()] += 1
            return original(connection, *args, **kwargs)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

    def query(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries[threading.get_ident()] += 1
        return execute(sql, params, many, context)


def measured_runner(meter: Meter, samples: list[dict[str, float]], name: str) -> Any:
    from django.db import connections

    from django_taskq.cron import CronRunner
    from django_taskq.cron.loader import ScheduleLoader

    class Measured(CronRunner):
        def tick(self, now: datetime | None = None) -> list[Any]:
            me = threading.get_ident()
            trips, queries, cpu = meter.round_trips[me], meter.queries[me], time.thread_time()
            with connections["default"].execute_wrapper(meter.query):
                runs = super().tick(now)
            samples.append(
                {
                    "queries": meter.queries[me] - queries,
                    "round_trips": meter.round_trips[me] - trips,
                    "cpu_ms": (time.thread_time() - cpu) * 1000,
                    "claims": len(runs),
                }
            )
            return runs

    return Measured([], schedules=ScheduleLoader(), name=name, interval=1.0)


def make_rows(count: int) -> None:
    from django_taskq.models import Schedule

    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
    rows = []
    for i in range(count):
        if i % 4 == 3:
            rows.append(
                Schedule(name=f"cron-{i}", func=FUNC, cron="*/5 * * * *", time_zone=zones[i % 16 // 4])
            )
        else:
            start = base + timedelta(seconds=60 * i / count)
            rows.append(Schedule(name=f"every-minute-{i}", func=FUNC, interval=60, start_at=start))
    Schedule.objects.bulk_create(rows)


def phase(
    meter: Meter, runners: int, seconds: float
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Run ``runners`` runner threads for ``seconds``; (first ticks, the other ticks)."""
    from django.db import connections

    per_runner: list[list[dict[str, float]]] = [[] for _ in range(runners)]
    objects = [measured_runner(meter, per_runner[i], f"bench-{runners}-{i}") for i in range(runners)]

    def loop(runner: Any) -> None:
        try:
            runner.run()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=loop, args=(runner,)) for runner in objects]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    for runner in objects:
        runner.stop()
    for thread in threads:
        thread.join()
    firsts = [samples[0] for samples in per_runner if samples]
    rest = [sample for samples in per_runner for sample in samples[1:]]
    return firsts, rest


def reload_cost(meter: Meter) -> dict[str, float]:
    """What a warm runner spends taking an edit: the look at the table and the 1,000 rows again."""
    from django.db import connections

    from django_taskq.models import Schedule

    runner = measured_runner(meter, [], "bench-reload")
    runner.tick()
    row = Schedule.objects.order_by("pk").first()
    assert row is not None
    row.description = "edited"
    row.save()
    time.sleep(2.1)  # the loader looks every 2 s
    me = threading.get_ident()
    queries, cpu = meter.queries[me], time.thread_time()
    with connections["default"].execute_wrapper(meter.query):
        runner.refresh()
    spent = (time.thread_time() - cpu) * 1000
    return {"queries": meter.queries[me] - queries, "round_trips": 0, "cpu_ms": spent, "claims": 0}


def idle_ticks(meter: Meter, seconds: float) -> list[dict[str, float]]:
    """Ticks of one runner when no slot is due (every row hourly, none due during the run)."""
    from django.utils import timezone as django_timezone

    from django_taskq.models import Schedule

    Schedule.objects.update(interval=3600, cron="", updated_at=django_timezone.now())
    Schedule.objects.update(start_at=datetime.now(timezone.utc) + timedelta(minutes=30))
    _firsts, rest = phase(meter, 1, seconds)
    return rest


def row_of(label: str, samples: list[dict[str, float]]) -> str:
    cpu = sorted(sample["cpu_ms"] for sample in samples)
    p95 = cpu[min(len(cpu) - 1, int(len(cpu) * 0.95))]
    return (
        f"{label:34}{len(samples):>7}"
        f"{statistics.mean(s['queries'] for s in samples):>10.2f}"
        f"{statistics.mean(s['round_trips'] for s in samples):>10.2f}"
        f"{statistics.median(cpu):>10.2f}{p95:>10.2f}"
        f"{statistics.mean(s['claims'] for s in samples):>9.2f}"
    )


def run(url: str, args: argparse.Namespace) -> int:
    configure(url, args.database)
    import redis
    from django.db import connection

    name = connection.creation.create_test_db(verbosity=0)
    try:
        make_rows(args.rows)
        client = redis.Redis.from_url(url)
        meter = Meter()
        results = {}
        client.flushdb()
        measured_runner(meter, [], "prime").tick()  # the rows' first slots (catch-up): not measured
        for runners in (1, 3):
            started = time.time()
            firsts, rest = phase(meter, runners, args.seconds)
            ended = time.time()
            ids = [raw.decode() for raw in client.lrange("rq:queue:default", 0, -1)]
            ran = {slot_of(job_id) for job_id in ids}
            expected = expected_slots(started + 1, ended - 1)
            results[runners] = (firsts, rest, len(ids) - len(set(ids)), len(expected), len(expected - ran))
        reload = reload_cost(meter)
        idle = idle_ticks(meter, min(args.seconds, 8.0))
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)

    print(f"{args.rows} enabled Schedule rows, {args.database}, {args.seconds:g} s per run, tick 1 s")
    columns = ("ticks", 7), ("queries", 10), ("Redis RT", 10), ("CPU ms", 10), ("p95 ms", 10), ("claims", 9)
    print(f"{'per tick, per runner':34}" + "".join(f"{title:>{width}}" for title, width in columns))
    for runners, (firsts, rest, *_counts) in results.items():
        print(row_of(f"{runners} runner(s): first tick (load)", firsts))
        print(row_of(f"{runners} runner(s): steady ticks", rest))
    print(row_of("1 runner: idle ticks (nothing due)", idle))
    print(row_of("taking an edit (reload 1,000 rows)", [reload]))
    exact = True
    for runners, (_firsts, _rest, duplicates, expected, misses) in results.items():
        print(f"{runners} runner(s): {expected} slots came due, {misses} missed, {duplicates} duplicates")
        exact = exact and duplicates == misses == 0
    print("every slot exactly once" if exact else "NOT EXACTLY ONCE")
    return 0 if exact else 1


def slot_of(job_id: str) -> tuple[int, float]:
    """(row pk, slot timestamp) of a job id ``schedule-<pk>-<YYYYmmddTHHMMSS[micro]>``."""
    _prefix, pk, stamp = job_id.split("-")
    when = datetime.strptime(stamp[:15], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    return int(pk), round(when.timestamp() + int(stamp[15:] or 0) / 1e6, 3)


def expected_slots(begin: float, end: float) -> set[tuple[int, float]]:
    """The slots of the interval rows strictly inside [begin, end]."""
    from django_taskq.models import Schedule

    slots = set()
    for pk, start, interval in Schedule.objects.filter(interval__isnull=False).values_list(
        "pk", "start_at", "interval"
    ):
        anchor = start.timestamp()
        slot = anchor + math.ceil((begin - anchor) / interval) * interval
        while slot <= end:
            slots.add((pk, round(slot, 3)))
            slot += interval
    return slots


if __name__ == "__main__":
    sys.exit(main())
