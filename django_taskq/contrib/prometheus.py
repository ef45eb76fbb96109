"""Prometheus metrics of the queues (``pip install "django-taskq[prometheus]"``).

:class:`TaskqCollector` reads :func:`django_taskq.stats.gather`, the outcome counters of
:mod:`django_taskq.counters` and the live workers at scrape time: a fixed number of pipelined
round trips per Redis connection. :func:`render` exposes it from a registry of its own, so
nothing is added to prometheus-client's global registry. A project that already serves
metrics (django-prometheus...) may register the collector there instead::

    from prometheus_client import REGISTRY
    from django_taskq.contrib.prometheus import TaskqCollector

    REGISTRY.register(TaskqCollector())

Our metrics (labels ``queue``; ``state`` for the job counts):

====================================  =========  ==============================================
``taskq_jobs``                        gauge      jobs per queue and state (queued, started...)
``taskq_workers``                     gauge      workers listening on the queue
``taskq_oldest_queued_age_seconds``   gauge      age of the job waiting longest (non-empty queues)
``taskq_jobs_finished_total``         counter    jobs finished by our workers
``taskq_jobs_failed_total``           counter    jobs failed in our workers
``taskq_job_working_seconds_total``   counter    seconds our workers spent running jobs
====================================  =========  ==============================================

Beside them, django-rq's metrics with its names, labels and meaning, so that dashboards and
alerts written for django-rq keep working:

====================================  =========  ==============================================
``rq_jobs``                           gauge      jobs per ``queue`` and ``status`` (django-rq's
                                                 six statuses: no ``canceled``)
``rq_workers``                        gauge      1 per live worker: ``name``, ``state``,
                                                 ``queues`` (comma-joined)
``rq_job_successful_total``           counter    per worker (``name``, ``queues``): RQ's own
``rq_job_failed_total``                          counts in the worker's hash, which restart
``rq_working_seconds_total``                     from 0 with each worker
====================================  =========  ==============================================

No label or value ever holds a connection URL, a password or a token.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from .. import counters
from ..connections import connection_groups
from ..dashboard.workers import list_workers
from ..stats import STATES, Stats, gather

INSTALL_HINT = 'Install the "prometheus" extra: pip install "django-taskq[prometheus]".'

# django-rq's rq_jobs statuses, in its order (it has no "canceled").
DJANGO_RQ_STATUSES = ("queued", "started", "finished", "failed", "deferred", "scheduled")


def is_available() -> bool:
    """True when prometheus-client can be imported."""
    return importlib.util.find_spec("prometheus_client") is not None


def gather_totals(queue_names: list[str]) -> dict[str, dict[str, float]]:
    """Outcome totals of ``queue_names``, read with one round trip per connection."""
    result: dict[str, dict[str, float]] = {}
    for group in connection_groups(queue_names):
        result.update(counters.totals(group.client, list(group.names)))
    return result


def _families() -> dict[str, Any]:
    """The metric families of one scrape, empty, by name (``describe`` lists the same)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    return {
        "taskq_jobs": GaugeMetricFamily("taskq_jobs", "Jobs per queue and state.", labels=["queue", "state"]),
        "taskq_workers": GaugeMetricFamily(
            "taskq_workers", "Workers listening on the queue.", labels=["queue"]
        ),
        "taskq_oldest_queued_age_seconds": GaugeMetricFamily(
            "taskq_oldest_queued_age_seconds",
            "Seconds the oldest queued job has been waiting (absent for an empty queue).",
            labels=["queue"],
        ),
        "taskq_jobs_finished": CounterMetricFamily(
            "taskq_jobs_finished", "Jobs finished by django-taskq workers.", labels=["queue"]
        ),
        "taskq_jobs_failed": CounterMetricFamily(
            "taskq_jobs_failed", "Jobs failed in django-taskq workers.", labels=["queue"]
        ),
        "taskq_job_working_seconds": CounterMetricFamily(
            "taskq_job_working_seconds", "Seconds django-taskq workers spent running jobs.", labels=["queue"]
        ),
        # django-rq's names and labels (see the module docstring).
        "rq_workers": GaugeMetricFamily(
            "rq_workers",
            "Live RQ workers (always 1), by name, state and queues.",
            labels=["name", "state", "queues"],
        ),
        "rq_job_successful": CounterMetricFamily(
            "rq_job_successful_total", "Jobs the worker finished since it started.", labels=["name", "queues"]
        ),
        "rq_job_failed": CounterMetricFamily(
            "rq_job_failed_total",
            "Jobs that failed in the worker since it started.",
            labels=["name", "queues"],
        ),
        "rq_working_seconds": CounterMetricFamily(
            "rq_working_seconds_total", "Seconds the worker spent running jobs.", labels=["name", "queues"]
        ),
        "rq_jobs": GaugeMetricFamily("rq_jobs", "Jobs per queue and status.", labels=["queue", "status"]),
    }


class TaskqCollector:
    """A prometheus-client collector: every ``collect()`` reads Redis afresh."""

    def __init__(self, queue_names: list[str] | None = None) -> None:
        self.queue_names = queue_names  # None: every configured queue, read at scrape time

    def describe(self) -> list[Any]:
        # The names without their samples: registering never contacts Redis, and a registry
        # knows the names (restricted_registry, ``?name[]=`` filters).
        return list(_families().values())

    def collect(self) -> Iterator[Any]:
        stats: Stats = gather(self.queue_names)
        names = [queue.name for queue in stats.queues]
        totals = gather_totals(names)
        family = _families()
        for queue in stats.queues:
            for state in STATES:
                family["taskq_jobs"].add_metric([queue.name, state], getattr(queue, state))
            for status in DJANGO_RQ_STATUSES:  # counted as RQ's len(registry): no expired entries
                family["rq_jobs"].add_metric([queue.name, status], queue.unexpired(status))
            family["taskq_workers"].add_metric([queue.name], queue.workers)
            if queue.oldest_queued_age is not None:
                family["taskq_oldest_queued_age_seconds"].add_metric([queue.name], queue.oldest_queued_age)
            total = totals.get(queue.name, {})
            family["taskq_jobs_finished"].add_metric([queue.name], total.get("finished", 0.0))
            family["taskq_jobs_failed"].add_metric([queue.name], total.get("failed", 0.0))
            family["taskq_job_working_seconds"].add_metric([queue.name], total.get("working_seconds", 0.0))
        wanted = set(names)
        for worker in list_workers():
            if self.queue_names is not None and not wanted.intersection(worker.queues):
                continue
            queues = ",".join(worker.queues)
            family["rq_workers"].add_metric([worker.name, worker.state, queues], 1)
            family["rq_job_successful"].add_metric([worker.name, queues], worker.successful_job_count)
            family["rq_job_failed"].add_metric([worker.name, queues], worker.failed_job_count)
            family["rq_working_seconds"].add_metric([worker.name, queues], worker.total_working_time)
        yield from family.values()


def render(accept: str = "", names: list[str] | None = None) -> tuple[bytes, str]:
    """The exposition body and its content type (OpenMetrics if ``accept`` asks for it).

    ``names`` keeps only those samples (django-rq's ``?name[]=`` filter). Uses a registry of
    its own per call: prometheus-client's global registry is left alone.
    """
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    registry = CollectorRegistry(auto_describe=False)
    registry.register(TaskqCollector())
    encoder, content_type = choose_encoder(accept)
    if names:
        return encoder(registry.restricted_registry(names)), content_type
    return encoder(registry), content_type
