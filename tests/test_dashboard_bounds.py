"""The dashboard's requests stay within what the URL names: an action touches only the jobs of the
URL's queue in the posted state; page numbers and keys of the wrong type are 4xx, never a 500 or
503; the function filter's Redis cost per request is bounded (``FILTER_WINDOW`` jobs).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.contrib.admin.models import LogEntry
from django.test import Client

from django_taskq import get_connection
from django_taskq.dashboard import operations
from django_taskq.dashboard.jobs import FILTER_WINDOW
from django_taskq.queues import get_queue
from tests.dashboard_helpers import Jobs, jobs_in_every_state, make_user, rq_queue, run_burst
from tests.testapp.jobs import add

pytestmark = pytest.mark.django_db

BASE = "/django-rq/"
STATES = ("queued", "started", "deferred", "finished", "failed", "scheduled", "canceled")


@pytest.fixture
def jobs() -> Jobs:
    return jobs_in_every_state()


def client_for(role: str) -> Client:
    client = Client(raise_request_exception=False)  # a 500 must show as a status, not raise
    user = make_user(role)
    assert user is not None
    client.force_login(user)
    return client


def status_of(job_id: str) -> str | None:
    value = get_connection().hget(f"rq:job:{job_id}", "status")
    return value.decode() if value is not None else None


# --- B: actions act on the URL's queue and the posted state only ----------------------------


def test_enqueue_now_through_another_queues_url_is_refused(jobs: Jobs) -> None:
    client = client_for("manager")
    job_id = jobs.scheduled.id  # a scheduled job of "default"
    one = client.post(f"{BASE}queues/high/job/{job_id}/action/", {"action": "enqueue", "state": "scheduled"})
    assert one.status_code == 404
    selection = client.post(
        f"{BASE}queues/high/action/", {"state": "scheduled", "action": "enqueue", "job_ids": [job_id]}
    )
    assert selection.status_code == 400 and b"another queue" in selection.content
    assert status_of(job_id) == "scheduled"
    assert job_id not in rq_queue("default").job_ids and job_id not in rq_queue("high").job_ids
    assert job_id in get_queue("default").scheduled_job_registry.get_job_ids()
    assert LogEntry.objects.count() == 0
    # Through its own queue's URL it works, and is logged under that queue.
    client.post(f"{BASE}queues/default/job/{job_id}/action/", {"action": "enqueue", "state": "scheduled"})
    assert status_of(job_id) == "queued" and LogEntry.objects.get().object_id == "default"


def test_a_delete_honours_the_posted_state(jobs: Jobs) -> None:
    client = client_for("manager")
    queued = jobs.queued.id
    form = {"state": "failed", "action": "delete", "job_ids": [queued], "confirmed": "yes"}
    response = client.post(f"{BASE}queues/default/action/", form, follow=True)
    assert response.status_code == 200 and "nothing was done" in response.content.decode()
    assert status_of(queued) == "queued" and queued in rq_queue().job_ids
    # A selection mixing both: only the job in the posted state goes.
    form["job_ids"] = [queued, jobs.failed.id]
    mixed = client.post(f"{BASE}queues/default/action/", form, follow=True).content.decode()
    assert (
        "1 job deleted" in mixed and "1 of the selected jobs no longer exist or are no longer failed" in mixed
    )
    assert status_of(jobs.failed.id) is None and status_of(queued) == "queued"
    assert LogEntry.objects.count() == 1 and queued not in LogEntry.objects.get().change_message
    # The job page's form posts the state it showed: a job that moved since is left alone (409).
    moved = client.post(
        f"{BASE}queues/default/job/{jobs.finished.id}/action/",
        {"action": "delete", "state": "failed", "confirmed": "yes"},
    )
    assert moved.status_code == 409 and status_of(jobs.finished.id) == "finished"
    assert LogEntry.objects.count() == 1


def test_the_job_page_form_posts_the_state_it_shows(jobs: Jobs) -> None:
    html = client_for("manager").get(f"{BASE}queues/default/job/{jobs.failed.id}/").content.decode()
    assert '<input type="hidden" name="state" value="failed">' in html


def test_stop_applies_to_started_jobs_only(jobs: Jobs) -> None:
    client_redis = get_connection()
    finished = jobs.finished.id
    worker = client_redis.hget(f"rq:job:{finished}", "worker_name")
    assert worker, "a finished job keeps the name of the worker that ran it"
    pubsub = client_redis.pubsub()
    pubsub.psubscribe("rq:pubsub:*")
    assert pubsub.get_message(timeout=1)["type"] == "psubscribe"  # type: ignore[index]
    outcome = operations.stop_jobs(get_queue("default"), [finished])
    assert (outcome.done, outcome.skipped) == (0, 1)
    response = client_for("manager").post(
        f"{BASE}queues/default/action/",
        {"state": "started", "action": "stop", "job_ids": [finished], "confirmed": "yes"},
    )
    assert response.status_code == 302 and LogEntry.objects.count() == 0
    assert pubsub.get_message(timeout=0.2) is None, "a stop command was sent for a job that is not running"
    pubsub.close()


# --- C: page numbers and keys of the wrong type ---------------------------------------------


@pytest.mark.parametrize("state", STATES)
def test_pages_past_the_end_or_malformed_are_4xx(jobs: Jobs, state: str) -> None:
    client = client_for("viewer")
    for query, expected in (
        ({"page": str(10**18)}, 404),
        ({"page": str(10**18), "function": "tests."}, 404),
        ({"page": "999"}, 404),
        ({"page": "999", "order": "oldest"}, 404),
        ({"page": "-3"}, 400),
        ({"page": "0"}, 400),
        ({"page": "two"}, 400),
        ({"page": "9" * 5000}, 400),
        ({"function": "tests.", "scan": str(10**18)}, 404),
        ({"function": "tests.", "scan": "-1"}, 400),
        ({"page": "1"}, 200),
    ):
        response = client.get(f"{BASE}queues/default/{state}/", query)
        assert response.status_code == expected, (state, query, response.status_code)


def test_a_job_key_of_another_type_is_404() -> None:
    get_connection().rpush("rq:job:not-a-hash", "x")
    get_connection().sadd("rq:job:a-set", "x")
    client = client_for("manager")
    for job_id in ("not-a-hash", "a-set"):
        assert client.get(f"{BASE}queues/default/job/{job_id}/").status_code == 404
        action = client.post(
            f"{BASE}queues/default/job/{job_id}/action/", {"action": "delete", "confirmed": "yes"}
        )
        assert action.status_code == 404
    selection = client.post(
        f"{BASE}queues/default/action/",
        {"state": "queued", "action": "delete", "job_ids": ["not-a-hash"], "confirmed": "yes"},
        follow=True,
    )
    assert selection.status_code == 200 and "nothing was done" in selection.content.decode()
    assert get_connection().type("rq:job:not-a-hash") == b"list"


# --- D: the function filter's cost is bounded -----------------------------------------------


def _command_calls(client: redis.Redis[Any], command: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def test_the_function_filter_looks_at_a_bounded_window_and_links_further() -> None:
    queue = rq_queue()
    needle = queue.enqueue(add, 1, 1)  # the oldest job: the only one of "tests.testapp.jobs.add"
    connection = get_connection()
    total = FILTER_WINDOW * 2 + 500
    pipe = connection.pipeline(transaction=False)
    for index in range(total):  # newer jobs of another function, written directly (fast)
        job_id = f"filler-{index}"
        pipe.hset(
            f"rq:job:{job_id}",
            mapping={"description": "other.task()", "status": "queued", "origin": "default"},
        )
        pipe.rpush("rq:queue:default", job_id)
    pipe.execute()
    client = client_for("viewer")
    before = _command_calls(connection, "hget")
    first = client.get(f"{BASE}queues/default/", {"function": "tests.testapp.jobs.add"})
    looked_at = _command_calls(connection, "hget") - before
    assert first.status_code == 200
    # The filter's HGETs, plus the one or two of the rest of the page (was 10,000 + those).
    assert looked_at <= FILTER_WINDOW + 5, f"{looked_at} HGETs for one filtered page"
    page = first.context["page_data"]
    assert (page.matched, page.window, page.total) == (0, FILTER_WINDOW, total + 1)
    html = first.content.decode()
    assert f"jobs 1\N{EN DASH}{FILTER_WINDOW} of {total + 1}" in html and "taskq-scan-next" in html
    # Follow the "older" links until the oldest job turns up.
    scan = first.context["next_scan"]
    for _ in range(5):
        response = client.get(f"{BASE}queues/default/?{scan}")
        rows = response.context["page_data"].rows
        if rows:
            break
        scan = response.context["next_scan"]
    assert [row.id for row in rows] == [needle.id]
    assert "taskq-scan-previous" in response.content.decode()
    assert response.context["next_scan"] == ""  # the end of the queue


def test_the_filter_still_finds_jobs_in_registries(jobs: Jobs) -> None:
    run_burst(rq_queue())
    response = client_for("viewer").get(
        f"{BASE}queues/default/finished/", {"function": "tests.testapp.jobs.add"}
    )
    assert response.status_code == 200 and response.context["page_data"].matched >= 1
