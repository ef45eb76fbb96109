"""The job page: a link to the worker only while it runs, the TTLs that really apply."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from django.test import Client
from rq import SimpleWorker, Worker
from rq.job import Job

from django_taskq import get_connection
from tests.dashboard_helpers import make_user, rq_queue
from tests.testapp.jobs import add, fail

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    client = Client()
    client.force_login(make_user("viewer"))
    return client


def field(html: str, name: str) -> str:
    """The text of the job page's ``name`` field (tags and spacing collapsed)."""
    match = re.search(rf"<dt>{name}</dt><dd>(.*?)</dd>", html, re.DOTALL)
    assert match is not None, name
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def page(client: Client, job: Job) -> str:
    response = client.get(f"/django-rq/queues/default/job/{job.id}/")
    assert response.status_code == 200
    return response.content.decode()


def run_with(worker_name: str) -> None:
    """Run the queued jobs with a worker of that name, which then quits (registers its death)."""
    queue = rq_queue()
    SimpleWorker([queue], connection=queue.connection, name=worker_name).work(burst=True)


def registry_stamp(key: str, job: Job) -> str:
    score = get_connection().zscore(key, job.id)
    assert score is not None
    return datetime.fromtimestamp(score, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_worker_link_only_while_the_worker_lives(client: Client) -> None:
    job = rq_queue().enqueue(add, 1, 2)
    run_with("host-1.worker-7")
    gone = page(client, job)
    assert field(gone, "Worker") == "host-1.worker-7 (no longer running)"
    assert "/django-rq/workers/host-1.worker-7/" not in gone
    assert client.get("/django-rq/workers/host-1.worker-7/").status_code == 404  # what the link was

    worker = Worker([rq_queue()], connection=get_connection(), name="host-1.worker-7")
    worker.register_birth()  # the same name, running again
    live = page(client, job)
    assert 'href="/django-rq/workers/host-1.worker-7/"' in live
    assert field(live, "Worker") == "host-1.worker-7"
    assert client.get("/django-rq/workers/host-1.worker-7/").status_code == 200
    worker.register_death()
    assert 'href="/django-rq/workers/host-1.worker-7/"' not in page(client, job)


def test_no_worker_yet(client: Client) -> None:
    job = rq_queue().enqueue(add, 1, 2)
    assert field(page(client, job), "Worker") == "—"


def test_defaults_are_shown_with_their_value_and_expiry(client: Client) -> None:
    queue = rq_queue()
    failed = queue.enqueue(fail, "no ttl given")
    finished = queue.enqueue(add, 1, 2)
    run_with("w")
    failed_html, finished_html = page(client, failed), page(client, finished)
    failed_until = registry_stamp(queue.failed_job_registry.key, failed)
    finished_until = registry_stamp(queue.finished_job_registry.key, finished)
    assert field(failed_html, "Failure TTL").startswith(
        f"31536000 s (365 d 0 h) (RQ's default), until {failed_until} (in 36"
    )
    assert field(failed_html, "Result TTL") == "500 s (8 min 20 s) (RQ's default)"  # not finished
    assert field(finished_html, "Result TTL").startswith(
        f"500 s (8 min 20 s) (RQ's default), until {finished_until}"
    )
    assert field(finished_html, "Failure TTL") == "31536000 s (365 d 0 h) (RQ's default)"  # not failed


def test_the_jobs_own_ttls(client: Client) -> None:
    queue = rq_queue()
    failed = queue.enqueue(fail, "short", failure_ttl=700, result_ttl=30)
    kept = queue.enqueue(add, 1, 2, result_ttl=-1)
    run_with("w")
    until = registry_stamp(queue.failed_job_registry.key, failed)
    failed_html = page(client, failed)
    assert field(failed_html, "Failure TTL").startswith(f"700 s (11 min 40 s), until {until} (in 11 min")
    assert field(failed_html, "Result TTL") == "30 s"
    assert field(page(client, kept), "Result TTL") == "kept until deleted"
    assert "default" not in field(page(client, kept), "Result TTL")


def test_an_unreadable_job_shows_no_ttl(client: Client) -> None:
    job = rq_queue().enqueue(add, 1, 2)
    get_connection().hdel(job.key, "data")
    html = page(client, job)
    assert field(html, "Result TTL") == field(html, "Failure TTL") == "—"
