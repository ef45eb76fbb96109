"""Worker throughput on no-op jobs: django-taskq's rqworker vs django-rq's rqworker vs Celery.

    python benchmarks/bench_worker.py [--jobs 2000]

Everything runs against one private redis-server started by this script. Each contender is a
real process started from the command line, timed from start to the last job done (process
start-up included, the same for everyone); the queue is filled before it starts. Ratios are
printed against django-rq's default worker (a fork per job) measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_taskq.embedded import EmbeddedRedis  # noqa: E402


def fill_rq(client: redis.Redis, jobs: int, queue_name: str = "default") -> None:
    from rq import Queue

    from benchmarks.worker_jobs import noop

    queue = Queue(queue_name, connection=client)
    batch = 500
    for start in range(0, jobs, batch):
        with client.pipeline() as pipe:
            queue.enqueue_many(
                [Queue.prepare_data(noop, result_ttl=600) for _ in range(min(batch, jobs - start))],
                pipeline=pipe,
            )
            pipe.execute()


def manage(settings: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "django", *args, f"--settings={settings}"]


def timed_burst(argv: list[str], env: dict[str, str]) -> float:
    begin = time.perf_counter()
    result = subprocess.run(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - begin
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed


def timed_celery(url: str, jobs: int, env: dict[str, str], concurrency: int) -> float:
    from benchmarks.worker_celery_app import noop

    results = redis.Redis.from_url(url.rsplit("/", 1)[0] + "/1")
    with noop.app.connection_for_write() as connection:
        for _ in range(jobs):
            noop.apply_async(connection=connection)
    argv = [sys.executable, "-m", "celery", "-A", "benchmarks.worker_celery_app", "worker", "-P", "prefork",
            "-c", str(concurrency), "--without-heartbeat", "--without-mingle", "--without-gossip",
            "--loglevel", "WARNING"]  # fmt: skip
    begin = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while results.dbsize() < jobs:
            if process.poll() is not None:
                raise RuntimeError(f"celery exited with {process.returncode}")
            time.sleep(0.02)
        return time.perf_counter() - begin
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


DJANGO_RQ = "django-rq rqworker (its default: a fork per job)"
OURS = "django-taskq rqworker (default: prefork)"
CELERY = "Celery worker -P prefork -c 2"
TASKQ = "benchmarks.worker_settings_taskq"
POOL = ("rqworker-pool", "-n", "2", "--burst")
CONTENDERS: dict[str, list[str]] = {
    DJANGO_RQ: manage("benchmarks.worker_settings_djangorq", "rqworker", "--burst"),
    OURS: manage(TASKQ, "rqworker", "--burst"),
    "django-taskq rqworker --worker-class simple": manage(
        TASKQ, "rqworker", "--burst", "--worker-class", "simple"
    ),
    "django-taskq rqworker --logging-level WARNING": manage(
        TASKQ, "rqworker", "--burst", "--logging-level", "WARNING"
    ),
    "django-taskq rqworker-pool -n 2 (prefork)": manage(TASKQ, *POOL),
    "django-taskq rqworker-pool -n 2 --logging-level WARNING": manage(
        TASKQ, *POOL, "--logging-level", "WARNING"
    ),
    "django-taskq rqworker-pool -n 2 --worker-class simple -l WARNING": manage(
        TASKQ, *POOL, "--worker-class", "simple", "--logging-level", "WARNING"
    ),
}
# Optional (slow: a fork per job, like django-rq): --with-fork adds it.
FORK = "django-taskq rqworker --worker-class fork"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="Runs per contender, interleaved; the best counts."
    )
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--with-fork", action="store_true", help=f"Also measure {FORK!r}.")
    options = parser.parse_args()
    jobs = options.jobs

    server = EmbeddedRedis(tempfile.mkdtemp(prefix="taskq-bench-")).start()
    os.environ["BENCH_REDIS_URL"] = server.url
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_REDIS_URL": server.url}
    client = redis.Redis.from_url(server.url)
    timings: dict[str, list[float]] = {}
    try:
        contenders = dict(CONTENDERS)
        if options.with_fork:
            contenders[FORK] = manage(TASKQ, "rqworker", "--burst", "--worker-class", "fork")
        for round_number in range(1, options.rounds + 1):
            for label, argv in contenders.items():
                client.flushall()
                fill_rq(client, jobs)
                elapsed = timed_burst(argv, env)
                left = client.llen("rq:queue:default")
                assert left == 0, f"{label} left {left} jobs"
                timings.setdefault(label, []).append(elapsed)
                print(
                    f"round {round_number} {label:56s} {elapsed:7.2f} s {jobs / elapsed:6.0f} jobs/s",
                    flush=True,
                )
            if not options.skip_celery:
                client.flushall()
                elapsed = timed_celery(server.url, jobs, env, 2)
                timings.setdefault(CELERY, []).append(elapsed)
                print(
                    f"round {round_number} {CELERY:56s} {elapsed:7.2f} s {jobs / elapsed:6.0f} jobs/s",
                    flush=True,
                )
    finally:
        client.close()
        server.stop()

    best = {label: min(values) for label, values in timings.items()}
    print(f"\nBest of {options.rounds} rounds, {jobs} no-op jobs, process start-up included:")
    for label, seconds in best.items():
        ratio = best[DJANGO_RQ] / seconds
        print(f"  {label:56s} {seconds:7.2f} s {jobs / seconds:6.0f} jobs/s {ratio:5.2f}x django-rq")
    print(f"\ndefault rqworker vs django-rq rqworker: {best[DJANGO_RQ] / best[OURS]:.2f}x (target >= 3x)")
    two_core = [
        label
        for label in best
        if label not in (DJANGO_RQ, CELERY, "django-taskq rqworker --worker-class fork")
    ]
    top = min(two_core, key=best.__getitem__)
    print(f"best django-taskq configuration on this machine: {top}")
    if CELERY in best:
        print(f"best configuration vs Celery prefork -c 2: {best[CELERY] / best[top]:.2f}x (target >= 1x)")


if __name__ == "__main__":
    main()
