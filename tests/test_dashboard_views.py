"""The dashboard's pages and actions, for every role, in both mounts (admin and include())."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.test import Client
from django.test.utils import override_settings
from rq.job import JobStatus

from django_taskq import get_connection
from tests.dashboard_helpers import ROLES, Jobs, jobs_in_every_state, make_user, rq_queue, run_burst

pytestmark = pytest.mark.django_db

MOUNTS = {"admin": "/admin/django_taskq/queue/", "include": "/django-rq/"}
STATES = ("queued", "started", "deferred", "finished", "failed", "scheduled", "canceled")


@pytest.fixture
def jobs() -> Jobs:
    return jobs_in_every_state()


def client_for(role: str) -> Client:
    client = Client()
    user = make_user(role)
    if user is not None:
        client.force_login(user)
    return client


def read_paths(jobs: Jobs, worker_name: str) -> list[str]:
    return [
        "",
        "workers/",
        f"workers/{worker_name}/",
        "scheduler/",
        "cron/",
        "queues/default/",
        *(f"queues/default/{state}/" for state in STATES),
        f"queues/default/job/{jobs.failed.id}/",
        f"queues/default/job/{jobs.queued.id}/",
    ]


@pytest.fixture
def worker_name() -> str:
    from rq import Worker

    worker = Worker([rq_queue()], connection=get_connection(), name="dash-worker-1")
    worker.register_birth()
    return "dash-worker-1"


# --- the role matrix -------------------------------------------------------------------------

READ_STATUS = {"anonymous": 302, "non_staff": 302, "staff": 403, "viewer": 200, "manager": 200}
POST_STATUS = {"anonymous": 302, "non_staff": 302, "staff": 403, "viewer": 403, "manager": 302}


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(role: str, mount: str, jobs: Jobs, worker_name: str) -> None:
    client = client_for(role)
    for path in read_paths(jobs, worker_name):
        url = MOUNTS[mount] + path
        response = client.get(url)
        assert response.status_code == READ_STATUS[role], url
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/?next="), url


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("role", ROLES)
def test_every_action_for_every_role(role: str, mount: str, jobs: Jobs) -> None:
    client = client_for(role)
    base = MOUNTS[mount]
    posts: list[tuple[str, dict[str, Any]]] = [
        (f"queues/default/job/{jobs.failed.id}/action/", {"action": "requeue"}),
        (
            "queues/default/action/",
            {"state": "scheduled", "action": "enqueue", "job_ids": [jobs.scheduled.id]},
        ),
        ("queues/default/action/", {"state": "finished", "action": "empty", "confirmed": "yes"}),
    ]
    for path, form in posts:
        response = client.post(base + path, form)
        assert response.status_code == POST_STATUS[role], path
    queue = rq_queue()
    if role == "manager":
        assert jobs.failed.id in queue.job_ids and jobs.scheduled.id in queue.job_ids
        assert queue.finished_job_registry.count == 0
        assert LogEntry.objects.count() == 3
    else:  # nothing changed
        assert queue.job_ids == [jobs.queued.id]
        assert queue.failed_job_registry.get_job_ids(cleanup=False) == [jobs.failed.id]
        assert LogEntry.objects.count() == 0


@pytest.mark.parametrize("role", ["viewer", "manager"])
def test_action_urls_reject_get(role: str, jobs: Jobs) -> None:
    client = client_for(role)
    for url in (
        f"/django-rq/queues/default/job/{jobs.failed.id}/action/",
        "/django-rq/queues/default/action/",
    ):
        response = client.get(url)
        assert response.status_code == (405 if role == "manager" else 403)


def test_viewer_sees_no_action_buttons(jobs: Jobs) -> None:
    viewer, manager = client_for("viewer"), client_for("manager")
    for url in (
        "/django-rq/queues/default/failed/",
        f"/django-rq/queues/default/job/{jobs.failed.id}/",
        "/django-rq/queues/default/scheduled/",
    ):
        seen = viewer.get(url).content.decode()
        assert 'name="action"' not in seen and 'name="job_ids"' not in seen, url
        assert 'name="action"' in manager.get(url).content.decode(), url


def test_superuser_may_do_everything(jobs: Jobs) -> None:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    assert client.get("/django-rq/").status_code == 200
    response = client.post(f"/django-rq/queues/default/job/{jobs.failed.id}/action/", {"action": "requeue"})
    assert response.status_code == 302


# --- admin integration -----------------------------------------------------------------------


def test_admin_index_links_to_the_dashboard() -> None:
    page = client_for("viewer").get("/admin/").content.decode()
    assert 'href="/admin/django_taskq/queue/"' in page
    assert ">Queues<" in page


def test_admin_index_hides_the_link_without_permission_or_when_disabled() -> None:
    assert 'href="/admin/django_taskq/queue/"' not in client_for("staff").get("/admin/").content.decode()
    viewer = client_for("viewer")
    with override_settings(RQ_SHOW_ADMIN_LINK=False):
        assert 'href="/admin/django_taskq/queue/"' not in viewer.get("/admin/").content.decode()
        assert viewer.get("/admin/django_taskq/queue/").status_code == 200  # hidden, still there


def test_pages_use_the_admin_look_and_breadcrumbs(jobs: Jobs) -> None:
    client = client_for("viewer")
    page = client.get(f"/admin/django_taskq/queue/queues/default/job/{jobs.failed.id}/")
    html = page.content.decode()
    assert 'class="breadcrumbs"' in html and 'href="/admin/"' in html
    assert "admin/css/base.css" in html and "django_taskq/dashboard.css" in html
    assert 'id="nav-sidebar"' in html  # each_context(): the admin's sidebar
    # Links stay inside the mount the page was served from.
    assert 'href="/admin/django_taskq/queue/queues/default/"' in html
    include_html = client.get(f"/django-rq/queues/default/job/{jobs.failed.id}/").content.decode()
    assert 'href="/django-rq/queues/default/"' in include_html


def breadcrumbs_of(html: str) -> tuple[str, str]:
    """(element, inner HTML) of a page's breadcrumbs."""
    match = re.search(r'<(ol|div) class="breadcrumbs">(.*?)</\1>', html, re.DOTALL)
    assert match is not None, "no breadcrumbs"
    return match.group(1), match.group(2)


def crumb_text(inner: str) -> str:
    text = re.sub(r"<[^>]+>", " ", inner.replace("&rsaquo;", "/"))
    return " ".join(text.split())


def test_breadcrumbs_use_the_markup_of_the_running_admin(jobs: Jobs, worker_name: str) -> None:
    """The element the installed admin's own base.html uses (Django 6.1: <ol>; 5.2, 6.0: <div>),
    on every page: the admin's CSS styles only that one."""
    from django.template import loader

    admin_base = loader.get_template("admin/base.html").template.source
    expected = "ol" if '<ol class="breadcrumbs">' in admin_base else "div"
    client = client_for("viewer")
    for path in read_paths(jobs, worker_name):
        html = client.get("/django-rq/" + path).content.decode()
        assert breadcrumbs_of(html)[0] == expected, path


@pytest.mark.parametrize("ordered", [False, True])
def test_breadcrumbs_markup_of_each_django(
    monkeypatch: pytest.MonkeyPatch, jobs: Jobs, ordered: bool
) -> None:
    from django_taskq.templatetags import taskq_dashboard

    monkeypatch.setattr(taskq_dashboard, "OL_BREADCRUMBS", ordered)
    html = client_for("viewer").get(f"/django-rq/queues/default/job/{jobs.failed.id}/").content.decode()
    element, inner = breadcrumbs_of(html)
    links = re.findall(r'<a href="([^"]+)">', inner)
    assert links == [
        "/admin/",
        "/django-rq/",
        "/django-rq/queues/default/",
        "/django-rq/queues/default/failed/",
    ]
    if ordered:  # Django 6.1: a list; the admin's CSS draws the separators
        assert element == "ol" and "&rsaquo;" not in inner
        assert inner.count("<li>") == 4 and inner.count('<li aria-current="page">') == 1
        assert crumb_text(inner) == f"Home Queues default Failed {jobs.failed.id}"
    else:  # Django 5.2 and 6.0: links separated by &rsaquo;
        assert element == "div" and "<li" not in inner
        assert crumb_text(inner) == f"Home / Queues / default / Failed / {jobs.failed.id}"


@pytest.mark.urls("tests.testapp.custom_admin")
def test_custom_admin_site() -> None:
    client = client_for("viewer")
    response = client.get("/ops/django_taskq/queue/")
    assert response.status_code == 200
    assert "Operations console" in response.content.decode()  # the custom site's each_context
    assert 'href="/ops/django_taskq/queue/workers/"' in response.content.decode()
    assert Client().get("/ops/django_taskq/queue/")["Location"].startswith("/ops/login/")


def test_log_entry_links_back_to_the_queue(jobs: Jobs) -> None:
    client = client_for("manager")
    client.post(f"/django-rq/queues/default/job/{jobs.failed.id}/action/", {"action": "requeue"})
    entry = LogEntry.objects.get()
    assert entry.get_admin_url() == "/admin/django_taskq/queue/default/change/"
    assert client.get(entry.get_admin_url())["Location"] == "/admin/django_taskq/queue/queues/default/"


# --- pages -----------------------------------------------------------------------------------


def test_overview_counts_every_state(jobs: Jobs) -> None:
    response = client_for("viewer").get("/django-rq/")
    stats = {queue.name: queue for queue in response.context["stats"].queues}
    default = stats["default"]
    assert (default.queued, default.failed, default.finished, default.scheduled) == (1, 1, 1, 1)
    assert (default.deferred, default.canceled, default.started) == (1, 1, 0)
    html = response.content.decode()
    for state in STATES:
        assert f'href="/django-rq/queues/default/{state}/"' in html
    assert "<svg" in html and "Jobs per minute" in html


def test_overview_chart_reads_the_counters() -> None:
    import time

    from django_taskq.counters import record

    client = get_connection()
    now = time.time()
    record(client, "default", "finished", 0.5, now=now)
    record(client, "default", "finished", 0.5, now=now)
    record(client, "high", "failed", 0.5, now=now - 120)
    response = client_for("viewer").get("/django-rq/")
    chart = response.context["chart"]
    assert chart.finished[-1] == 2 and chart.failed[-3] == 1 and sum(chart.failed) == 1
    assert "2 finished, 0 failed" in response.content.decode()


def test_queue_page_pagination_and_order() -> None:
    queue = rq_queue()
    ids = [queue.enqueue(pytest_job_add, index, 0).id for index in range(30)]
    client = client_for("viewer")
    first = client.get("/django-rq/queues/default/?per_page=10&order=oldest")
    assert [row.id for row in first.context["page_data"].rows] == ids[:10]
    assert first.context["last_page"] == 3
    newest = client.get("/django-rq/queues/default/queued/?per_page=10&page=3")
    assert [row.id for row in newest.context["page_data"].rows] == list(reversed(ids[:10]))
    partial = client.get("/django-rq/queues/default/queued/?per_page=25&page=2&order=oldest")
    assert [row.id for row in partial.context["page_data"].rows] == ids[25:]


def pytest_job_add(a: int, b: int) -> int:  # a job function importable by name
    return a + b


def test_failed_page_shows_the_exception(jobs: Jobs) -> None:
    html = client_for("viewer").get("/django-rq/queues/default/failed/").content.decode()
    assert "ValueError: it broke" in html
    assert jobs.failed.id in html


def test_filter_by_function_and_search_by_id(jobs: Jobs) -> None:
    queue = rq_queue()
    queue.enqueue(pytest_job_add, 1, 1)
    client = client_for("viewer")
    response = client.get("/django-rq/queues/default/", {"function": "tests.test_dashboard_views."})
    rows = response.context["page_data"].rows
    assert len(rows) == 1 and rows[0].description.startswith("tests.test_dashboard_views.pytest_job_add")
    found = client.get("/django-rq/queues/default/", {"job": jobs.failed.id})
    assert (
        found.status_code == 302 and found["Location"] == f"/django-rq/queues/default/job/{jobs.failed.id}/"
    )
    missing = client.get("/django-rq/queues/default/", {"job": "no-such-job"}, follow=True)
    assert missing.status_code == 200 and "No job with id" in missing.content.decode()


def test_job_page_shows_everything(jobs: Jobs) -> None:
    queue = rq_queue()
    job = queue.enqueue(pytest_job_add, 40, b=2, meta={"owner": "ops"}, result_ttl=600, failure_ttl=700)
    dependent = queue.enqueue(pytest_job_add, 1, 1, depends_on=job)
    client = client_for("viewer")
    assert (
        dependent.id in client.get(f"/django-rq/queues/default/job/{job.id}/").content.decode()
    )  # dependents
    dep_html = client.get(f"/django-rq/queues/default/job/{dependent.id}/").content.decode()
    assert job.id in dep_html  # dependencies
    run_burst(queue)
    response = client.get(f"/django-rq/queues/default/job/{job.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "tests.test_dashboard_views.pytest_job_add" in html
    assert "(40,)" in html and "{&#x27;b&#x27;: 2}" in html and "&#x27;owner&#x27;: &#x27;ops&#x27;" in html
    assert "600 s" in html and "700 s" in html and "successful" in html and ">42<" in html
    failed_html = client.get(f"/django-rq/queues/default/job/{jobs.failed.id}/").content.decode()
    assert "Traceback" in failed_html and "ValueError: it broke" in failed_html


def test_result_history_keeps_several_runs() -> None:
    queue = rq_queue()
    job = queue.enqueue(pytest_job_add, 1, 2)
    run_burst(queue)
    job.requeue() if job.get_status() == JobStatus.FAILED else queue.enqueue_job(job)
    run_burst(queue)
    detail = client_for("viewer").get(f"/django-rq/queues/default/job/{job.id}/").context["detail"]
    assert [result.kind for result in detail.results] == ["successful", "successful"]


def test_expired_and_unreadable_jobs_are_shown_as_such(jobs: Jobs) -> None:
    connection = get_connection()
    queue = rq_queue()
    connection.zadd(queue.failed_job_registry.key, {"gone-job": 9_999_999_999})
    client = client_for("viewer")
    listing = client.get("/django-rq/queues/default/failed/").content.decode()
    assert "gone-job" in listing and "job data expired" in listing
    gone = client.get("/django-rq/queues/default/job/gone-job/")
    assert gone.status_code == 404 and "does not exist" in gone.content.decode()
    connection.hset(f"rq:job:{jobs.queued.id}", "data", b"\x80not a pickle")
    broken = client.get(f"/django-rq/queues/default/job/{jobs.queued.id}/")
    assert broken.status_code == 200 and "cannot be deserialized" in broken.content.decode()
    connection.hdel(f"rq:job:{jobs.finished.id}", "data")
    unreadable = client.get(f"/django-rq/queues/default/job/{jobs.finished.id}/")
    assert unreadable.status_code == 200 and "cannot be read" in unreadable.content.decode()


def test_workers_pages(worker_name: str) -> None:
    client = client_for("viewer")
    html = client.get("/django-rq/workers/").content.decode()
    assert worker_name in html and f'href="/django-rq/workers/{worker_name}/"' in html
    detail = client.get(f"/django-rq/workers/{worker_name}/")
    assert detail.status_code == 200 and "Working time" in detail.content.decode()
    assert client.get("/django-rq/workers/nobody/").status_code == 404


def test_scheduler_and_cron_pages(jobs: Jobs) -> None:
    connection = get_connection()
    connection.set("rq:scheduler-lock:default", "scheduler-on-host-1")
    client = client_for("viewer")
    html = client.get("/django-rq/scheduler/").content.decode()
    assert "scheduler-on-host-1" in html
    assert client.get("/django-rq/").context["schedulers"]["default"] == "scheduler-on-host-1"
    assert client.get("/django-rq/cron/").status_code == 200


def test_get_never_cleans_registries(jobs: Jobs) -> None:
    connection = get_connection()
    queue = rq_queue()
    connection.zadd(queue.failed_job_registry.key, {jobs.finished.id: 1})  # long expired
    before = connection.zcard(queue.failed_job_registry.key)
    client = client_for("viewer")
    for state in STATES:
        assert client.get(f"/django-rq/queues/default/{state}/").status_code == 200
    assert client.get("/django-rq/").status_code == 200
    assert connection.zcard(queue.failed_job_registry.key) == before == 2


def test_round_trips_do_not_grow_with_the_number_of_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.connection import AbstractConnection

    calls = {"count": 0}
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        calls["count"] += 1
        original(self, *args, **kwargs)

    client = client_for("viewer")
    queue = rq_queue()

    def trips(url: str) -> int:
        client.get(url)  # warm-up (script loading, server version)
        calls["count"] = 0
        with monkeypatch.context() as patch:
            patch.setattr(AbstractConnection, "send_packed_command", counting)
            assert client.get(url).status_code == 200
        return calls["count"]

    def fill(count: int) -> None:
        with queue.connection.pipeline() as pipe:
            for index in range(count):
                queue.enqueue(pytest_job_add, index, 0, pipeline=pipe)
            pipe.execute()

    fill(5)
    small = {url: trips(url) for url in ("/django-rq/", "/django-rq/queues/default/?per_page=100")}
    fill(600)
    large = {url: trips(url) for url in small}
    assert large == small
    assert large["/django-rq/queues/default/?per_page=100"] <= 4


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/django-rq/queues/nope/", 404),
        ("/django-rq/queues/nope/failed/", 404),
        ("/django-rq/queues/default/bogus/", 404),
        ("/django-rq/queues/default/job/no-such-job/", 404),
        ("/django-rq/queues/default/job/bad.id%3Cscript%3E/", 404),
        ("/django-rq/queues/nope/job/abc/", 404),
        ("/django-rq/queues/default/?page=abc", 400),
        ("/django-rq/queues/default/?page=0", 400),
        ("/django-rq/queues/default/?page=-3", 400),
        ("/django-rq/queues/default/?page=99999", 404),
        ("/django-rq/queues/default/?per_page=100000", 400),
        ("/django-rq/queues/default/?order=sideways", 400),
        ("/django-rq/workers/no-such-worker/", 404),
    ],
)
def test_bad_urls(url: str, status: int, jobs: Jobs) -> None:
    assert client_for("manager").get(url).status_code == status


@pytest.mark.parametrize(
    ("path", "form", "status"),
    [
        ("queues/default/action/", {"state": "failed", "action": "explode"}, 400),
        ("queues/default/action/", {"state": "nonsense", "action": "delete"}, 400),
        ("queues/default/action/", {"state": "started", "action": "empty"}, 400),
        ("queues/default/action/", {"state": "failed", "action": "delete", "job_ids": ["a/b"]}, 400),
        (
            "queues/default/action/",
            {"state": "failed", "action": "delete", "job_ids": [f"j{i}" for i in range(101)]},
            400,
        ),
        ("queues/nope/action/", {"state": "failed", "action": "delete"}, 404),
        ("queues/default/job/FAILED/action/", {"action": "explode"}, 400),
        ("queues/default/job/missing-job/action/", {"action": "requeue"}, 404),
        ("queues/default/job/bad.id/action/", {"action": "requeue"}, 404),
    ],
)
def test_bad_actions(path: str, form: dict[str, Any], status: int, jobs: Jobs) -> None:
    path = path.replace("FAILED", jobs.failed.id)
    assert client_for("manager").post("/django-rq/" + path, form).status_code == status


def test_empty_selection_and_missing_jobs_give_a_message(jobs: Jobs) -> None:
    client = client_for("manager")
    empty = client.post(
        "/django-rq/queues/default/action/", {"state": "failed", "action": "requeue"}, follow=True
    )
    assert "No job was selected" in empty.content.decode()
    mixed = client.post(
        "/django-rq/queues/default/action/",
        {"state": "failed", "action": "requeue", "job_ids": [jobs.failed.id, "long-gone-job"]},
        follow=True,
    )
    html = mixed.content.decode()
    assert "1 job requeued" in html and "1 of the selected jobs no longer exist" in html
    wrong_state = client.post(
        f"/django-rq/queues/default/job/{jobs.queued.id}/action/", {"action": "requeue"}, follow=True
    )
    assert "cannot be requeued" in wrong_state.content.decode()


# --- actions ---------------------------------------------------------------------------------


def test_requeue_one_failed_job_is_logged(jobs: Jobs) -> None:
    client = client_for("manager")
    response = client.post(
        f"/django-rq/queues/default/job/{jobs.failed.id}/action/", {"action": "requeue"}, follow=True
    )
    assert "1 job requeued" in response.content.decode()
    queue = rq_queue()
    assert jobs.failed.id in queue.job_ids and jobs.failed.get_status() == JobStatus.QUEUED
    entry = LogEntry.objects.get()
    assert entry.user.username == "manager" and entry.action_flag == CHANGE and entry.object_id == "default"
    assert jobs.failed.id in entry.change_message and "Requeue" in entry.change_message


def test_destructive_actions_ask_for_confirmation(jobs: Jobs) -> None:
    client = client_for("manager")
    form = {"state": "queued", "action": "delete", "job_ids": [jobs.queued.id]}
    confirm = client.post("/django-rq/queues/default/action/", form)
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Are you sure?" in html and jobs.queued.id in html
    assert rq_queue().job_ids == [jobs.queued.id] and LogEntry.objects.count() == 0
    done = client.post("/django-rq/queues/default/action/", {**form, "confirmed": "yes"}, follow=True)
    assert "1 job deleted" in done.content.decode()
    assert rq_queue().job_ids == [] and not get_connection().exists(f"rq:job:{jobs.queued.id}")
    assert LogEntry.objects.get().action_flag == DELETION


def test_bulk_delete_selection_of_failed_jobs() -> None:
    queue = rq_queue()
    failing = [queue.enqueue("tests.testapp.jobs.fail", f"number {index}") for index in range(5)]
    run_burst(queue)
    client = client_for("manager")
    chosen = [job.id for job in failing[:3]]
    client.post(
        "/django-rq/queues/default/action/",
        {"state": "failed", "action": "delete", "job_ids": chosen, "confirmed": "yes"},
    )
    left = queue.failed_job_registry.get_job_ids(cleanup=False)
    assert sorted(left) == sorted(job.id for job in failing[3:])
    assert all(not queue.connection.exists(f"rq:job:{job_id}") for job_id in chosen)
    assert all(job_id in LogEntry.objects.get().change_message for job_id in chosen)


def test_cancel_enqueue_now_and_requeue_all(jobs: Jobs) -> None:
    client = client_for("manager")
    queue = rq_queue()
    client.post(
        f"/django-rq/queues/default/job/{jobs.queued.id}/action/", {"action": "cancel", "confirmed": "yes"}
    )
    assert jobs.queued.get_status() == JobStatus.CANCELED and jobs.queued.id not in queue.job_ids
    client.post(
        "/django-rq/queues/default/action/",
        {"state": "scheduled", "action": "enqueue", "job_ids": [jobs.scheduled.id]},
    )
    assert jobs.scheduled.id in queue.job_ids and queue.scheduled_job_registry.count == 0
    client.post(f"/django-rq/queues/default/job/{jobs.deferred.id}/action/", {"action": "enqueue"})
    assert jobs.deferred.id in queue.job_ids and jobs.deferred.get_status() == JobStatus.QUEUED
    client.post("/django-rq/queues/default/action/", {"state": "failed", "action": "requeue_all"})
    assert jobs.failed.id in queue.job_ids and queue.failed_job_registry.count == 0


def test_empty_queue_and_registry(jobs: Jobs) -> None:
    client = client_for("manager")
    queue = rq_queue()
    confirm = client.post("/django-rq/queues/default/action/", {"state": "queued", "action": "empty"})
    assert confirm.status_code == 200 and "all 1 queued job" in confirm.content.decode()
    client.post(
        "/django-rq/queues/default/action/", {"state": "queued", "action": "empty", "confirmed": "yes"}
    )
    client.post(
        "/django-rq/queues/default/action/", {"state": "canceled", "action": "empty", "confirmed": "yes"}
    )
    assert queue.count == 0 and queue.canceled_job_registry.count == 0
    assert queue.failed_job_registry.count == 1  # untouched
    assert [entry.change_message.split(":")[0] for entry in LogEntry.objects.order_by("pk")] == [
        "Delete all on queue 'default', all queued jobs",
        "Delete all on queue 'default', all canceled jobs",
    ]


def test_next_url_cannot_leave_the_dashboard(jobs: Jobs) -> None:
    response = client_for("manager").post(
        "/django-rq/queues/default/action/",
        {
            "state": "failed",
            "action": "requeue",
            "job_ids": [jobs.failed.id],
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == "/django-rq/queues/default/failed/"


def test_cron_page_lists_entries() -> None:
    cron = [
        {"func": "tests.testapp.jobs.add", "cron": "*/5 * * * *", "args": [1, 2], "queue": "low"},
        {"func": "tests.testapp.jobs.whisper", "interval": 30},
    ]
    with override_settings(RQ_CRON=cron):
        response = client_for("viewer").get("/django-rq/cron/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "tests.testapp.jobs.add" in html and "*/5 * * * *" in html and "tests.testapp.jobs.whisper" in html
    assert 'href="/django-rq/queues/low/"' in html and "never" in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("processes")
def test_stop_a_running_job_with_a_real_worker() -> None:
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    queue = rq_queue()
    job = queue.enqueue("tests.testapp.jobs.sleep", 60, job_timeout=120)
    root = Path(__file__).resolve().parent.parent
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "rqworker", "default", "--burst", "--settings=tests.settings"],
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while job.get_status() != JobStatus.STARTED:
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.1)
        client = client_for("manager")
        page = client.get("/django-rq/queues/default/started/").content.decode()
        assert job.id in page and 'value="stop"' in page
        response = client.post(
            "/django-rq/queues/default/action/",
            {"state": "started", "action": "stop", "job_ids": [job.id], "confirmed": "yes"},
            follow=True,
        )
        assert "1 job asked to stop" in response.content.decode()
        deadline = time.monotonic() + 30
        while job.get_status() == JobStatus.STARTED:
            assert time.monotonic() < deadline, "the job was not stopped"
            time.sleep(0.1)
        assert job.get_status() in (JobStatus.STOPPED, JobStatus.FAILED)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stderr is not None:
            worker.stderr.close()


def test_bulk_actions_on_100k_jobs_take_batched_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.connection import AbstractConnection

    queue = rq_queue()
    connection = queue.connection
    total = 100_000
    for start in range(0, total, 10_000):
        with connection.pipeline(transaction=False) as pipe:
            members = {}
            for index in range(start, start + 10_000):
                job_id = f"bulk-{index:06d}"
                pipe.hset(f"rq:job:{job_id}", mapping={"status": "failed", "origin": "default", "data": b"x"})
                members[job_id] = 9_999_999_999
            pipe.zadd(queue.failed_job_registry.key, members)
            pipe.execute()
    client = client_for("manager")
    calls = {"count": 0}
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        calls["count"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    response = client.post(
        "/django-rq/queues/default/action/", {"state": "failed", "action": "requeue_all"}, follow=True
    )
    assert f"{total} jobs requeued" in response.content.decode()
    assert queue.count == total and queue.failed_job_registry.count == 0
    requeue_trips = calls["count"]
    calls["count"] = 0
    response = client.post(
        "/django-rq/queues/default/action/",
        {"state": "queued", "action": "empty", "confirmed": "yes"},
        follow=True,
    )
    assert f"{total} jobs deleted" in response.content.decode()
    assert queue.count == 0 and not connection.exists("rq:job:bulk-000000", "rq:job:bulk-099999")
    # Batches of 1000: about a hundred round trips each, never one per job.
    assert requeue_trips < 300 and calls["count"] < 300


@pytest.mark.django_db(transaction=True)
def test_the_migration_creates_no_table_and_is_up_to_date() -> None:
    from io import StringIO

    from django.core.management import call_command

    sql = StringIO()
    call_command("sqlmigrate", "django_taskq", "0001", stdout=sql)
    assert "CREATE TABLE" not in sql.getvalue().upper()
    call_command(
        "makemigrations", "django_taskq", "--check", "--dry-run", stdout=StringIO()
    )  # exits 1 if stale
    from django.contrib.auth.models import Permission

    codenames = set(
        Permission.objects.filter(
            content_type__app_label="django_taskq", content_type__model="queue"
        ).values_list("codename", flat=True)
    )  # the Queue model's (the Schedule model has Django's default four)
    assert codenames == {"view_queues", "manage_queues"}


def test_actions_need_the_csrf_token(jobs: Jobs) -> None:
    from django.contrib.auth.models import User

    client = Client(enforce_csrf_checks=True)
    make_user("manager")
    client.force_login(User.objects.get(username="manager"))
    url = f"/django-rq/queues/default/job/{jobs.failed.id}/action/"
    assert client.post(url, {"action": "requeue"}).status_code == 403
    page = client.get(f"/django-rq/queues/default/job/{jobs.failed.id}/")
    token = page.cookies["csrftoken"].value
    assert client.post(url, {"action": "requeue", "csrfmiddlewaretoken": token}).status_code == 302
    assert jobs.failed.id in rq_queue().job_ids
