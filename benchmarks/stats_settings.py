"""Settings of benchmarks/bench_stats.py: BENCH_SIDE=taskq or djangorq, 50 queues on one Redis."""

from __future__ import annotations

import os

SIDE = os.environ.get("BENCH_SIDE", "taskq")
SECRET_KEY = "benchmark-only"  # noqa: S105
DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_taskq" if SIDE == "taskq" else "django_rq",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {f"q{index:02d}": {"URL": _URL} for index in range(50)}
