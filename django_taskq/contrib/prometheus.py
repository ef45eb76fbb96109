"""Prometheus metrics of the queues (``pip install "django-taskq[prometheus]"``).

:class:`TaskqCollector` reads :func:`django_taskq.stats.gather` and the outcome counters of
:mod:`django_taskq.counters` at scrape time: one pipelined round trip per Redis connection for
the statistics and one for the counters. :func:`render` exposes it from a registry of its
own, so nothing is added to prometheus-client's global registry. A project that already
serves metrics (django-prometheus...) may register the collector there instead::

    from prometheus_client import REGISTRY
    from django_taskq.contrib.prometheus import TaskqCollector

    REGISTRY.register(TaskqCollector())

Metric names (labels ``queue``; ``state`` for the job counts):

====================================  =========  ==============================================
``taskq_jobs``                        gauge      jobs per queue and state (queued, started...)
``taskq_workers``                     gauge      workers listening on the queue
``taskq_oldest_queued_age_seconds``   gauge      age of the job waiting longest (non-empty queues)
``taskq_jobs_finished_total``         counter    jobs finished by our workers
``taskq_jobs_failed_total``           counter    jobs failed in our workers
``taskq_job_working_seconds_total``   counter    seconds our workers spent running jobs
====================================  =========  ==============================================

No label or value ever holds a connection URL, a password or a token.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from django.core.checks import CheckMessage, Warning, register
from django.urls import NoReverseMatch, reverse

from .. import counters
from ..connections import connection_groups
from ..stats import STATES, Stats, gather

INSTALL_HINT = 'Install the "prometheus" extra: pip install "django-taskq[prometheus]".'


def is_available() -> bool:
    """True when prometheus-client can be imported."""
    return importlib.util.find_spec("prometheus_client") is not None


def gather_totals(queue_names: list[str]) -> dict[str, dict[str, float]]:
    """Outcome totals of ``queue_names``, read with one round trip per connection."""
    result: dict[str, dict[str, float]] = {}
    for group in connection_groups(queue_names):
        result.update(counters.totals(group.client, list(group.names)))
    return result


class TaskqCollector:
    """A prometheus-client collector: every ``collect()`` reads Redis afresh."""

    def __init__(self, queue_names: list[str] | None = None) -> None:
        self.queue_names = queue_names  # None: every configured queue, read at scrape time

    def describe(self) -> list[Any]:
        # Registering must not contact Redis (an empty list tells prometheus-client so).
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats: Stats = gather(self.queue_names)
        names = [queue.name for queue in stats.queues]
        totals = gather_totals(names)

        jobs = GaugeMetricFamily("taskq_jobs", "Jobs per queue and state.", labels=["queue", "state"])
        workers = GaugeMetricFamily("taskq_workers", "Workers listening on the queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "taskq_oldest_queued_age_seconds",
            "Seconds the oldest queued job has been waiting (absent for an empty queue).",
            labels=["queue"],
        )
        finished = CounterMetricFamily(
            "taskq_jobs_finished", "Jobs finished by django-taskq workers.", labels=["queue"]
        )
        failed = CounterMetricFamily(
            "taskq_jobs_failed", "Jobs failed in django-taskq workers.", labels=["queue"]
        )
        working = CounterMetricFamily(
            "taskq_job_working_seconds", "Seconds django-taskq workers spent running jobs.", labels=["queue"]
        )
        for queue in stats.queues:
            for state in STATES:
                jobs.add_metric([queue.name, state], getattr(queue, state))
            workers.add_metric([queue.name], queue.workers)
            if queue.oldest_queued_age is not None:
                oldest.add_metric([queue.name], queue.oldest_queued_age)
            total = totals.get(queue.name, {})
            finished.add_metric([queue.name], total.get("finished", 0.0))
            failed.add_metric([queue.name], total.get("failed", 0.0))
            working.add_metric([queue.name], total.get("working_seconds", 0.0))
        yield from (jobs, workers, oldest, finished, failed, working)


def render(accept: str = "") -> tuple[bytes, str]:
    """The exposition body and its content type (OpenMetrics if ``accept`` asks for it).

    Uses a registry of its own per call: prometheus-client's global registry is left alone.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    registry = CollectorRegistry(auto_describe=False)
    registry.register(TaskqCollector())
    encoder, content_type = choose_encoder(accept)
    return encoder(registry), content_type


@register("django_taskq", deploy=True)
def check_prometheus(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W040: the metrics URL is mounted but prometheus-client is missing (it answers 501)."""
    if is_available():
        return []
    url = _mounted_metrics_url()
    if url is None:
        return []
    return [
        Warning(
            f"The metrics URL ({url}) is mounted but prometheus-client is not installed: it answers 501.",
            hint=f"{INSTALL_HINT} Or silence django_taskq.W040 if nothing scrapes it.",
            obj="django_taskq.urls",
            id="django_taskq.W040",
        )
    ]


def _mounted_metrics_url() -> str | None:
    """The metrics URL, mounted on its own or in the default admin site; None if neither."""
    for name in ("django_taskq:metrics", "admin:django_taskq:metrics"):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None
