"""Enqueue cost: django-taskq vs raw RQ vs django-rq, all on one private Redis started here.

    python benchmarks/bench_enqueue.py [--repeat 31] [--calls 100] [--batch 1000] [--profile]

Three measurements, each repeated ``--repeat`` times. Every round runs every variant once,
in a shuffled order, so that machine load hits them alike; the table shows the median and
best time of each variant and, for each comparison, the median of the per-round ratios
(the result) beside the ratios of the medians and of the bests:

1. ``django_taskq.enqueue()`` per call vs ``rq.Queue.enqueue`` on one reused queue
   (target >= 1.3x: django-taskq writes a job in one round trip, RQ in two);
2. the same call vs ``django_rq.enqueue`` (target >= 5x; skipped if django-rq is missing);
3. ``--batch`` ``@job.delay`` calls inside one ``transaction.atomic()``, written at commit,
   vs RQ's ``enqueue_many`` in one pipeline (target >= 0.9x).

A ratio is (other's time) / (django-taskq's time): above 1 means django-taskq is faster.
The script starts its own redis-server (django_taskq.embedded) and never touches another.
Exit status: 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
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

from benchmarks.roundtrips import counting_round_trips  # noqa: E402


@dataclass
class Measure:
    """Seconds per unit (one call, or one batch) of each round."""

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    round_trips: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)


@dataclass
class Comparison:
    title: str
    ours: Measure
    theirs: Measure
    target: float

    @property
    def ratio(self) -> float:
        """Median of the per-round ratios: both sides of a round ran under the same load."""
        return statistics.median(t / o for t, o in zip(self.theirs.samples, self.ours.samples, strict=True))

    @property
    def ratio_of_medians(self) -> float:
        return self.theirs.median / self.ours.median

    @property
    def ratio_of_bests(self) -> float:
        return self.theirs.best / self.ours.best

    @property
    def met(self) -> bool:
        return self.ratio >= self.target


def round_trips_per_unit(action: Callable[[], Any], units: int) -> float:
    with counting_round_trips() as count:
        action()
    return count[0] / units


def per_call(func: Callable[[], Any], calls: int) -> Callable[[], Any]:
    def run() -> None:
        for _ in range(calls):
            func()

    return run


def timed(action: Callable[[], Any]) -> float:
    """Wall time of ``action``, with the garbage collector off as ``timeit`` does: otherwise
    the garbage of one variant (django-rq leaves a client and a socket per call) is collected
    while the next one is timed."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    finally:
        gc.enable()


def run(args: argparse.Namespace, url: str) -> list[Comparison]:
    import redis
    from django.db import transaction
    from rq import Queue

    import django_taskq
    from benchmarks.enqueue_jobs import add, add_later

    try:
        import django_rq
    except ImportError:
        django_rq = None

    admin = redis.Redis.from_url(url)
    raw_queue = Queue("default", connection=redis.Redis.from_url(url))  # one reused queue
    ours_queue = django_taskq.get_queue("default")

    calls, slow_calls, batch = args.calls, max(args.calls // 4, 25), args.batch

    def ours_call() -> None:
        django_taskq.enqueue(add, 1, 2)

    def raw_call() -> None:
        raw_queue.enqueue(add, 1, 2)

    def djrq_call() -> None:
        django_rq.enqueue(add, 1, 2)

    def ours_batch() -> None:
        with transaction.atomic():
            for i in range(batch):
                add_later.delay(i, i)

    def raw_batch() -> None:
        raw_queue.enqueue_many([Queue.prepare_data(add, (i, i)) for i in range(batch)])

    # name -> (action, units per action: calls or 1 batch)
    variants: dict[str, tuple[Callable[[], Any], int]] = {
        "ours_call": (per_call(ours_call, calls), calls),
        "raw_call": (per_call(raw_call, calls), calls),
        "ours_batch": (ours_batch, 1),
        "raw_batch": (raw_batch, 1),
    }
    expected_jobs = {"ours_call": calls, "raw_call": calls, "ours_batch": batch, "raw_batch": batch}
    if django_rq is not None:
        variants["djrq_call"] = (per_call(djrq_call, slow_calls), slow_calls)
        expected_jobs["djrq_call"] = slow_calls

    measures = {
        "ours_call": Measure("django_taskq.enqueue()", "call"),
        "raw_call": Measure("rq Queue.enqueue() (reused queue)", "call"),
        "djrq_call": Measure("django_rq.enqueue()", "call"),
        "ours_batch": Measure(f"{batch} x @job.delay() in atomic()", "batch"),
        "raw_batch": Measure(f"rq enqueue_many({batch})", "batch"),
    }

    # Warm up every path (imports, pools, the server version), then count round trips once.
    for action, _units in variants.values():
        admin.flushdb()
        action()
    for name, (action, _units) in variants.items():
        admin.flushdb()
        jobs = expected_jobs[name]
        measures[name].round_trips = round_trips_per_unit(action, jobs)
        written = admin.llen(ours_queue.key)
        if written != jobs:
            raise SystemExit(f"{name}: {written} jobs reached Redis, expected {jobs}")

    order = list(variants)
    shuffler = random.Random(args.seed)
    for _ in range(args.repeat):
        shuffler.shuffle(order)  # no variant always runs first (or right after another)
        for name in order:
            action, units = variants[name]
            admin.flushdb()
            measures[name].samples.append(timed(action) / units)
            written = admin.llen(ours_queue.key)
            if written != expected_jobs[name]:
                raise SystemExit(f"{name}: {written} jobs reached Redis, expected {expected_jobs[name]}")
        if args.verbose:
            print(
                "round",
                " ".join(f"{name}={fmt_time(measures[name].samples[-1]).strip()}" for name in variants),
            )
    admin.flushdb()

    comparisons = [
        Comparison("enqueue() vs raw RQ", measures["ours_call"], measures["raw_call"], 1.3),
    ]
    if django_rq is not None:
        comparisons.append(
            Comparison("enqueue() vs django-rq", measures["ours_call"], measures["djrq_call"], 5.0)
        )
    comparisons.append(
        Comparison("commit batch vs enqueue_many", measures["ours_batch"], measures["raw_batch"], 0.9)
    )
    report(comparisons, args, missing_django_rq=django_rq is None)

    if args.profile:
        profiled = {"ours_call": "django_taskq.enqueue() per call", "raw_call": "rq Queue.enqueue() per call",
                    "ours_batch": "@job.delay() batch flushed at commit"}  # fmt: skip
        for name, title in profiled.items():
            admin.flushdb()
            profile(title, variants[name][0])
        admin.flushdb()
    return comparisons


def fmt_time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.2f} ms"
    return f"{seconds * 1e6:8.1f} us"


def report(comparisons: list[Comparison], args: argparse.Namespace, *, missing_django_rq: bool) -> None:
    import django
    import redis
    import rq

    python = sys.version.split()[0]
    versions = f"Python {python}, Django {django.__version__}, rq {rq.VERSION}, redis-py {redis.__version__}"
    try:
        import django_rq

        versions += f", django-rq {getattr(django_rq, '__version__', '?')}"
    except ImportError:
        pass
    print(f"bench_enqueue: median of {args.repeat} rounds; {versions}")
    print()
    print(f"{'measurement':<40} {'median':>11}       {'best':>11}       {'round trips':>12}")
    seen: set[str] = set()
    for comparison in comparisons:
        for measure in (comparison.ours, comparison.theirs):
            if measure.label in seen:
                continue
            seen.add(measure.label)
            trips = f"{measure.round_trips:.3f}/job" if measure.round_trips is not None else "-"
            print(
                f"{measure.label:<40} {fmt_time(measure.median)}/{measure.unit:<5} "
                f"{fmt_time(measure.best)}/{measure.unit:<5} {trips:>12}"
            )
    print()
    print(f"{'comparison':<32} {'ratio':>7} {'target':>8}  {'result':<7} {'of medians':>10} {'of bests':>9}")
    for comparison in comparisons:
        result = "ok" if comparison.met else "MISSED"
        target = f">= {comparison.target}x"
        print(
            f"{comparison.title:<32} {comparison.ratio:>6.2f}x {target:>8}  {result:<7} "
            f"{comparison.ratio_of_medians:>9.2f}x {comparison.ratio_of_bests:>8.2f}x"
        )
    print("ratio: median over rounds of (other's time / django-taskq's time) in the same round;")
    print("above 1 means django-taskq is faster. Columns far apart mean a noisy machine: rerun.")
    if missing_django_rq:
        print("enqueue() vs django-rq          skipped: pip install django-rq to measure it")


def profile(title: str, action: Callable[[], Any]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats("django_taskq", 15)
    print(f"\n--- cProfile: {title} ---")
    print(out.getvalue())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def positive(value: str) -> int:
        number = int(value)
        if number < 1:
            raise argparse.ArgumentTypeError("must be >= 1")
        return number

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=positive, default=31, help="rounds per measurement (median reported)"
    )
    parser.add_argument("--calls", type=positive, default=100, help="enqueue calls per round")
    parser.add_argument("--batch", type=positive, default=1000, help="jobs per transaction / enqueue_many")
    parser.add_argument("--seed", type=int, default=2, help="seed of the per-round order of the variants")
    parser.add_argument("--verbose", action="store_true", help="print the times of every round")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of django-taskq's paths")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from django_taskq.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="taskq-bench-enqueue-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            os.environ["BENCH_REDIS_URL"] = server.url
            os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.enqueue_settings"
            import django

            django.setup()
            comparisons = run(args, server.url)
        finally:
            server.stop()
    return 0 if all(comparison.met for comparison in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
