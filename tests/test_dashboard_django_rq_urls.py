"""django-rq 4.2's dashboard URLs redirect to our by-name pages; its URL names all resolve."""

from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from rq import Worker

from django_taskq import get_connection
from tests.dashboard_helpers import Jobs, jobs_in_every_state, make_user, rq_queue

pytestmark = pytest.mark.django_db

MOUNTS = {"admin": "/admin/django_taskq/queue/", "include": "/django-rq/"}

# Every URL name of django-rq 4.2's urls.py, with arguments of its shape.
DJANGO_RQ_NAMES: dict[str, list[Any]] = {
    "home": [],
    "home_json": [],
    "metrics": [],
    "jobs": [0],
    "queue_details": [0],
    "finished_jobs": [0],
    "failed_jobs": [0],
    "delete_failed_jobs": [0],
    "scheduled_jobs": [0],
    "started_jobs": [0],
    "deferred_jobs": [0],
    "clear": [0],
    "requeue_all": [0],
    "job_detail": [0, "JOB"],
    "result_detail": [0, "JOB", "1700000000000-0"],
    "delete_job": [0, "JOB"],
    "requeue_job": [0, "JOB"],
    "enqueue_job": [0, "JOB"],
    "stop_job": [0, "JOB"],
    "confirm_action": [0],
    "actions": [0],
    "workers": [0],
    "worker_details": [0, "rq:worker:WORKER"],
    "scheduler_jobs": [0],
    "cron_scheduler_detail": [0, "cron-scheduler-1"],
    "cron_job_detail": [0, "cron-scheduler-1", "reports/nightly"],
}


@pytest.fixture
def jobs() -> Jobs:
    return jobs_in_every_state()


@pytest.fixture(autouse=True)
def unsorted_queues(settings: Any) -> None:
    """RQ_QUEUES in an order that is not sorted: django-rq numbers the sorted names."""
    queues = settings.RQ_QUEUES
    settings.RQ_QUEUES = {name: queues[name] for name in ("sync", "low", "other-db", "high", "default")}


def viewer() -> Client:
    client = Client()
    client.force_login(make_user("viewer"))
    return client


def redirects(jobs: Jobs) -> dict[str, str]:
    """django-rq path (below the mount) -> the path of ours it redirects to."""
    failed = jobs.failed.id
    # sorted(RQ_QUEUES): 0 default, 1 high, 2 low, 3 other-db, 4 sync
    return {
        "queues/0/": "queues/default/",
        "queues/2/details/": "queues/low/",
        "queues/0/finished/": "queues/default/finished/",
        "queues/0/failed/": "queues/default/failed/",
        "queues/0/failed/clear/": "queues/default/failed/",
        "queues/1/scheduled/": "queues/high/scheduled/",
        "queues/3/started/": "queues/other-db/started/",
        "queues/4/deferred/": "queues/sync/deferred/",
        "queues/0/empty/": "queues/default/",
        "queues/0/requeue-all/": "queues/default/failed/",
        f"queues/0/{failed}/": f"queues/default/job/{failed}/",
        f"queues/0/{failed}/results/1700000000000-0/": f"queues/default/job/{failed}/#results",
        f"queues/0/{failed}/delete/": f"queues/default/job/{failed}/",
        f"queues/0/{failed}/requeue/": f"queues/default/job/{failed}/",
        f"queues/0/{failed}/enqueue/": f"queues/default/job/{failed}/",
        "queues/confirm-action/1/": "queues/high/",
        "queues/actions/1/": "queues/high/",
        "workers/0/": "workers/",
        "workers/0/rq:worker:host-1.42/": "workers/host-1.42/",
        "schedulers/0/": "scheduler/",
        "cron-schedulers/0/cron-scheduler-1/": "cron/",
        "cron-schedulers/0/cron-scheduler-1/jobs/reports/nightly/": "cron/",
    }


@pytest.mark.parametrize("mount", MOUNTS)
def test_every_django_rq_page_redirects_to_ours(mount: str, jobs: Jobs) -> None:
    client = viewer()
    base = MOUNTS[mount]
    for old, new in redirects(jobs).items():
        response = client.get(base + old)
        assert (response.status_code, response["Location"]) == (302, base + new), old
    page = client.get(base + "queues/0/failed/", follow=True)
    assert page.status_code == 200 and jobs.failed.id in page.content.decode()


def test_the_index_counts_queues_sorted_by_name_as_django_rq(settings: Any) -> None:
    """Adding a queue moves the indexes after it (why the redirect is a 302, not a 301)."""
    client = viewer()
    assert client.get("/django-rq/queues/1/")["Location"] == "/django-rq/queues/high/"
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "emails": {"URL": settings.RQ_QUEUES["high"]["URL"]}}
    assert client.get("/django-rq/queues/1/")["Location"] == "/django-rq/queues/emails/"


def test_redirects_need_the_pages_login_and_permission(jobs: Jobs) -> None:
    url = "/django-rq/queues/0/failed/"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"] == f"/admin/login/?next={url}"
    staff = Client()
    staff.force_login(make_user("staff"))
    assert staff.get(url).status_code == 403


@pytest.mark.parametrize(
    "path", ["queues/0/empty/", "queues/0/failed/clear/", "queues/actions/0/", "queues/0/JOB/delete/"]
)
def test_django_rq_action_urls_change_nothing(path: str, jobs: Jobs) -> None:
    """A POST to django-rq's action URLs is refused (405): actions are POSTs to our URLs only."""
    manager = Client()
    manager.force_login(make_user("manager"))
    url = "/django-rq/" + path.replace("JOB", jobs.failed.id)
    response = manager.post(url, {"action": "delete", "job_ids": [jobs.failed.id]})
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    queue = rq_queue()
    assert queue.count == 1 and jobs.failed.id in queue.failed_job_registry.get_job_ids(cleanup=False)


def test_stop_is_post_only_in_django_rq_and_stops_nothing_here(jobs: Jobs) -> None:
    manager = Client()
    manager.force_login(make_user("manager"))
    url = f"/django-rq/queues/0/{jobs.queued.id}/stop/"
    assert manager.get(url).status_code == 405
    assert manager.post(url).status_code == 405


def test_a_queue_named_with_digits_keeps_its_page(settings: Any) -> None:
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "7": {"URL": settings.RQ_QUEUES["default"]["URL"]}}
    rq_queue("7").enqueue("tests.testapp.jobs.add", 1, 2)
    client = viewer()
    response = client.get("/django-rq/queues/7/")
    assert response.status_code == 200 and response.context["queue"].name == "7"
    assert client.get("/django-rq/queues/7/failed/").context["state"] == "failed"
    # An index is still an index when no queue has that name: 6 queues, sorted ("7" < "default").
    assert client.get("/django-rq/queues/0/")["Location"] == "/django-rq/queues/7/"


def test_an_index_past_the_queues_is_a_404() -> None:
    client = viewer()
    assert client.get("/django-rq/queues/5/").status_code == 404
    assert client.get("/django-rq/queues/5/failed/").status_code == 404
    assert client.get("/django-rq/workers/5/rq:worker:w/").status_code == 404


def test_a_worker_named_with_digits_keeps_its_page() -> None:
    worker = Worker([rq_queue()], connection=get_connection(), name="3")
    worker.register_birth()
    client = viewer()
    response = client.get("/django-rq/workers/3/")
    assert response.status_code == 200 and response.context["worker"].name == "3"
    assert client.get("/django-rq/workers/2/")["Location"] == "/django-rq/workers/"  # a queue index
    assert client.get("/django-rq/workers/nobody/").status_code == 404


@pytest.mark.parametrize("name", DJANGO_RQ_NAMES)
def test_every_django_rq_url_name_resolves(name: str, jobs: Jobs) -> None:
    """In django_rq: (its include), without namespace (django_rq_<name>, its admin names), and
    in django_taskq: (what a sed of the import makes of django_rq:); each URL answers."""
    args = [jobs.failed.id if arg == "JOB" else arg for arg in DJANGO_RQ_NAMES[name]]
    urls = {
        reverse(f"django_rq:{name}", args=args),
        reverse(f"django_rq_{name}", args=args),
        reverse(f"django_taskq:{name}", args=args),
    }
    assert len(urls) == 1, urls
    [url] = urls
    assert url.startswith("/django-rq/")
    assert reverse(f"admin:django_taskq:{name}", args=args).startswith("/admin/django_taskq/queue/")
    status = viewer().get(url).status_code
    assert status == (405 if name == "stop_job" else 200 if name in ("home", "home_json", "metrics") else 302)


def test_django_rq_names_in_a_template() -> None:
    template = "{% url 'django_rq:failed_jobs' 0 %} {% url 'django_rq_home' %} "
    template += "{% url 'django_rq:job_detail' 1 'a' %}"
    html = Template(template).render(Context())
    assert html == "/django-rq/queues/0/failed/ /django-rq/ /django-rq/queues/1/a/"


def test_our_names_are_unchanged() -> None:
    assert reverse("django_taskq:overview") == "/django-rq/"
    assert reverse("django_taskq:workers") == "/django-rq/workers/"
    assert reverse("django_taskq:metrics") == "/django-rq/metrics"
    assert reverse("django_taskq:stats_json") == "/django-rq/stats.json"
    assert (
        reverse("django_taskq:queue_state", args=["default", "failed"]) == "/django-rq/queues/default/failed/"
    )
    assert viewer().get("/django-rq/").resolver_match.namespace == "django_taskq"
