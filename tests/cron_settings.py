"""Test settings for rqcron subprocesses: RQ_CRON (JSON) and a default queue URL from the environment."""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import RQ_QUEUES as _BASE_QUEUES

RQ_CRON = json.loads(os.environ.get("TASKQ_TEST_CRON", "[]"))
TIME_ZONE = os.environ.get("TASKQ_TEST_TIME_ZONE", "UTC")
RQ_QUEUES = dict(_BASE_QUEUES)
if os.environ.get("TASKQ_TEST_DEFAULT_URL"):
    RQ_QUEUES["default"] = {"URL": os.environ["TASKQ_TEST_DEFAULT_URL"]}
