"""Settings for django-taskq's own test suite."""

from __future__ import annotations

import os
import socket

from tests.redis_server import test_redis_url

REDIS_URL = test_redis_url()
REDIS_BASE = REDIS_URL.rsplit("/", 1)[0]

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_taskq",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


DATABASES: dict[str, dict[str, object]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "TEST": {"NAME": None}},
}
# The commit-mode tests run on every alias here. CI sets TASKQ_REQUIRE_POSTGRES=1 so that a
# missing PostgreSQL fails the run instead of quietly shrinking it.
if os.environ.get("TASKQ_REQUIRE_POSTGRES") == "1" or _postgres_reachable():
    DATABASES["pg"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "taskq",
        "USER": os.environ.get("TASKQ_PG_USER", "postgres"),
        "HOST": os.environ.get("TASKQ_PG_HOST", "127.0.0.1"),
        "PORT": 5432,
        "TEST": {"NAME": f"test_taskq_{os.getpid()}"},
    }

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "django-redis": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": f"{REDIS_BASE}/3"},
    "builtin-redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{REDIS_BASE}/4",
    },
}

RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60},
    "high": {"URL": REDIS_URL},
    "low": {"URL": REDIS_URL},
    "other-db": {"URL": f"{REDIS_BASE}/1"},
    "sync": {"URL": REDIS_URL, "ASYNC": False},
}
RQ: dict[str, object] = {}

# The Django Tasks framework backend (tests/test_tasks_backend.py). Before Django 6.0 the
# framework comes from the django-tasks backport, an app of its own.
import django  # noqa: E402

if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")
TASKS = {
    "default": {
        "BACKEND": "django_taskq.backends.RQBackend",
        "QUEUES": ["default", "high", "low", "sync"],
        "OPTIONS": {"RESULT_TTL": 3600},
    },
    "retrying": {
        "BACKEND": "django_taskq.backends.RQBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"MAX_RETRIES": 2},
    },
    "banded": {
        "BACKEND": "django_taskq.backends.RQBackend",
        "QUEUES": ["default"],
        "OPTIONS": {"PRIORITY_QUEUES": {"default": [(50, "high"), (-49, "default"), (-100, "low")]}},
    },
}

# A fast hasher: the dashboard tests create users for every role, and the default (PBKDF2) would
# spend most of their time hashing passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
