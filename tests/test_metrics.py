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

from django_taskq import counters, get_queue
from django_taskq.contrib.prometheus import TaskqCollector, check_prometheus, render
from django_taskq.queues import DjangoQueue
from django_taskq.stats import STATES
from django_taskq.testing import run_jobs
from tests.secure_redis import SECRET, secure_queues, secure_redis_port, unreachable_queues
from tests.testapp.jobs import add, fail

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_urls")]

TOKEN = "metrics-token-0123456789"
REPO = Path(__file__).resolve().parent.parent
urlpatterns: list[Any] = []  # an URLconf that mounts nothing (the W040 test)

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


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


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

    [warning] = check_prometheus()
    assert warning.id == "django_taskq.W040"
    assert "/taskq/metrics" in warning.msg
    assert 'pip install "django-taskq[prometheus]"' in (warning.hint or "")


def test_w040_only_when_needed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_prometheus() == []  # installed
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    settings.ROOT_URLCONF = __name__  # mounts nothing
    assert check_prometheus() == []


def test_w040_for_the_admin_mount(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    settings.ROOT_URLCONF = "tests.api_admin_urls"  # the dashboard in the admin only
    [warning] = check_prometheus()
    assert warning.id == "django_taskq.W040"
    assert "/admin/" in warning.msg


def test_w040_is_a_deploy_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core import checks

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    assert "django_taskq.W040" not in {message.id for message in checks.run_checks()}
    assert "django_taskq.W040" in {
        message.id for message in checks.run_checks(include_deployment_checks=True, tags=["django_taskq"])
    }


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
