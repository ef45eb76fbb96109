"""tests.worker_settings with sentry-sdk's RQ integration, OpenTelemetry, and job-aware logs.

sentry-sdk is set up only when TASKQ_TEST_SENTRY_DSN is set (the local envelope receiver of
tests/observability_helpers.py), OpenTelemetry only when TASKQ_TEST_OTEL_FILE is (spans are
exported to that file, one JSON line each); the pytest process never imports this module, so
neither SDK patches anything there.
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

if os.environ.get("TASKQ_TEST_OTEL_FILE"):
    from collections.abc import Sequence

    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class FileSpanExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            with open(os.environ["TASKQ_TEST_OTEL_FILE"], "a") as out:
                out.writelines(f"{span.name}\n" for span in spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(), schedule_delay_millis=60_000))
    trace.set_tracer_provider(provider)

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
