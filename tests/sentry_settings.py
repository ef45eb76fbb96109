"""tests.worker_settings with sentry-sdk's RQ integration, and job-aware JSON logs.

sentry-sdk is set up only when TASKQ_TEST_SENTRY_DSN is set (the local envelope receiver of
tests/observability_helpers.py); the pytest process never imports this module, so sentry-sdk
never patches RQ there.
"""

from __future__ import annotations

import os

import sentry_sdk
from sentry_sdk.integrations.rq import RqIntegration

from tests.worker_settings import *  # noqa: F403

if os.environ.get("TASKQ_TEST_SENTRY_DSN"):
    sentry_sdk.init(
        dsn=os.environ["TASKQ_TEST_SENTRY_DSN"],
        integrations=[RqIntegration()],
        traces_sample_rate=1.0,
        default_integrations=True,
    )

# The set-up docs/observability.rst shows: every record of a job carries its id, queue and
# function; "json" instead of "text" is the one change for JSON lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"job": {"()": "django_taskq.log.JobContextFilter"}},
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s [%(job_queue)s %(job_id)s %(job_func)s] %(message)s"},
        "json": {"()": "django_taskq.log.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["job"],
            "formatter": os.environ.get("TASKQ_TEST_LOG_FORMAT", "text"),
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
