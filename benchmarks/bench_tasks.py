"""Enqueue cost of a Django task (RQBackend) vs django-taskq's own enqueue(), same private Redis.

    python benchmarks/bench_tasks.py [--repeat 41] [--calls 250] [--backlog 10000]

Each round times ``--calls`` calls of ``task.enqueue(1, 2)`` (Django Tasks framework, through
django_taskq.backends.RQBackend), of the same task with priorities (``PRIORITIES`` in turn, so
most jobs go between others, see rq_compat.priority) and of ``django_taskq.enqueue(add, 1, 2)``,
interleaved so that machine noise hits all alike; the medians are compared. The ratio is
(enqueue() time) / (task.enqueue() time): 1.0 means the framework adds nothing; the target
is >= 0.9x. Round trips to Redis per call are counted too (all should be 1), and the time the
Redis server spends per call (its script, from INFO commandstats: the cost in Redis, free of
the noise of this process).

Then the cost of one placement behind ``--backlog`` waiting tasks: all of the same priority
(the job goes to the back), and half above, half below (the slowest case: LINSERT walks the
upper half).

The script starts its own redis-server (django_taskq.embedded) and never touches another.
Exit status: 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.roundtrips import counting_round_trips  # noqa: E402

TARGET = 0.9
PRIORITIES = (0, 10, -10, 50, -50, 0, 100, -100)


def configure(url: str) -> None:
    import django
    from django.conf import settings

    apps = ["django.contrib.contenttypes", "django.contrib.auth", "django_taskq"]
    if django.VERSION < (6, 0):
        apps.append("django_tasks")  # the backport
    settings.configure(
        SECRET_KEY="benchmark-only",  # noqa: S106
        USE_TZ=True,
        INSTALLED_APPS=apps,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        RQ_QUEUES={"default": {"URL": url}},
        TASKS={"default": {"BACKEND": "django_taskq.backends.RQBackend", "QUEUES": ["default"]}},
        LOGGING_CONFIG=None,
    )
    django.setup()


def timed(action: Callable[[], Any], calls: int) -> tuple[float, float]:
    """Wall-clock and this process's CPU seconds per call."""
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(calls):
        action()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu_start) / calls


def run(args: argparse.Namespace, url: str) -> float:
    import redis

    import django_taskq
    from benchmarks.bench_tasks_jobs import add
    from django_taskq.backends.compat import FRAMEWORK, task

    add_task = task(add)
    admin = redis.Redis.from_url(url)
    queue_key = django_taskq.get_queue("default").key
    by_priority = [add_task.using(priority=value) for value in PRIORITIES]
    turn = iter(range(1 << 62))
    variants: dict[str, Callable[[], Any]] = {
        "task.enqueue()": lambda: add_task.enqueue(1, 2),
        "with priorities": lambda: by_priority[next(turn) % len(by_priority)].enqueue(1, 2),
        "django_taskq.enqueue()": lambda: django_taskq.enqueue(add, 1, 2),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    trips: dict[str, float] = {}
    in_redis: dict[str, float] = {}
    for action in variants.values():  # warm up: imports, connection pools, the server version
        for _ in range(50):
            action()
    for name, action in variants.items():  # count round trips, check the jobs arrive
        admin.flushdb()
        server_before = server_usec(admin)
        with counting_round_trips() as count:
            for _ in range(100):
                action()
        trips[name] = count[0] / 100
        in_redis[name] = (server_usec(admin) - server_before) / 100
        if admin.llen(queue_key) != 100:
            raise SystemExit(f"{name}: {admin.llen(queue_key)} jobs reached Redis, expected 100")
    names = list(variants)
    for round_number in range(args.repeat):
        # Alternate which variant goes first, so that neither always follows a flush.
        for name in names if round_number % 2 else reversed(names):
            admin.flushdb()
            wall, cpu_time = timed(variants[name], args.calls)
            samples[name].append(wall)
            cpu[name].append(cpu_time)
    admin.flushdb()

    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["django_taskq.enqueue()"] / medians["task.enqueue()"]
    print(f"Django Tasks framework: {FRAMEWORK}; {args.calls} calls x {args.repeat} rounds (medians)")
    for name, median in medians.items():
        cpu_median = statistics.median(cpu[name])
        print(f"  {name:<24} {median * 1e6:8.1f} us/call ({cpu_median * 1e6:6.1f} us CPU in this process,"
              f" {in_redis[name]:5.1f} us in Redis)  {trips[name]:.1f} round trip(s)/call")  # fmt: skip
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"task.enqueue() vs django_taskq.enqueue(): {ratio:.2f}x (target >= {TARGET}x: {verdict})")
    mixed = medians["django_taskq.enqueue()"] / medians["with priorities"]
    print(f"task.using(priority=...).enqueue() vs django_taskq.enqueue(): {mixed:.2f}x")
    backlog(args, admin, add_task)
    return ratio


def backlog(args: argparse.Namespace, admin: Any, add_task: Any) -> None:
    """Microseconds for one placement behind ``args.backlog`` waiting tasks (median of 25)."""
    cases = {"same priority": [0] * args.backlog, "half above, half below": [10, -10]}
    print(f"One placement (priority 0) behind {args.backlog} waiting tasks:")
    for name, values in cases.items():
        admin.flushdb()
        if len(values) == 2:
            values = [values[0]] * (args.backlog // 2) + [values[1]] * (args.backlog // 2)
        for value in values:
            add_task.using(priority=value).enqueue(1, 2)
        samples = []
        server_before = server_usec(admin)
        for _ in range(25):
            start = time.perf_counter()
            add_task.enqueue(1, 2)
            samples.append(time.perf_counter() - start)
        server = (server_usec(admin) - server_before) / 25
        print(f"  {name:<24} {statistics.median(samples) * 1e6:8.1f} us/call ({server:7.1f} us in Redis)")
    admin.flushdb()


def server_usec(admin: Any) -> float:
    """Microseconds the Redis server has spent in scripts so far (INFO commandstats). Every
    variant writes a job with one script call; a script's time includes the commands it calls,
    which commandstats also counts on their own, so only the scripts are summed."""
    stats = admin.info("commandstats")
    return float(sum(stats.get(f"cmdstat_{name}", {}).get("usec", 0) for name in ("eval", "evalsha")))


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--repeat", type=int, default=41, help="rounds (default 41)")
    parser.add_argument("--calls", type=int, default=250, help="calls per round (default 250)")
    parser.add_argument("--backlog", type=int, default=10000, help="waiting tasks (default 10000)")
    args = parser.parse_args()

    from django_taskq.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="taskq-bench-tasks-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            os.environ.pop("DJANGO_SETTINGS_MODULE", None)
            configure(server.url)
            ratio = run(args, server.url)
        finally:
            server.stop()
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
