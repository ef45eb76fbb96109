"""Settings written for django-rq keep their meaning."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

from django_taskq import enqueue, get_queue
from django_taskq.conf import taskq_settings
from tests.testapp.jobs import add


@pytest.mark.parametrize(
    ("rq", "mode"),
    [
        ({"AUTOCOMMIT": True}, "auto"),
        ({"AUTOCOMMIT": False}, "request_finished"),
        ({"AUTOCOMMIT": True, "COMMIT_MODE": "on_db_commit"}, "on_db_commit"),
        ({}, "on_db_commit"),
    ],
)
def test_autocommit_maps_to_a_commit_mode(rq: dict[str, object], mode: str) -> None:
    with override_settings(RQ=rq):
        assert mode == taskq_settings.COMMIT_MODE
        assert get_queue().commit_mode == mode


@pytest.mark.django_db(transaction=True)
@override_settings(RQ={"AUTOCOMMIT": True})
def test_autocommit_true_enqueues_at_once_inside_atomic() -> None:
    with transaction.atomic():
        job = enqueue(add, 1, 2)
        assert get_queue().job_ids == [job.id]


@override_settings(RQ_API_TOKEN="scrape-token", ROOT_URLCONF="tests.api_urls")
def test_metrics_answer_with_and_without_the_trailing_slash() -> None:
    from django.test import Client
    from django.urls import reverse

    url = reverse("django_taskq:metrics")
    for path in (url, f"{url}/"):
        response = Client().get(path, HTTP_AUTHORIZATION="Bearer scrape-token")
        assert response.status_code == 200, path
        assert b"# TYPE" in response.content
