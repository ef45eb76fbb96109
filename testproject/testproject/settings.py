"""The demo project: SQLite, queues high/default/low, the admin and the queue dashboard.

With no REDIS_URL in the environment it starts (or reuses) a private Redis server kept in
testproject/.redis, so the demo needs nothing installed beforehand.
"""

import importlib.util
import os
from pathlib import Path

from django_taskq.embedded import ensure_shared_server

BASE_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_URL") or ensure_shared_server(BASE_DIR / ".redis")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_taskq",
    "demo",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "testproject.urls"
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
WSGI_APPLICATION = "testproject.wsgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
LOGIN_URL = "admin:login"

RQ_QUEUES = {
    "high": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60},
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300},
    "low": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900, "DEFAULT_RESULT_TTL": 3600},
}
RQ = {"COMMIT_MODE": "on_db_commit"}

# Run by `rqworker --with-cron` (make demo) or `manage.py rqcron`: each slot exactly once.
RQ_CRON = [
    {"func": "demo.jobs.heartbeat", "interval": 30, "queue": "low", "result_ttl": 600},
    {"func": "demo.jobs.tidy_up", "cron": "*/5 * * * *", "queue": "low"},
]

# Django's own @task API on the same queues (Django 6, or Django 5.2 with the backport).
HAS_TASKS = importlib.util.find_spec("django.tasks") is not None
if not HAS_TASKS and importlib.util.find_spec("django_tasks") is not None:
    INSTALLED_APPS.insert(INSTALLED_APPS.index("django_taskq"), "django_tasks")
    HAS_TASKS = True
if HAS_TASKS:
    TASKS = {"default": {"BACKEND": "django_taskq.backends.RQBackend"}}
