"""The test suite's own Redis server, started on a free port in a temporary directory."""

from __future__ import annotations

import atexit
import os
import tempfile

from django_taskq.embedded import EmbeddedRedis

ENV = "TASKQ_TEST_REDIS_URL"
_server: EmbeddedRedis | None = None


def test_redis_url() -> str:
    """URL of the suite's private server; a worker subprocess inherits it through the environment."""
    global _server
    if os.environ.get(ENV):
        return os.environ[ENV]
    _server = EmbeddedRedis(tempfile.mkdtemp(prefix="taskq-test-redis-")).start()
    atexit.register(_server.stop)
    os.environ[ENV] = _server.url
    os.environ["TASKQ_TEST_REDIS_OWNER"] = str(os.getpid())
    return _server.url


def started_by_this_suite(url: str) -> bool:
    """True only for the server this test session started (its URL, and the owning process tree)."""
    return os.environ.get(ENV) == url and "TASKQ_TEST_REDIS_OWNER" in os.environ
