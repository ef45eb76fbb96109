"""Periodic jobs with two schedulers at once: django-taskq's cron vs RQ's own CronScheduler.

    python benchmarks/bench_cron.py [--seconds 10] [--runners 2] [--entries 100]

1. Duplicates: ``--runners`` schedulers run side by side for ``--seconds`` with one entry
   every second; the table shows jobs enqueued per slot (1.00 means exactly once).
2. Lateness: median seconds between a slot and its job's enqueue, for each scheduler.
3. Idle tick: the cost of one look at ``--entries`` entries when nothing is due (django-taskq
   reads every entry's state in one pipelined round trip per connection; RQ keeps it in memory).

The script starts its own redis-server (django_taskq.embedded) and never touches another.
Exit status: 0 when django-taskq enqueued every slot exactly once, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def noop() -> None:
    """The job both schedulers enqueue (never run here)."""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runners", type=int, default=2)
    parser.add_argument("--entries", type=int, default=100)
    args = parser.parse_args()

    from django_taskq.embedded import EmbeddedRedis

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="bench-cron-")).start()
    try:
        return run(server.url, args)
    finally:
        server.stop()


def run(url: str, args: argparse.Namespace) -> int:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django_taskq"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        RQ_QUEUES={"default": {"URL": url}, "rq": {"URL": url}},
        LOGGING_CONFIG=None,
    )
    django.setup()
    logging.getLogger("django_taskq.cron").setLevel(logging.ERROR)  # skipped-slot notices
    import redis
    from rq.cron import CronScheduler
    from rq.job import Job

    from django_taskq.cron import CronEntry, CronRunner

    client = redis.Redis.from_url(url)
    func = "benchmarks.bench_cron.noop"
    job_func = importlib.import_module("benchmarks.bench_cron").noop  # RQ refuses __main__ functions

    # 1 and 2: django-taskq, N runners in threads racing for each slot.
    entry = CronEntry(name="bench", func=func, interval=1)
    runners = [CronRunner([entry], interval=0.05, name=f"taskq-{i}") for i in range(args.runners)]
    threads = [threading.Thread(target=runner.run) for runner in runners]
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    for runner in runners:
        runner.stop()
    for thread in threads:
        thread.join()
    ours = [Job.fetch(raw.decode(), connection=client) for raw in client.lrange("rq:queue:default", 0, -1)]
    our_slots = [job.meta["cron_slot"] for job in ours]
    our_late = [
        (
            job.enqueued_at.replace(tzinfo=timezone.utc) - datetime.fromisoformat(job.meta["cron_slot"])
        ).total_seconds()
        for job in ours
    ]

    # The same with RQ's CronScheduler (its own loop, driven here without signal handlers).
    schedulers = [CronScheduler(client, name=f"rq-{i}", logging_level="WARNING") for i in range(args.runners)]
    for scheduler in schedulers:
        scheduler.register(job_func, queue_name="rq", interval=1)
    stop = threading.Event()

    def drive(scheduler: CronScheduler) -> None:
        while not stop.is_set():
            scheduler.enqueue_jobs()
            stop.wait(min(0.05, max(0.0, scheduler.calculate_sleep_interval())))

    threads = [threading.Thread(target=drive, args=(s,)) for s in schedulers]
    started = time.time()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    theirs = client.llen("rq:queue:rq")
    rq_slots = max(1, round(time.time() - started))

    # 3: idle tick cost with many entries, all already claimed.
    many = [CronEntry(name=f"e{i}", func=func, interval=3600) for i in range(args.entries)]
    runner = CronRunner(many, name="idle")
    runner.tick()
    samples = []
    for _ in range(50):
        begin = time.perf_counter()
        runner.tick()
        samples.append(time.perf_counter() - begin)
    rq_many = CronScheduler(client, name="rq-idle", logging_level="WARNING")
    for _ in range(args.entries):
        rq_many.register(job_func, queue_name="rq", interval=3600)
    rq_many.enqueue_jobs()
    rq_samples = []
    for _ in range(50):
        begin = time.perf_counter()
        rq_many.enqueue_jobs()
        rq_samples.append(time.perf_counter() - begin)

    distinct = len(set(our_slots))
    print(f"{args.runners} schedulers side by side for {args.seconds:g} s, one entry every second")
    print(f"{'':28}{'django-taskq':>14}{'RQ CronScheduler':>18}")
    print(f"{'jobs enqueued':28}{len(ours):>14}{theirs:>18}")
    print(f"{'slots':28}{distinct:>14}{rq_slots:>18}")
    print(f"{'jobs per slot':28}{len(ours) / max(distinct, 1):>14.2f}{theirs / rq_slots:>18.2f}")
    print(f"{'median lateness (ms)':28}{statistics.median(our_late) * 1000:>14.1f}{'n/a':>18}")
    print(f"{f'idle tick, {args.entries} entries (ms)':28}{statistics.median(samples) * 1000:>14.2f}"
          f"{statistics.median(rq_samples) * 1000:>18.2f}")  # fmt: skip
    exactly_once = len(ours) == distinct
    print("django-taskq: every slot exactly once" if exactly_once else "django-taskq: DUPLICATES")
    return 0 if exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
