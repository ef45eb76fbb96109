"""stats.json: who may read it (sessions and Bearer tokens), what it returns, what it never shows."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from django_taskq import get_queue
from django_taskq.connections import fail_fast
from django_taskq.queues import DjangoQueue
from django_taskq.stats import gather
from django_taskq.testing import run_jobs
from tests.secure_redis import SECRET, secure_queues, secure_redis_port, unreachable_queues
from tests.testapp.jobs import add, fail

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_urls")]

TOKEN = "tok-0123456789abcdef-tok"
ENDPOINTS = ["django_taskq:stats_json", "django_taskq:metrics"]


def queue(name: str) -> DjangoQueue:
    """The queue, writing at once (the tests run inside a transaction)."""
    return get_queue(name, commit_mode="auto")


def make_user(django_user_model: Any, role: str) -> Any:
    """A user for ``role``: nonstaff, staff, viewer, manager, superuser, inactive."""
    if role == "superuser":
        return django_user_model.objects.create_superuser(role, password="pw")
    user = django_user_model.objects.create_user(role, password="pw", is_staff=role != "nonstaff")
    codename = {"viewer": "view_queues", "manager": "manage_queues", "nonstaff": "view_queues"}.get(role)
    if codename:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_taskq", codename=codename)
        )
    return user


def session_client(django_user_model: Any, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(make_user(django_user_model, role))
    return client


# -- sessions -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("anonymous", 401),
        ("nonstaff", 401),  # even with the view permission: the API takes staff sessions only
        ("staff", 403),  # staff without the dashboard permission
        ("viewer", 200),
        ("manager", 200),
        ("superuser", 200),
    ],
)
def test_session_roles(django_user_model: Any, endpoint: str, role: str, status: int) -> None:
    response = session_client(django_user_model, role).get(reverse(endpoint))
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="django-taskq"'
    else:
        assert "WWW-Authenticate" not in response


def test_inactive_staff_with_permission_is_refused(django_user_model: Any) -> None:
    user = make_user(django_user_model, "viewer")
    client = Client()
    client.force_login(user)
    user.is_active = False
    user.save()
    assert client.get(reverse("django_taskq:stats_json")).status_code == 401


# -- tokens ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("configured", "header", "status"),
    [
        (TOKEN, f"Bearer {TOKEN}", 200),
        (TOKEN, f"bearer {TOKEN}", 200),  # the scheme is case-insensitive (RFC 7235)
        (TOKEN, f"Bearer   {TOKEN}  ", 200),
        (TOKEN, "Bearer wrong-token", 401),
        (TOKEN, f"Bearer {TOKEN}x", 401),
        (TOKEN, f"Bearer {TOKEN[:-1]}", 401),
        (TOKEN, "Bearer ", 401),
        (TOKEN, f"Basic {TOKEN}", 401),
        (TOKEN, f"Token {TOKEN}", 401),
        (TOKEN, TOKEN, 401),
        (TOKEN, "Bearer ünïcödé", 401),
        (None, f"Bearer {TOKEN}", 401),  # no RQ_API_TOKEN: token auth is off
        ("", "Bearer ", 401),
        ("", "Bearer x", 401),
    ],
)
def test_tokens(settings: Any, endpoint: str, configured: str | None, header: str, status: int) -> None:
    settings.RQ_API_TOKEN = configured
    response = Client().get(reverse(endpoint), HTTP_AUTHORIZATION=header)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith('Bearer realm="django-taskq"')
        assert TOKEN.encode() not in response.content


@pytest.mark.parametrize(
    ("path", "configured", "status"),
    [
        (f"stats.json/{TOKEN}/", TOKEN, 200),  # django-rq's URL form
        (f"stats.json/{TOKEN}", TOKEN, 200),
        ("stats.json/nope/", TOKEN, 401),
        (f"stats.json/{TOKEN[:-1]}/", TOKEN, 401),
        (f"stats.json/{TOKEN}/", None, 401),  # no RQ_API_TOKEN: token auth is off
    ],
)
def test_token_in_django_rqs_url(settings: Any, path: str, configured: str | None, status: int) -> None:
    settings.RQ_API_TOKEN = configured
    response = Client().get(f"/taskq/{path}")
    assert response.status_code == status
    if status == 200:
        assert [queue["name"] for queue in response.json()["queues"]] == list(settings.RQ_QUEUES)
    else:
        assert response["WWW-Authenticate"] == 'Bearer realm="django-taskq", error="invalid_token"'
        assert TOKEN.encode() not in response.content


def test_a_token_in_the_url_is_judged_alone(settings: Any, django_user_model: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    viewer = session_client(django_user_model, "viewer")
    assert viewer.get("/taskq/stats.json/").status_code == 200  # django-rq's trailing slash
    assert viewer.get("/taskq/stats.json/nope/").status_code == 401
    # The header, when sent, is the one judged.
    assert Client().get(f"/taskq/stats.json/{TOKEN}/", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_wrong_token_error_is_named(settings: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION="Bearer nope")
    assert response["WWW-Authenticate"] == 'Bearer realm="django-taskq", error="invalid_token"'


def test_no_header_without_token_config_is_401(settings: Any) -> None:
    settings.RQ_API_TOKEN = None
    assert Client().get(reverse("django_taskq:stats_json")).status_code == 401


def test_a_blank_authorization_header_counts_as_none(settings: Any, django_user_model: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    url = reverse("django_taskq:stats_json")
    assert session_client(django_user_model, "viewer").get(url, HTTP_AUTHORIZATION="  ").status_code == 200
    response = Client().get(url, HTTP_AUTHORIZATION="")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="django-taskq"'


def test_a_sent_token_is_judged_alone(settings: Any, django_user_model: Any) -> None:
    """A wrong token from a permitted session is refused; a right token needs no session."""
    settings.RQ_API_TOKEN = TOKEN
    url = reverse("django_taskq:stats_json")
    viewer = session_client(django_user_model, "viewer")
    assert viewer.get(url, HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert viewer.get(url).status_code == 200
    nonstaff = session_client(django_user_model, "nonstaff")
    assert nonstaff.get(url).status_code == 401
    assert nonstaff.get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_a_non_string_token_setting_disables_token_auth(settings: Any) -> None:
    settings.RQ_API_TOKEN = 12345  # reported by check E012
    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION="Bearer 12345")
    assert response.status_code == 401


# -- methods and caching --------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "head", "options"])
def test_get_only(settings: Any, endpoint: str, method: str) -> None:
    settings.RQ_API_TOKEN = TOKEN
    client = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    response = getattr(client, method)(reverse(endpoint))
    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_responses_are_private_and_never_cached(settings: Any, endpoint: str) -> None:
    settings.RQ_API_TOKEN = TOKEN
    for response in (
        Client().get(reverse(endpoint), HTTP_AUTHORIZATION=f"Bearer {TOKEN}"),
        Client().get(reverse(endpoint)),
    ):
        assert "no-store" in response["Cache-Control"]
        assert "private" in response["Cache-Control"]
        assert {"Authorization", "Cookie"} <= {part.strip() for part in response["Vary"].split(",")}


# -- content --------------------------------------------------------------------------------


def _without_volatile(document: dict[str, Any]) -> dict[str, Any]:
    """The document minus what changes from one call to the next (time and ages)."""
    result = {key: value for key, value in document.items() if key != "generated_at"}
    result["queues"] = [
        {k: v for k, v in queue.items() if k != "oldest_queued_age"} for queue in document["queues"]
    ]
    return result


def test_json_is_gather_as_dict(settings: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    default = queue("default")
    for number in range(3):
        default.enqueue(add, number, 1)
    default.enqueue(fail, "on purpose")
    report = run_jobs("default")
    assert (len(report.finished), len(report.failed)) == (3, 1)
    for _ in range(2):
        queue("high").enqueue(add, 1, 1)
    queue("other-db").enqueue(add, 2, 2)
    queue("low").enqueue_in(timedelta(hours=1), add, 3, 3)

    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    # Through the web's clients: run_jobs's in-process worker gave the shared (retrying) client
    # the socket_timeout RQ's workers set, which its connection_kwargs then show.
    with fail_fast():
        expected = gather().as_dict()

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    assert _without_volatile(document) == _without_volatile(expected)
    assert list(document) == ["schema", "generated_at", "queues", "connections", "outbox"]
    by_name = {queue["name"]: queue for queue in document["queues"]}
    assert list(by_name) == list(settings.RQ_QUEUES)
    assert (by_name["default"]["finished"], by_name["default"]["failed"], by_name["default"]["queued"]) == (
        3,
        1,
        0,
    )
    assert by_name["high"]["queued"] == 2
    assert by_name["other-db"]["queued"] == 1
    assert by_name["low"]["scheduled"] == 1
    assert by_name["default"]["oldest_queued_age"] is None
    for name in ("high", "other-db"):
        age = by_name[name]["oldest_queued_age"]
        later = {q["name"]: q for q in expected["queues"]}[name]["oldest_queued_age"]
        assert isinstance(age, float) and 0 <= age <= later


def test_redis_down_is_503_without_secrets(settings: Any) -> None:
    settings.RQ_API_TOKEN = TOKEN
    settings.RQ_QUEUES = unreachable_queues()
    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 503
    assert response.json() == {"error": "Redis unreachable (ConnectionError)."}
    assert SECRET.encode() not in response.content
    assert TOKEN.encode() not in response.content


def test_no_password_or_url_in_json(settings: Any, secure_redis_port: int) -> None:
    port = secure_redis_port
    settings.RQ_API_TOKEN = TOKEN
    settings.RQ_QUEUES = secure_queues(port, settings.RQ_QUEUES)
    own = redis.Redis(host="127.0.0.1", port=port, password=SECRET)
    own.flushall()  # the password-protected server this suite started
    queue("secure-url").enqueue(add, 1, 2)
    queue("secure-key").enqueue(add, 3, 4)

    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 200
    body = response.content.decode()
    by_name = {queue["name"]: queue for queue in response.json()["queues"]}
    assert by_name["secure-url"]["queued"] == 1 and by_name["secure-key"]["queued"] == 1
    assert by_name["secure-url"]["connection"] == f"redis://127.0.0.1:{port}/2"
    assert by_name["secure-key"]["connection"] == f"redis://127.0.0.1:{port}/3"
    assert SECRET not in body
    assert settings.RQ_QUEUES["secure-url"]["URL"] not in body
    assert "default:" not in body  # no user:password@ part
    assert TOKEN not in body


def test_same_document_as_rqstats_json(settings: Any) -> None:
    """stats.json and ``rqstats --json`` share the code and the schema."""
    from io import StringIO

    from django.core.management import call_command

    settings.RQ_API_TOKEN = TOKEN
    queue("default").enqueue(add, 1, 1)
    queue("other-db").enqueue(fail)
    run_jobs("other-db")
    out = StringIO()
    with fail_fast():  # the web's clients (see test_json_is_gather_as_dict)
        call_command("rqstats", "--json", stdout=out)
    response = Client().get(reverse("django_taskq:stats_json"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    from_command = json.loads(out.getvalue())
    from_api = response.json()
    assert _without_volatile(from_api) == _without_volatile(from_command)
    assert list(from_api) == list(from_command)
    assert [list(q) for q in from_api["queues"]] == [list(q) for q in from_command["queues"]]
