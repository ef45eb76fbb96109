"""``rqstats --json`` on 50 queues: django-taskq vs django-rq, on one private Redis started here.

    python benchmarks/bench_stats.py [--repeat 15] [--jobs 200]

Data: 50 queues (one Redis connection), each with ``--jobs`` queued jobs and a tenth as many
failed, finished and scheduled ones; 5 workers registered on the first 10 queues. Each side
runs in its own process (its own Django settings, benchmarks/stats_settings.py) against the
same redis-server (django_taskq.embedded), and measures:

1. ``call_command("rqstats", "--json")`` in-process after a warm-up: median time of
   ``--repeat`` calls, Redis round trips per call (sends to Redis: one per command, one per
   pipeline) and commands per call (Redis ``INFO`` total_commands_processed);
2. ``python -m django rqstats --json`` as a whole process (Django start-up included): median
   wall time of ``--repeat`` runs, the two sides alternating.

A ratio is django-rq's number / django-taskq's: above 1 means django-taskq costs less.
Target: fewer round trips and less in-process time than django-rq.
Exit status: 0 when the target is met, 1 otherwise (2 if django-rq is not installed).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUEUES = [f"q{index:02d}" for index in range(50)]
SETTINGS = "benchmarks.stats_settings"


def fill(url: str, jobs: int) -> None:
    """Write the data set with pipelines: real RQ job hashes, queues, registries, workers."""
    import redis
    from rq.job import Job
    from rq.utils import utcformat

    client = redis.Redis.from_url(url)
    template = Job.create(func="shop.jobs.charge", args=(1,), connection=client)
    base = {key: value for key, value in template.to_dict().items() if value not in (None, "")}
    stamp = utcformat(template.created_at)
    now = time.time()
    extra = max(1, jobs // 10)
    for name in QUEUES:
        pipe = client.pipeline(transaction=False)
        queued = [f"{name}-queued-{index}" for index in range(jobs)]
        for job_id in queued:
            pipe.hset(
                f"rq:job:{job_id}", mapping={**base, "origin": name, "status": "queued", "enqueued_at": stamp}
            )
        if queued:
            pipe.rpush(f"rq:queue:{name}", *queued)
        for state, score in (
            ("failed", now + 31_536_000),
            ("finished", now + 500),
            ("scheduled", now + 3600),
        ):
            members = {f"{name}-{state}-{index}": score + index for index in range(extra)}
            for job_id in members:
                pipe.hset(f"rq:job:{job_id}", mapping={**base, "origin": name, "status": state})
            pipe.zadd(f"rq:{state}:{name}", members)
        pipe.sadd("rq:queues", f"rq:queue:{name}")
        pipe.execute()
    pipe = client.pipeline(transaction=False)
    for index in range(5):
        key = f"rq:worker:bench-worker-{index}"
        pipe.hset(key, mapping={"birth": stamp, "last_heartbeat": stamp, "queues": ",".join(QUEUES[:10])})
        pipe.expire(key, 3600)
        pipe.sadd("rq:workers", key)
        for name in QUEUES[:10]:
            pipe.sadd(f"rq:workers:{name}", key)
    pipe.execute()
    client.close()


def measure(repeat: int) -> dict[str, Any]:
    """Runs in the child process of one side: time rqstats --json in-process, count round trips."""
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from benchmarks.roundtrips import count_round_trips

    sends = count_round_trips()

    def run() -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # django-rq writes with click.echo
            call_command("rqstats", "--json", stdout=out)
        return out.getvalue()

    document = json.loads(run())  # warm-up: imports, connection pool, script cache
    observer = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
    before_commands = int(observer.info("stats")["total_commands_processed"])
    before_sends = sends[0]
    run()
    trips = sends[0] - before_sends
    # Two commands of our own: the INFO before (counted once it ran) and the INFO after.
    commands = int(observer.info("stats")["total_commands_processed"]) - before_commands - 1
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "ms": statistics.median(samples),
        "round_trips": trips,
        "commands": commands,
        "queues": len(document["queues"]),
    }


def child(repeat: int) -> None:
    print(json.dumps(measure(repeat)))


def run_child(side: str, url: str, repeat: int) -> dict[str, Any]:
    env = _env(side, url)
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--repeat", str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def whole_process(side: str, url: str) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "django", "rqstats", "--json"],
        env=_env(side, url),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=ROOT,
    )
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"{side} rqstats failed:\n{result.stderr}")
    return elapsed


def _env(side: str, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_SIDE": side,
        "BENCH_REDIS_URL": url,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "PYTHONPATH": str(ROOT),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=200, help="queued jobs per queue")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeat)
        return 0
    if importlib.util.find_spec("django_rq") is None:
        print("django-rq is not installed: pip install django-rq")
        return 2

    from django_taskq.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-stats-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            url = server.url
            fill(url, args.jobs)
            ours = run_child("taskq", url, args.repeat)
            theirs = run_child("djangorq", url, args.repeat)
            walls: dict[str, list[float]] = {"taskq": [], "djangorq": []}
            for _ in range(max(3, args.repeat // 3)):
                for side in ("taskq", "djangorq"):
                    walls[side].append(whole_process(side, url))
        finally:
            server.stop()

    wall = {side: statistics.median(values) for side, values in walls.items()}
    print(f"rqstats --json, {len(QUEUES)} queues on one Redis, {args.jobs} queued jobs per queue\n")
    print(f"{'':<34}{'django-taskq':>14}{'django-rq':>12}{'ratio':>9}")
    rows = [
        ("in-process time per call (ms)", ours["ms"], theirs["ms"]),
        ("Redis round trips per call", ours["round_trips"], theirs["round_trips"]),
        ("Redis commands per call", ours["commands"], theirs["commands"]),
        ("whole process wall time (ms)", wall["taskq"], wall["djangorq"]),
    ]
    for label, a, b in rows:
        ratio = b / a if a else float("inf")
        print(f"{label:<34}{a:>14.1f}{b:>12.1f}{ratio:>8.1f}x")
    met = ours["round_trips"] < theirs["round_trips"] and ours["ms"] < theirs["ms"]
    print(f"\ntarget (fewer round trips and less time than django-rq): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
