"""tests.settings plus what worker subprocesses need: exception handlers, the test database name."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, REDIS_URL, RQ_QUEUES

RQ_EXCEPTION_HANDLERS = ["tests.testapp.worker_jobs.record_exception"]
RQ_QUEUES = {**RQ_QUEUES, "low priority": {"URL": REDIS_URL}}  # a name with a space

if "pg" in DATABASES and os.environ.get("TASKQ_WORKER_PG_NAME"):
    DATABASES["pg"] = {**DATABASES["pg"], "NAME": os.environ["TASKQ_WORKER_PG_NAME"]}
