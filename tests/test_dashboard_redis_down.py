"""Every dashboard page, and the demo's home page, when its Redis is down or refuses the password:
a 503 in the admin layout that names the server (never its password), and nothing else breaks.

The failing server is a queue configured with a password: on a closed port (nothing listens),
or on the password-protected server of tests/secure_redis.py with a wrong password. Pages
that span connections (overview, workers, scheduler) still show the queues that answer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client, RequestFactory

from django_taskq.embedded import free_port
from tests.dashboard_helpers import make_user
from tests.secure_redis import SECRET, secure_redis_port
from tests.testapp.jobs import add

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = pytest.mark.django_db

BASE = "/django-rq/"
DEMO = Path(__file__).resolve().parent.parent / "testproject"
WRONG = "wrong-" + SECRET[::-1]
STATES = ("queued", "started", "deferred", "finished", "failed", "scheduled", "canceled")


def _down(port: int) -> dict[str, object]:
    return {"URL": f"redis://default:{SECRET}@127.0.0.1:{port}/0", "SOCKET_TIMEOUT": 2}


def _wrong_password(port: int) -> dict[str, object]:
    return {"HOST": "127.0.0.1", "PORT": port, "DB": 2, "PASSWORD": WRONG, "SOCKET_TIMEOUT": 2}


@pytest.fixture(params=["down", "wrong-password"])
def broken(request: pytest.FixtureRequest, secure_redis_port: int) -> tuple[str, dict[str, object]]:
    """(what is broken, the queue config that reaches it)."""
    if request.param == "down":
        return "down", _down(free_port())
    return "wrong-password", _wrong_password(secure_redis_port)


def queue_paths(name: str) -> list[str]:
    return [
        f"queues/{name}/",
        *(f"queues/{name}/{state}/" for state in STATES),
        f"queues/{name}/job/some-job-id/",
    ]


def action_posts(name: str) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"queues/{name}/job/some-job-id/action/", {"action": "delete", "confirmed": "yes"}),
        (f"queues/{name}/action/", {"state": "failed", "action": "requeue_all"}),
        (
            f"queues/{name}/action/",
            {"state": "queued", "action": "delete", "job_ids": "a", "confirmed": "yes"},
        ),
    ]


def manager_client() -> Client:
    client = Client(raise_request_exception=False)  # a 500 would show its debug page in the body
    user = make_user("manager")
    assert user is not None
    client.force_login(user)
    return client


def assert_unavailable(response: Any, where: str, kind: str) -> str:
    body = response.content.decode()
    assert response.status_code == 503, (response.status_code, body[:2000])
    assert "Redis unavailable" in body and where in body
    expected = "refused the credentials" if kind == "wrong-password" else "ConnectionError"
    assert expected in body
    assert 'id="content-main"' in body and "taskq-nav" in body  # inside the dashboard's admin layout
    return body


def assert_no_secret(body: str, url: str) -> None:
    for secret in (SECRET, WRONG):
        assert secret not in body, f"{secret!r} shown by {url}"


@pytest.mark.parametrize("debug", [False, True])
def test_every_page_of_a_broken_queue_is_a_503_without_the_password(
    settings: Any, broken: tuple[str, dict[str, object]], debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    kind, config = broken
    settings.DEBUG = debug
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "broken": config}
    where = f"127.0.0.1:{config.get('PORT') or str(config['URL']).rsplit(':', 1)[1].split('/')[0]}"
    client = manager_client()
    caplog.set_level(logging.DEBUG)
    for path in queue_paths("broken"):
        body = assert_unavailable(client.get(BASE + path), where, kind)
        assert_no_secret(body, path)
        assert "(queue broken)" in body
    for path, data in action_posts("broken"):
        body = assert_unavailable(client.post(BASE + path, data), where, kind)
        assert_no_secret(body, path)
    assert_no_secret(caplog.text, "a log line")
    assert f"Redis at redis://{where}/" in caplog.text


def test_pages_spanning_connections_show_the_others_and_mark_the_broken_one(
    settings: Any, broken: tuple[str, dict[str, object]]
) -> None:
    _kind, config = broken
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "broken": config}
    from django_taskq import get_queue

    get_queue("default", commit_mode="auto").enqueue(add, 1, 2)
    client = manager_client()
    for path in ("", "workers/", "scheduler/"):
        response = client.get(BASE + path)
        body = response.content.decode()
        assert response.status_code == 200, (path, body[:2000])
        assert "is unavailable (queue broken)" in body, path
        assert_no_secret(body, path)
        if path != "workers/":
            assert "queues/default/" in body, path  # the queues that answer still show
    # A worker that may live on the broken server cannot be said to be missing: 503, not 404.
    assert client.get(BASE + "workers/no-such-worker/").status_code == 503


def test_every_page_is_a_503_when_the_only_server_is_broken(
    settings: Any, broken: tuple[str, dict[str, object]]
) -> None:
    kind, config = broken
    settings.DEBUG = True
    settings.RQ_QUEUES = {"default": config}
    where = "127.0.0.1:"
    client = manager_client()
    paths = ["", "workers/", "workers/some-worker/", "scheduler/", *queue_paths("default")]
    for path in paths:
        body = assert_unavailable(client.get(BASE + path), where, kind)
        assert_no_secret(body, path)
    for path, data in action_posts("default"):
        assert_no_secret(assert_unavailable(client.post(BASE + path, data), where, kind), path)
    response = client.get(BASE + "cron/")  # the cron page reads Redis through its own guard
    assert response.status_code in (200, 503)
    assert_no_secret(response.content.decode(), "cron/")


def test_the_demo_home_page_names_the_broken_server(
    settings: Any, broken: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(DEMO))
    from demo.views import home

    _kind, config = broken
    settings.HAS_TASKS = False
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(DEMO / "demo" / "templates")]}]
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "broken": config}
    request = RequestFactory().get("/")
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    response = home(request)
    body = response.content.decode()
    assert response.status_code == 200, body[:2000]
    assert "is unavailable (queues broken)" in body and "<td>default</td>" in body
    assert_no_secret(body, "/")
    settings.RQ_QUEUES = {"default": config}
    response = home(request)
    assert response.status_code == 503
    assert "is unavailable" in response.content.decode()
    assert_no_secret(response.content.decode(), "/")
