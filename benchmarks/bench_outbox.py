"""The outbox's cost: COMMIT_MODE "outbox" vs "on_db_commit", and the relay's throughput.

    python benchmarks/bench_outbox.py [--db sqlite pg] [--repeat 15] [--transactions 200] [--batch 1000]

On each database (a SQLite file, and PostgreSQL on 127.0.0.1:5432 when reachable: a database
of its own, created and dropped here) and one private Redis started here:

1. one transaction that writes a row (a ``Group``, as a view writes its order) and enqueues
   one job, per transaction: ``outbox`` vs ``on_db_commit`` (target >= 0.7x);
2. the same transaction without the row (the job is the transaction's only write);
3. ``--batch`` enqueues in one transaction, per job (target >= 0.7x), as ``enqueue()`` calls
   (one INSERT each) and as one ``enqueue_many()`` (one INSERT of one row);
4. the relay: a backlog of 10,000 stored jobs (``--backlog``), one row each, pushed by
   ``relay_once()``, in jobs per second.

Every round runs both modes, in a shuffled order, on a flushed Redis and empty tables, and
checks that every job reached its queue and the outbox is empty. A ratio is
(on_db_commit's time) / (outbox's time): 0.7 means the outbox costs 1/0.7 = 1.43x as much.
Exit status: 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_enqueue import fmt_time, timed  # noqa: E402


@dataclass
class Pair:
    title: str
    unit: str
    target: float | None
    ours: list[float] = field(default_factory=list)  # outbox, seconds per unit
    theirs: list[float] = field(default_factory=list)  # on_db_commit

    @property
    def ratio(self) -> float:
        return statistics.median(t / o for t, o in zip(self.theirs, self.ours, strict=True))

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio >= self.target


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def measure(alias: str, args: argparse.Namespace, client: Any) -> tuple[list[Pair], float]:
    from django.contrib.auth.models import Group
    from django.db import transaction
    from rq.queue import Queue

    from benchmarks.enqueue_jobs import add as noop  # the job (never run: only enqueued)
    from django_taskq.models import OutboxJob
    from django_taskq.outbox.cleanup import after_request
    from django_taskq.queues import get_queue
    from django_taskq.transactions import PendingJob

    queues = {mode: get_queue("default", commit_mode=mode) for mode in ("outbox", "on_db_commit")}
    key = queues["outbox"].key
    numbers = iter(range(10**9))

    # Each run ends as a request does: the rows and markers of pushed jobs that still wait for
    # deletion are deleted then (cleanup.after_request), inside the timing.
    def one_job(mode: str, with_row: bool) -> Callable[[], None]:
        def run() -> None:
            queue = queues[mode]
            for _ in range(args.transactions):
                with transaction.atomic(using=alias):
                    if with_row:
                        Group.objects.using(alias).create(name=f"order-{next(numbers)}")
                    queue.enqueue(noop, 1, 2)
            after_request()

        return run

    def batch(mode: str) -> Callable[[], None]:
        def run() -> None:
            with transaction.atomic(using=alias):
                for _ in range(args.batch):
                    queues[mode].enqueue(noop, 1, 2)
            after_request()

        return run

    def many(mode: str) -> Callable[[], None]:
        def run() -> None:
            with transaction.atomic(using=alias):
                queues[mode].enqueue_many([Queue.prepare_data(noop, (1, 2)) for _ in range(args.batch)])
            after_request()

        return run

    def reset() -> None:
        client.flushdb()
        Group.objects.using(alias).all().delete()
        OutboxJob.objects.using(alias).all().delete()

    def check(expected: int) -> None:
        found = client.llen(key)
        if found != expected or OutboxJob.objects.using(alias).exists():
            raise SystemExit(f"{alias}: {found} jobs on the queue, expected {expected}, or rows left")

    pairs = [
        (Pair("1 row + 1 job per transaction", "job", 0.7), lambda m: one_job(m, True), args.transactions),
        (Pair("1 job per transaction (no row)", "job", None), lambda m: one_job(m, False), args.transactions),
        (Pair(f"{args.batch} jobs per transaction", "job", 0.7), batch, args.batch),
        (Pair(f"{args.batch} jobs, one enqueue_many()", "job", 0.7), many, args.batch),
    ]
    for _pair, make, units in pairs:  # warm up both modes (imports, pools, server version)
        for mode in queues:
            reset()
            make(mode)()
            check(units)
    shuffler = random.Random(args.seed)
    for _ in range(args.repeat):
        for pair, make, units in pairs:
            order = list(queues)
            shuffler.shuffle(order)
            for mode in order:
                reset()
                seconds = timed(make(mode)) / units
                check(units)
                (pair.ours if mode == "outbox" else pair.theirs).append(seconds)

    # The relay: a backlog stored as processes that died before their pushes would leave it,
    # one row per job (each enqueue() its own row: the relay's slowest case).
    from django_taskq.outbox import rows
    from django_taskq.outbox.relay import relay_once

    throughput = []
    for _ in range(max(1, args.repeat // 5)):
        reset()
        queue = queues["outbox"]
        with transaction.atomic(using=alias):
            for _job in range(args.backlog):
                pending = PendingJob(queue, queue.create_job(noop, args=(1, 2)))
                pending.job.origin = queue.name
                rows.store([pending], alias)
        start = time.perf_counter()
        pushed = relay_once(min_age=0).pushed
        seconds = time.perf_counter() - start
        if pushed != args.backlog:
            raise SystemExit(f"{alias}: the relay pushed {pushed} of {args.backlog}")
        check(args.backlog)
        throughput.append(args.backlog / seconds)
    reset()
    return [pair for pair, _make, _units in pairs], statistics.median(throughput)


def report(alias: str, vendor: str, pairs: list[Pair], throughput: float, args: argparse.Namespace) -> None:
    print(f"\n{alias} ({vendor}): median of {args.repeat} rounds")
    print(f"{'measurement':<34} {'on_db_commit':>14} {'outbox':>14} {'ratio':>7} {'target':>8}  result")
    for pair in pairs:
        target = f">= {pair.target}x" if pair.target is not None else "-"
        print(
            f"{pair.title:<34} {fmt_time(statistics.median(pair.theirs))}/{pair.unit} "
            f"{fmt_time(statistics.median(pair.ours))}/{pair.unit} {pair.ratio:>6.2f}x {target:>8}  "
            f"{'ok' if pair.met else 'MISSED'}"
        )
    print(f"{'relay, backlog of ' + str(args.backlog):<34} {throughput:>14,.0f} jobs/s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", nargs="+", choices=["sqlite", "pg"], default=["sqlite", "pg"])
    parser.add_argument("--repeat", type=int, default=15, help="rounds per measurement (median reported)")
    parser.add_argument("--transactions", type=int, default=200, help="transactions per round (1 job each)")
    parser.add_argument("--batch", type=int, default=1000, help="jobs in the batched transaction")
    parser.add_argument("--backlog", type=int, default=10_000, help="stored jobs for the relay")
    parser.add_argument("--seed", type=int, default=3)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from django_taskq.embedded import EmbeddedRedis

    wanted = [db for db in args.db if db != "pg" or postgres_reachable()]
    with tempfile.TemporaryDirectory(prefix="taskq-bench-outbox-") as directory:
        server = EmbeddedRedis(Path(directory) / "redis").start()
        try:
            os.environ.update(
                BENCH_REDIS_URL=server.url,
                BENCH_OUTBOX_SQLITE=str(Path(directory) / "bench.sqlite3"),
                BENCH_OUTBOX_PG="1" if "pg" in wanted else "",
                DJANGO_SETTINGS_MODULE="benchmarks.outbox_settings",
            )
            import django
            import redis
            from django.db import connections

            django.setup()
            client = redis.Redis.from_url(server.url)
            met = True
            # Every database first: the relay reads each one that holds the table.
            created = {}
            for alias in wanted:
                creation = connections[alias].creation
                created[alias] = creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            try:
                for alias in wanted:
                    pairs, throughput = measure(alias, args, client)
                    report(alias, connections[alias].vendor, pairs, throughput, args)
                    met = met and all(pair.met for pair in pairs)
            finally:
                for alias, name in created.items():
                    connections[alias].creation.destroy_test_db(name, verbosity=0)
            if "pg" in args.db and "pg" not in wanted:
                print("\npg: skipped, PostgreSQL is not reachable on 127.0.0.1:5432")
        finally:
            server.stop()
    print("\nratio: on_db_commit's time / outbox's time in the same round (1 = the same cost).")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
