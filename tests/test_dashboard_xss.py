"""Hostile strings in job arguments, meta, description and exception text stay inert text."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.dashboard_helpers import make_user, rq_queue, run_burst
from tests.testapp.jobs import add, fail

pytestmark = pytest.mark.django_db

CORPUS = [
    "<script>alert('xss-1')</script>",
    '"><img src=x onerror=alert("xss-2")>',
    "'><svg onload=alert('xss-3')>",
    "javascript:alert('xss-4')",
    '" onmouseover="alert(\'xss-5\')" x="',
    "</textarea></pre><script>alert('xss-6')</script>",
    "<a href=\"javascript:alert('xss-7')\">click</a>",
    "{{ 7|add:'xss-8' }} {% now 'Y' %}",
]

# What must never appear in a page: live markup built from the corpus.
FORBIDDEN = [
    re.compile(r"<script>alert", re.IGNORECASE),
    re.compile(r"<img src=x", re.IGNORECASE),
    re.compile(r"<svg onload", re.IGNORECASE),
    re.compile(r"""href=["']?javascript:""", re.IGNORECASE),
    re.compile(r"""["']\s*onmouseover=""", re.IGNORECASE),  # an attribute broken out of
    re.compile(r"<a href=\"javascript", re.IGNORECASE),
    re.compile(r"</textarea></pre>", re.IGNORECASE),
]


def assert_inert(html: str, where: str) -> None:
    for pattern in FORBIDDEN:
        assert not pattern.search(html), f"{pattern.pattern!r} found in {where}"
    assert "xss-8" not in html or "{{ 7|add:" in html.replace("&#x27;", "'"), where  # never evaluated


def test_corpus_is_escaped_everywhere() -> None:
    queue = rq_queue()
    payload = " ".join(CORPUS)
    ids = []
    for index, text in enumerate(CORPUS):
        failing = queue.enqueue(fail, text, description=text, meta={"note": text, text: index})
        ids.append(failing.id)
    run_burst(queue)
    queued = queue.enqueue(add, payload, b=payload, description=payload, meta={"html": payload})
    ids.append(queued.id)

    user = make_user("manager")
    client = Client()
    client.force_login(user)
    pages = ["/django-rq/", "/django-rq/queues/default/", "/django-rq/queues/default/failed/"]
    pages += [f"/django-rq/queues/default/job/{job_id}/" for job_id in ids]
    pages += [f"/admin/django_taskq/queue/queues/default/job/{ids[0]}/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)

    job_page = client.get(f"/django-rq/queues/default/job/{ids[0]}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;xss-1&#x27;)&lt;/script&gt;" in job_page  # shown, as text
    failed_page = client.get("/django-rq/queues/default/failed/").content.decode()
    assert "ValueError: &lt;script&gt;" in failed_page or "ValueError: &quot;&gt;&lt;img" in failed_page

    # The confirmation page echoes the selection: ids are validated, text stays escaped.
    confirm = client.post(
        "/django-rq/queues/default/action/",
        {"state": "failed", "action": "delete", "job_ids": ids[:3]},
    )
    assert confirm.status_code == 200
    assert_inert(confirm.content.decode(), "confirmation page")


def test_hostile_search_and_filter_inputs_are_escaped() -> None:
    client = Client()
    client.force_login(make_user("viewer"))
    for text in CORPUS:
        response = client.get("/django-rq/queues/default/", {"function": text, "job": text}, follow=True)
        assert response.status_code == 200
        assert_inert(response.content.decode(), f"filter {text!r}")
