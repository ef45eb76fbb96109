"""Dashboard page cost: django-taskq vs django-rq on the same Redis data.

    python benchmarks/bench_dashboard.py [--jobs 100000] [--repeat 7]

Data: 50 queues; queue ``q00`` holds ``--jobs`` jobs in each of queued, failed and finished
(written with pipelines), a few workers are registered. Each side runs in its own process
(its own Django settings, benchmarks/dashboard_settings.py) against the same private
redis-server started here (django_taskq.embedded), and renders the same pages through
Django's test client as a logged-in superuser: server time per page (median of
``--repeat``) and Redis round trips per page (sends to Redis: one per command, one per
pipeline). Both sides show 100 jobs per queue page. The two sides run alternately
``--rounds`` times and render their pages interleaved, so that noise from other work on the
machine hits them alike; the table shows medians (and the best render).

Targets: every django-taskq page <= 100 ms and fewer round trips than django-rq's page.
Exit status: 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from base64 import b64encode
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUEUES = [f"q{index:02d}" for index in range(50)]
TARGET_MS = 100.0
PER_PAGE = 100
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/shop/jobs.py", line 42, in charge\n'
    "    gateway.charge(order)\n"
    "ConnectionError: payment gateway timed out\n"
)


def fill(url: str, jobs: int) -> dict[str, str]:
    """Write the data set with pipelines; returns a few job ids the pages will open."""
    import redis
    from rq.job import Job
    from rq.utils import utcformat

    client = redis.Redis.from_url(url)
    template = Job.create(func="shop.jobs.charge", args=(1,), kwargs={"retry": True}, connection=client)
    template.origin = "q00"
    base = {key: value for key, value in template.to_dict().items() if value not in (None, "")}
    now = time.time()
    stamp = utcformat(template.created_at)
    failure = {
        "type": 2,
        "worker_name": "bench-worker-0",
        "exc_string": b64encode(zlib.compress(TRACEBACK.encode())).decode(),
    }
    ids: dict[str, str] = {}
    for state, status in (("queued", "queued"), ("failed", "failed"), ("finished", "finished")):
        batch = 5000
        for start in range(0, jobs, batch):
            pipe = client.pipeline(transaction=False)
            members: dict[str, float] = {}
            list_ids: list[str] = []
            for index in range(start, min(jobs, start + batch)):
                job_id = f"{state}-{index:07d}"
                mapping = {
                    **base,
                    "status": status,
                    "description": f"shop.jobs.charge({index})",
                    "enqueued_at": stamp,
                }
                if state != "queued":
                    mapping.update(started_at=stamp, ended_at=stamp, worker_name="bench-worker-0")
                pipe.hset(f"rq:job:{job_id}", mapping=mapping)
                if state == "queued":
                    list_ids.append(job_id)
                else:
                    members[job_id] = now + (31_536_000 if state == "failed" else 500) + index / 1000
                if state == "failed":
                    pipe.xadd(f"rq:results:{job_id}", failure, maxlen=10)
            if list_ids:
                pipe.rpush("rq:queue:q00", *list_ids)
            if members:
                pipe.zadd(f"rq:{state}:q00", members)
            pipe.execute()
        ids[state] = f"{state}-{jobs // 2:07d}"
    pipe = client.pipeline(transaction=False)
    for name in QUEUES:
        pipe.sadd("rq:queues", f"rq:queue:{name}")
    for index in range(5):
        key = f"rq:worker:bench-worker-{index}"
        pipe.hset(
            key,
            mapping={
                "birth": stamp,
                "last_heartbeat": stamp,
                "queues": ",".join(QUEUES[:10]),
                "pid": 1000 + index,
                "hostname": "bench-host",
                "state": "busy" if index % 2 else "idle",
                "successful_job_count": 1000 * index,
                "failed_job_count": index,
                "total_working_time": 12.5 * index,
                "version": "3.0.0",
                "python_version": sys.version.split()[0],
            },
        )
        pipe.sadd("rq:workers", key)
        for name in QUEUES[:10]:
            pipe.sadd(f"rq:workers:{name}", key)
    pipe.execute()
    return ids


def pages(side: str, ids: dict[str, str], jobs: int) -> dict[str, str]:
    last = -(-jobs // PER_PAGE)
    if side == "taskq":
        return {
            "overview": "/dash/",
            "queue, first page": f"/dash/queues/q00/?per_page={PER_PAGE}",
            "queue, last page": f"/dash/queues/q00/?per_page={PER_PAGE}&page={last}",
            "failed page": f"/dash/queues/q00/failed/?per_page={PER_PAGE}",
            "job detail": f"/dash/queues/q00/job/{ids['failed']}/",
            "workers": "/dash/workers/",
        }
    return {
        "overview": "/dash/",
        "queue, first page": "/dash/queues/0/",
        "queue, last page": f"/dash/queues/0/?page={last}",
        "failed page": "/dash/queues/0/failed/",
        "job detail": f"/dash/queues/0/{ids['failed']}/",
        "workers": "/dash/workers/0/",
    }


def measure(side: str, ids: dict[str, str], jobs: int, repeat: int) -> dict[str, Any]:
    """Runs in the child process of one side: render each page, time it, count round trips."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0, interactive=False)
    client = Client()
    client.force_login(User.objects.create_superuser("bench", "bench@example.com", "pw"))
    from benchmarks.roundtrips import count_round_trips

    sends = count_round_trips()
    urls = pages(side, ids, jobs)
    for url in urls.values():
        response = client.get(url)  # warm-up: templates, scripts, server version
        if response.status_code != 200:
            raise SystemExit(f"{side} {url}: HTTP {response.status_code}")
    samples: dict[str, list[float]] = {label: [] for label in urls}
    trips: dict[str, int] = {}
    for _ in range(repeat):  # pages interleaved, so that a burst of machine noise hits them alike
        for label, url in urls.items():
            sends[0] = 0
            started = time.perf_counter()
            client.get(url)
            samples[label].append((time.perf_counter() - started) * 1000)
            trips[label] = sends[0]
    return {label: {"samples": samples[label], "round_trips": trips[label]} for label in urls}


def child(side: str) -> None:
    ids = json.loads(os.environ["BENCH_IDS"])
    jobs = int(os.environ["BENCH_JOBS"])
    repeat = int(os.environ["BENCH_REPEAT"])
    print(json.dumps(measure(side, ids, jobs, repeat)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per state in queue q00")
    parser.add_argument("--repeat", type=int, default=7, help="renders of each page per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--side", choices=("taskq", "djangorq"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args.side)
        return 0

    from django_taskq.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="taskq-bench-dashboard-") as directory:
        server = EmbeddedRedis(directory).start()
        try:
            started = time.perf_counter()
            ids = fill(server.url, args.jobs)
            print(f"filled 3 x {args.jobs} jobs in {time.perf_counter() - started:.1f} s")
            outputs: dict[str, dict[str, Any]] = {}
            for _round in range(args.rounds):  # the sides alternate, so noise hits both
                for side in ("taskq", "djangorq"):
                    env = {
                        **os.environ,
                        "PYTHONPATH": str(ROOT),
                        "DJANGO_SETTINGS_MODULE": "benchmarks.dashboard_settings",
                        "BENCH_SIDE": side,
                        "BENCH_REDIS_URL": server.url,
                        "BENCH_IDS": json.dumps(ids),
                        "BENCH_JOBS": str(args.jobs),
                        "BENCH_REPEAT": str(args.repeat),
                    }
                    done = subprocess.run(
                        [sys.executable, __file__, "--side", side],
                        env=env,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if done.returncode != 0:
                        print(f"{side} failed:\n{done.stderr[-3000:]}")
                        return 1
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    merged = outputs.setdefault(side, {})
                    for label, values in result.items():
                        entry = merged.setdefault(
                            label, {"samples": [], "round_trips": values["round_trips"]}
                        )
                        entry["samples"].extend(values["samples"])
        finally:
            server.stop()

    ours, theirs = outputs["taskq"], outputs["djangorq"]
    for side in (ours, theirs):
        for entry in side.values():
            entry["ms"] = statistics.median(entry["samples"])
            entry["best"] = min(entry["samples"])
    runs = args.rounds * args.repeat
    print(f"\n50 queues, {args.jobs} jobs in each of queued/failed/finished of q00; {PER_PAGE} jobs a page")
    print(f"server time in ms: median (best) of {runs} renders per page; trips = Redis round trips per page")
    header = (
        f"{'page':<18} {'django-taskq':>16} {'trips':>6}   {'django-rq':>16} {'trips':>6}"
        f" {'time ratio':>10} {'trips ratio':>11}"
    )
    print(header)
    print("-" * len(header))
    met = True
    for label in ours:
        a, b = ours[label], theirs[label]
        ok = a["ms"] <= TARGET_MS and a["round_trips"] < b["round_trips"]
        met &= ok
        print(
            f"{label:<18} {a['ms']:>8.1f} ({a['best']:>5.1f}) {a['round_trips']:>6}"
            f"   {b['ms']:>8.1f} ({b['best']:>5.1f}) {b['round_trips']:>6}"
            f" {b['ms'] / a['ms']:>9.1f}x {b['round_trips'] / max(1, a['round_trips']):>10.0f}x"
            f"{'' if ok else '  <- target missed'}"
        )
    print("ratios: django-rq / django-taskq (above 1: django-taskq is faster, or talks to Redis less)")
    verdict = "met" if met else "MISSED"
    print(f"\ntargets (<= {TARGET_MS:.0f} ms per page, fewer round trips than django-rq): {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
