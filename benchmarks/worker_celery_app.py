"""The Celery app of benchmarks/bench_worker.py: the same no-op job, Redis broker and result backend."""

from __future__ import annotations

import os

from celery import Celery

_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench", broker=_URL, backend=_URL.rsplit("/", 1)[0] + "/1")
app.conf.worker_hijack_root_logger = False


@app.task(name="bench.noop")
def noop() -> None:
    """Does nothing, like benchmarks.worker_jobs.noop."""
