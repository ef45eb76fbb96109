"""Settings for the outbox's process tests: the web-like process (``tests.outbox_web``), the
relay and the workers share one database and a Redis server that the test stops and restarts.

``TASKQ_TEST_OUTBOX_DB``: ``sqlite:<path of a file>`` or ``pg:<database name>`` (the test's
PostgreSQL test database); ``TASKQ_TEST_OUTBOX_REDIS``: the URL of the test's own server;
``TASKQ_TEST_OUTBOX_MODE``: the COMMIT_MODE (default ``outbox``).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES as _BASE_DATABASES

_kind, _, _name = os.environ["TASKQ_TEST_OUTBOX_DB"].partition(":")
if _kind == "sqlite":
    # IMMEDIATE: several processes write at once (Django's advice for concurrent SQLite writers).
    _options = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _name, "OPTIONS": _options}}
else:
    DATABASES = {"default": {**_BASE_DATABASES["pg"], "NAME": _name, "TEST": {}}}

RQ_QUEUES = {
    "default": {"URL": os.environ["TASKQ_TEST_OUTBOX_REDIS"], "SOCKET_TIMEOUT": 1},
    # A worker of this queue takes none of the jobs: it only relays the outbox.
    "idle": {"URL": os.environ["TASKQ_TEST_OUTBOX_REDIS"], "SOCKET_TIMEOUT": 1},
}
RQ = {"COMMIT_MODE": os.environ.get("TASKQ_TEST_OUTBOX_MODE", "outbox")}
TASKS = {"default": {"BACKEND": "django_taskq.backends.RQBackend", "QUEUES": ["default"]}}
