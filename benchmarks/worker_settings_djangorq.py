"""Django settings for django-rq's worker in benchmarks/bench_worker.py (its own defaults)."""

from __future__ import annotations

import os

SECRET_KEY = "benchmark-only"  # noqa: S105
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_rq"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {"default": {"URL": _URL}, "high": {"URL": _URL}, "low": {"URL": _URL}}
