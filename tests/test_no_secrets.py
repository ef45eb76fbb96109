"""No page, JSON document or metric shows a Redis password, a token or a configured URL.

The queues live on a second private redis-server that demands a password, configured once by
URL (``redis://default:<password>@...``) and once with the ``PASSWORD`` key.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.test import Client
from django.urls import reverse
from rq import Worker

from django_taskq import get_connection, get_queue
from django_taskq.stats import STATES
from django_taskq.testing import run_jobs
from tests.secure_redis import SECRET, secure_queues, secure_redis_port
from tests.testapp.jobs import add, fail

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.api_urls")]

TOKEN = "no-secrets-token-0123456789"


def test_no_secret_anywhere(settings: Any, django_user_model: Any, secure_redis_port: int) -> None:
    port = secure_redis_port
    settings.RQ_API_TOKEN = TOKEN
    settings.RQ_QUEUES = secure_queues(port, settings.RQ_QUEUES)
    redis.Redis(host="127.0.0.1", port=port, password=SECRET).flushall()  # the server this suite started
    job_ids: dict[str, list[str]] = {}
    for name in ("secure-url", "secure-key"):
        queue = get_queue(name, commit_mode="auto")
        done = [queue.enqueue(add, 1, 2).id, queue.enqueue(fail, "password? no").id]
        run_jobs(name)
        waiting = queue.enqueue(add, 3, 4).id
        job_ids[name] = [*done, waiting]
    worker = Worker(["secure-url"], connection=get_connection("secure-url"), name="secure-worker")
    worker.register_birth()

    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    urls = [
        reverse("admin:index"),
        reverse("django_taskq:overview"),
        reverse("django_taskq:workers"),
        reverse("django_taskq:worker", args=[worker.name]),
        reverse("django_taskq:scheduler"),
        reverse("django_taskq:cron"),
        reverse("django_taskq:stats_json"),
        reverse("django_taskq:metrics"),
    ]
    for name, ids in job_ids.items():
        urls.append(reverse("django_taskq:queue", args=[name]))
        urls += [reverse("django_taskq:queue_state", args=[name, state]) for state in STATES]
        urls += [reverse("django_taskq:job", args=[name, job_id]) for job_id in ids]

    forbidden = [SECRET, TOKEN, settings.RQ_QUEUES["secure-url"]["URL"], f"default:{SECRET}"]
    seen_location = False
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for secret in forbidden:
            assert secret not in body, f"{secret!r} shown by {url}"
        seen_location = seen_location or f"127.0.0.1:{port}" in body
    assert seen_location  # the pages do say where the queues are, without the password
    worker.register_death()
