"""Django settings for benchmarks/bench_outbox.py: a SQLite file and, when reachable,
PostgreSQL (a database of its own, created and dropped by the benchmark); the private Redis
the benchmark starts (BENCH_REDIS_URL)."""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only"  # noqa: S105
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_taskq"]
DATABASES: dict[str, dict[str, object]] = {
    "sqlite": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_OUTBOX_SQLITE", "bench.sqlite3"),
        "TEST": {"NAME": os.environ.get("BENCH_OUTBOX_SQLITE", "bench.sqlite3")},
    },
}
if os.environ.get("BENCH_OUTBOX_PG"):
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "taskq",
        "USER": os.environ.get("TASKQ_PG_USER", "postgres"),
        "HOST": os.environ.get("TASKQ_PG_HOST", "127.0.0.1"),
        "PORT": 5432,
        "TEST": {"NAME": f"taskq_bench_outbox_{os.getpid()}"},
    }
DATABASES["default"] = DATABASES["sqlite"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
RQ_QUEUES = {"default": {"URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")}}
LOGGING_CONFIG = None
