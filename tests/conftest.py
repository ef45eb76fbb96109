from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from tests.redis_server import started_by_this_suite


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _empty_own_redis() -> Iterator[None]:
    """Each test starts from an empty Redis: the private server this suite started, never another."""
    url = settings.REDIS_URL
    assert started_by_this_suite(url), f"refusing to flush {url}: this suite did not start it"
    client = redis.Redis.from_url(url)
    client.flushall()  # our own private server only (asserted above)
    yield
    client.close()
