"""Django settings for benchmarks/bench_enqueue.py: django-taskq and django-rq side by side.

Both apps read the same ``RQ_QUEUES`` setting, so one settings module serves both; the
Redis URL is the private server the benchmark starts (BENCH_REDIS_URL).
"""

from __future__ import annotations

import importlib.util
import os

SECRET_KEY = "benchmark-only"  # noqa: S105
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_taskq"]
if importlib.util.find_spec("django_rq") is not None:
    INSTALLED_APPS.append("django_rq")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {"default": {"URL": _URL}}
LOGGING_CONFIG = None
