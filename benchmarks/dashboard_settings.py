"""Settings of benchmarks/bench_dashboard.py: BENCH_SIDE=taskq or djangorq, 50 queues on one Redis."""

from __future__ import annotations

import os

SIDE = os.environ.get("BENCH_SIDE", "taskq")
SECRET_KEY = "benchmark-only"  # noqa: S105
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_taskq" if SIDE == "taskq" else "django_rq",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "benchmarks.dashboard_urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RQ_QUEUES = {f"q{index:02d}": {"URL": _URL} for index in range(50)}
