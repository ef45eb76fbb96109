"""metrics: Prometheus exposition of the queues, its values, its absence, and no secrets in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from django_taskq import counters, get_connection, get_queue
from django_taskq.connections import connection_groups
from django_taskq.contrib.prometheus import TaskqCollector, render
from django_taskq.queues import DjangoQueue
from django_taskq.stats import STATES
from django_taskq.testing import run_jobs
from tests.dashboard_helpers import jobs_in_every_state, rq_queue
from tests.secure_redis import SECRET, secure_queues, secure_redis_port, unreachable_queues
from tests.testapp.jobs import add, fail

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_urls")]

TOKEN = "metrics-token-0123456789"
REPO = Path(__file__).resolve().parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def queue(name: str) -> DjangoQueue:
    return get_queue(name, commit_mode="auto")  # the tests run inside a transaction


def scrape(settings: Any, accept: str = "") -> tuple[str, Samples, set[str]]:
    """GET metrics with the token: (body, samples by name and labels, family names)."""
    settings.RQ_API_TOKEN = TOKEN
    extra = {"HTTP_ACCEPT": accept} if accept else {}
    response = Client().get(reverse("django_taskq:metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content
    body = response.content.decode()
    samples: Samples = {}
    families = set()
    for family in text_string_to_metric_families(body):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return body, samples, families


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    return samples[(metric, frozenset(labels.items()))]


def test_families_and_content_type(settings: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    response = Client().get(reverse("django_taskq:metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response["Content-Type"].startswith("text/plain; version=")
    _, samples, families = scrape(settings)
    assert families == {
        "taskq_jobs",
        "taskq_workers",
        "taskq_oldest_queued_age_seconds",
        "taskq_jobs_finished",
        "taskq_jobs_failed",
        "taskq_job_working_seconds",
        # django-rq's names (django_rq.contrib.prometheus.RQCollector)
        "rq_jobs",
        "rq_workers",
        "rq_job_successful",
        "rq_job_failed",
        "rq_working_seconds",
    }
    # Every configured queue and state is present, at zero on an empty server.
    for name in settings.RQ_QUEUES:
        for state in STATES:
            assert value(samples, "taskq_jobs", queue=name, state=state) == 0
        assert value(samples, "taskq_workers", queue=name) == 0
        assert value(samples, "taskq_jobs_finished_total", queue=name) == 0
        assert value(samples, "taskq_jobs_failed_total", queue=name) == 0
        assert value(samples, "taskq_job_working_seconds_total", queue=name) == 0
    assert not [key for key in samples if key[0] == "taskq_oldest_queued_age_seconds"]
    # django-rq's six statuses per queue (it has no "canceled"), and no worker yet.
    assert {(name, labels) for name, labels in samples if name == "rq_jobs"} == {
        ("rq_jobs", frozenset({("queue", queue_name), ("status", status)}))
        for queue_name in settings.RQ_QUEUES
        for status in ("queued", "started", "finished", "failed", "deferred", "scheduled")
    }
    assert not [key for key in samples if key[0].startswith(("rq_workers", "rq_job_", "rq_working_"))]


def test_values_after_running_jobs(settings: Any, redis_client: redis.Redis) -> None:
    default = queue("default")
    for number in range(3):
        default.enqueue(add, number, 1)
    default.enqueue(fail, "on purpose")
    default.enqueue(fail, "again")
    queue("high").enqueue(add, 1, 1)
    queue("other-db").enqueue(add, 2, 2)
    queue("other-db").enqueue(add, 2, 3)
    queue("low").enqueue_in(timedelta(hours=1), add, 3, 3)

    report = run_jobs("default")
    assert (len(report.finished), len(report.failed)) == (3, 2)
    totals = counters.totals(redis_client, ["default"])["default"]
    if totals["finished"] == 0:
        # Only for a tree where the worker does not count outcomes yet: count what it ran.
        for job in report.ran:
            outcome: counters.Outcome = "finished" if job in report.finished else "failed"
            counters.record(redis_client, "default", outcome, (job.ended_at - job.started_at).total_seconds())
        totals = counters.totals(redis_client, ["default"])["default"]
    assert (totals["finished"], totals["failed"]) == (3, 2)

    _, samples, _ = scrape(settings)

    expected_jobs = {
        ("default", "finished"): 3,
        ("default", "failed"): 2,
        ("high", "queued"): 1,
        ("other-db", "queued"): 2,
        ("low", "scheduled"): 1,
    }
    for name in settings.RQ_QUEUES:
        for state in STATES:
            expected = expected_jobs.get((name, state), 0)
            assert value(samples, "taskq_jobs", queue=name, state=state) == expected
    assert value(samples, "taskq_jobs_finished_total", queue="default") == 3
    assert value(samples, "taskq_jobs_failed_total", queue="default") == 2
    working = value(samples, "taskq_job_working_seconds_total", queue="default")
    assert working == pytest.approx(totals["working_seconds"])
    assert working > 0
    for name in ("high", "low", "other-db"):
        assert value(samples, "taskq_jobs_finished_total", queue=name) == 0
    assert value(samples, "taskq_oldest_queued_age_seconds", queue="high") >= 0
    assert value(samples, "taskq_oldest_queued_age_seconds", queue="other-db") >= 0
    assert ("taskq_oldest_queued_age_seconds", frozenset({("queue", "default")})) not in samples


def test_explicit_counter_values(settings: Any, redis_client: redis.Redis) -> None:
    """The counters come from counters.totals, per queue and connection (other-db is db 1)."""
    for duration in (0.25, 0.5, 1.25):
        counters.record(redis_client, "high", "finished", duration)
    counters.record(redis_client, "high", "failed", 4.0)
    other = redis.Redis.from_url(settings.RQ_QUEUES["other-db"]["URL"])
    counters.record(other, "other-db", "failed", 0.125)

    _, samples, _ = scrape(settings)

    assert value(samples, "taskq_jobs_finished_total", queue="high") == 3
    assert value(samples, "taskq_jobs_failed_total", queue="high") == 1
    assert value(samples, "taskq_job_working_seconds_total", queue="high") == 6.0
    assert value(samples, "taskq_jobs_failed_total", queue="other-db") == 1
    assert value(samples, "taskq_job_working_seconds_total", queue="other-db") == 0.125
    assert value(samples, "taskq_jobs_finished_total", queue="default") == 0


def django_rq_samples(queue_names: list[str]) -> Samples:
    """The rq_* samples django-rq 4.2's collector reports, computed with RQ's public API:
    every live worker of each connection once, the job counts of every queue."""
    expected: Samples = {}
    for group in connection_groups():
        for worker in Worker.all(connection=group.client):
            queues = ",".join(worker.queue_names())
            labels = {("name", worker.name), ("queues", queues)}
            expected[("rq_workers", frozenset({*labels, ("state", worker.get_state())}))] = 1
            expected[("rq_job_successful_total", frozenset(labels))] = worker.successful_job_count
            expected[("rq_job_failed_total", frozenset(labels))] = worker.failed_job_count
            expected[("rq_working_seconds_total", frozenset(labels))] = worker.total_working_time
    for name in queue_names:
        plain = rq_queue(name)  # RQ's own queue object
        counts = {
            "queued": plain.count,
            "started": plain.started_job_registry.count,
            "finished": plain.finished_job_registry.count,
            "failed": plain.failed_job_registry.count,
            "deferred": plain.deferred_job_registry.count,
            "scheduled": plain.scheduled_job_registry.count,
        }
        for status, count in counts.items():
            expected[("rq_jobs", frozenset({("queue", name), ("status", status)}))] = count
    return expected


def live_worker(name: str, queue_names: list[str], successful: int, failed: int, seconds: float) -> None:
    """A worker registered as RQ's own workers do, with RQ's per-worker counters."""
    connection = get_connection(queue_names[0])
    worker = Worker([rq_queue(q) for q in queue_names], connection=connection, name=name)
    worker.register_birth()
    worker.set_state("busy")
    for _ in range(successful):
        worker.increment_successful_job_count()
    for _ in range(failed):
        worker.increment_failed_job_count()
    pipe = connection.pipeline()
    worker.increment_total_working_time(timedelta(seconds=seconds), pipe)
    pipe.execute()


def test_django_rq_metrics_have_its_labels_and_meaning(settings: Any) -> None:
    jobs_in_every_state()  # a burst worker ran (and left): finished and failed jobs
    queue("high").enqueue(add, 1, 1)
    queue("low").enqueue_in(timedelta(hours=1), add, 3, 3)
    live_worker("web-1.1", ["high", "low"], successful=3, failed=1, seconds=2.5)
    live_worker("web-1.2", ["default"], successful=0, failed=0, seconds=0)
    live_worker("web-2.1", ["other-db"], successful=7, failed=2, seconds=0.75)

    # An entry past its expiry, which RQ's registry count (and so django-rq) leaves out.
    get_connection().zadd(rq_queue("default").failed_job_registry.key, {"long-gone": 1})

    _, samples, _ = scrape(settings)

    ours = {key: sample for key, sample in samples.items() if key[0].startswith("rq_")}
    assert ours == django_rq_samples(list(settings.RQ_QUEUES))
    assert value(samples, "taskq_jobs", queue="default", state="failed") == 2  # ours: what Redis holds
    worker = frozenset({("name", "web-1.1"), ("queues", "high,low")})
    assert value(samples, "rq_workers", name="web-1.1", state="busy", queues="high,low") == 1
    assert ours[("rq_job_successful_total", worker)] == 3
    assert ours[("rq_job_failed_total", worker)] == 1
    assert ours[("rq_working_seconds_total", worker)] == 2.5
    assert value(samples, "rq_jobs", queue="default", status="failed") == 1
    assert value(samples, "rq_jobs", queue="low", status="scheduled") == 1


def test_a_collector_for_some_queues_reports_their_workers() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    live_worker("web-1.1", ["high", "low"], successful=1, failed=0, seconds=1)
    live_worker("web-2.1", ["other-db"], successful=1, failed=0, seconds=1)
    registry = CollectorRegistry()
    registry.register(TaskqCollector(["low"]))
    body = generate_latest(registry).decode()
    assert 'rq_workers{name="web-1.1",queues="high,low",state="busy"} 1.0' in body
    assert "web-2.1" not in body
    assert 'rq_jobs{queue="low",status="queued"} 0.0' in body and 'queue="high"' not in body


@pytest.mark.parametrize("path", ["/taskq/metrics", "/taskq/metrics/"])
def test_both_spellings_of_the_metrics_path(settings: Any, path: str) -> None:
    """django-rq serves metrics/ (scrape configs were written for it), we also serve metrics."""
    settings.RQ_API_TOKEN = TOKEN
    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert 'rq_jobs{queue="default",status="queued"} 0.0' in response.content.decode()
    assert Client().get(path).status_code == 401


def test_name_filter_keeps_the_named_metrics(settings: Any) -> None:
    """django-rq's ``?name[]=`` filter (prometheus-client's restricted registry)."""
    settings.RQ_API_TOKEN = TOKEN
    live_worker("web-1.1", ["high"], successful=2, failed=0, seconds=1)
    response = Client().get(
        "/taskq/metrics/?name[]=rq_jobs&name[]=rq_job_successful_total",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    families = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert families == {"rq_jobs", "rq_job_successful"}
    assert 'rq_job_successful_total{name="web-1.1",queues="high"} 2.0' in response.content.decode()


@pytest.mark.usefixtures("processes")
def test_workers_of_a_real_worker_process(settings: Any) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "rqworker", "high", "low", "--settings=tests.settings"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            _, samples, _ = scrape(settings)
            if value(samples, "taskq_workers", queue="high") >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert worker.poll() is None, "the worker exited"
        assert value(samples, "taskq_workers", queue="high") == 1
        assert value(samples, "taskq_workers", queue="low") == 1
        assert value(samples, "taskq_workers", queue="default") == 0

        # django-rq's per-worker metrics count what this worker ran.
        for number in range(2):
            queue("high").enqueue(add, number, 1)
        queue("low").enqueue(fail, "on purpose")
        while True:
            _, samples, _ = scrape(settings)
            done = value(samples, "rq_jobs", queue="high", status="finished") == 2
            if (done and value(samples, "rq_jobs", queue="low", status="failed") == 1) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.2)
        workers = [labels for name, labels in samples if name == "rq_workers"]
        assert [dict(labels)["queues"] for labels in workers] == ["high,low"]
        labels = {key: label for key, label in workers[0] if key != "state"}
        assert value(samples, "rq_job_successful_total", **labels) == 2
        assert value(samples, "rq_job_failed_total", **labels) == 1
        assert value(samples, "rq_working_seconds_total", **labels) > 0
        ours = {key: sample for key, sample in samples.items() if key[0].startswith("rq_")}
        assert ours == django_rq_samples(list(settings.RQ_QUEUES))
    finally:
        worker.terminate()
        worker.wait(30)


def test_openmetrics_when_asked(settings: Any) -> None:
    queue("high").enqueue(add, 1, 1)
    settings.RQ_API_TOKEN = TOKEN
    response = Client().get(
        reverse("django_taskq:metrics"),
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    body = response.content.decode()
    assert body.rstrip().endswith("# EOF")
    assert 'taskq_jobs{queue="high",state="queued"} 1.0' in body


def test_no_global_registry_pollution() -> None:
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)
    render()
    render()
    assert set(REGISTRY._names_to_collectors) == before
    assert not any(isinstance(collector, TaskqCollector) for collector in REGISTRY._collector_to_names)


def test_collector_in_a_users_registry() -> None:
    """A project may register the collector in a registry of its own; registering reads nothing."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(TaskqCollector(["high"]))
    queue("high").enqueue(add, 1, 1)
    body = generate_latest(registry).decode()
    assert 'taskq_jobs{queue="high",state="queued"} 1.0' in body
    assert 'queue="default"' not in body


def test_without_prometheus_client(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if it were not installed
    settings.RQ_API_TOKEN = TOKEN
    url = reverse("django_taskq:metrics")
    response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 501
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b'pip install "django-taskq[prometheus]"' in response.content
    assert Client().get(url).status_code == 401  # authentication still comes first
    stats = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert stats.status_code == 200


@pytest.mark.parametrize("urlconf", ["tests.api_urls", "tests.api_admin_urls"])
def test_no_w040_for_the_urls_the_dashboard_mounts(
    settings: Any, monkeypatch: pytest.MonkeyPatch, urlconf: str
) -> None:
    """W040 is retired: the metrics URL comes with every dashboard mount, asked for or not, and
    answers 501 with the install hint (above) to whoever scrapes it."""
    from django.core import checks

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    settings.ROOT_URLCONF = urlconf
    messages = checks.run_checks(include_deployment_checks=True, tags=["django_taskq"])
    assert "django_taskq.W040" not in {message.id for message in messages}


def test_admin_mounted_metrics_take_the_token(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.api_admin_urls"
    settings.RQ_API_TOKEN = TOKEN
    for name in ("admin:django_taskq:metrics", "admin:django_taskq:stats_json"):
        url = reverse(name)
        assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert Client().get(url).status_code == 401


def test_redis_down_is_503_without_secrets(settings: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    settings.RQ_QUEUES = unreachable_queues()
    response = Client().get(reverse("django_taskq:metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert response.content == b"Redis unreachable (ConnectionError).\n"


def test_no_password_or_url_in_metrics(settings: Any, secure_redis_port: int) -> None:
    port = secure_redis_port
    settings.RQ_QUEUES = secure_queues(port, settings.RQ_QUEUES)
    own = redis.Redis(host="127.0.0.1", port=port, password=SECRET)
    own.flushall()  # the password-protected server this suite started
    queue("secure-url").enqueue(add, 1, 2)
    queue("secure-key").enqueue(add, 3, 4)
    secure_url_db = redis.Redis(host="127.0.0.1", port=port, db=2, password=SECRET)
    counters.record(secure_url_db, "secure-url", "finished", 1.0)

    body, samples, _ = scrape(settings)

    assert value(samples, "taskq_jobs", queue="secure-url", state="queued") == 1
    assert value(samples, "taskq_jobs", queue="secure-key", state="queued") == 1
    assert value(samples, "taskq_jobs_finished_total", queue="secure-url") == 1
    assert SECRET not in body
    assert TOKEN not in body
    assert "redis://" not in body and str(port) not in body  # no location at all in the labels
