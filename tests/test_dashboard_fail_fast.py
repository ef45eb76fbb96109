"""Dashboard pages fail within about one socket timeout: they read through clients that never retry.

redis-py 8 retries a failed connection about ten times with backoff: on main a wrong password
took ~4.5 s and a stalled server (one that accepts and never answers) ~10 s per page. The
workers keep those retries; the dashboard's clients (``connections.fail_fast``) have none.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from django_taskq.connections import fail_fast, get_connection, get_redis_connection
from tests.secure_redis import SECRET, secure_redis_port
from tests.test_dashboard_redis_down import BASE, manager_client

__all__ = ["secure_redis_port"]  # a fixture used below

pytestmark = pytest.mark.django_db

SOCKET_TIMEOUT = 0.5
BOUND = 2.0  # seconds: generous for a shared CI machine, well below the ~4.5 s / ~10 s of retries


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port where a server accepts connections and never answers (a hung Redis)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)  # so that the thread sees the end of the test
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read nor answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    for conn in held:
        conn.close()
    thread.join(5)


def _stalled(port: int) -> dict[str, object]:
    return {"HOST": "127.0.0.1", "PORT": port, "SOCKET_TIMEOUT": SOCKET_TIMEOUT}


def _wrong_password(port: int) -> dict[str, object]:
    return {"HOST": "127.0.0.1", "PORT": port, "PASSWORD": "not-" + SECRET, "SOCKET_TIMEOUT": SOCKET_TIMEOUT}


PATHS = (
    "",
    "queues/broken/",
    "queues/broken/failed/",
    "queues/broken/job/some-id/",
    "workers/",
)


@pytest.fixture(params=["stalled", "wrong-password"])
def broken(
    request: pytest.FixtureRequest, secure_redis_port: int, stalled_port: int
) -> tuple[str, dict[str, object]]:
    """(what is broken, the queue config that reaches it)."""
    if request.param == "stalled":
        return "stalled", _stalled(stalled_port)
    return "wrong-password", _wrong_password(secure_redis_port)


def test_pages_of_a_stalled_or_refusing_server_answer_within_a_socket_timeout(
    settings: Any, broken: tuple[str, dict[str, object]]
) -> None:
    kind, config = broken
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "broken": config}
    client = manager_client()
    timings = {}
    for path in PATHS:
        start = time.perf_counter()
        response = client.get(BASE + path)
        timings[path or "overview"] = elapsed = time.perf_counter() - start
        # The pages spanning connections show the others; the broken queue's pages are 503s.
        expected = 200 if path in ("", "workers/") else 503
        assert response.status_code == expected, (path, response.content[:1000])
        assert elapsed < BOUND, (
            f"{path or 'overview'} took {elapsed:.2f} s ({kind}, socket timeout {SOCKET_TIMEOUT} s)"
        )
    print(f"\n{kind}: " + ", ".join(f"{path} {seconds:.3f} s" for path, seconds in timings.items()))


@pytest.mark.parametrize("path", ["stats.json", "metrics"])
def test_stats_and_metrics_of_a_stalled_or_refusing_server_answer_503_within_a_socket_timeout(
    settings: Any, broken: tuple[str, dict[str, object]], path: str
) -> None:
    kind, config = broken
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "broken": config}
    start = time.perf_counter()
    response = manager_client().get(BASE + path)
    elapsed = time.perf_counter() - start
    assert response.status_code == 503, response.content[:1000]
    assert SECRET.encode() not in response.content
    assert elapsed < BOUND, f"{path} took {elapsed:.2f} s ({kind}, socket timeout {SOCKET_TIMEOUT} s)"


def _retries(client: Any) -> int:
    retries: int = client.connection_pool.make_connection().retry.get_retries()
    return retries


def test_only_the_dashboard_clients_skip_the_retries(settings: Any) -> None:
    parts = urlsplit(settings.REDIS_URL)
    # Configured by host and port: redis-py then retries 10 times (a URL client does not).
    settings.RQ_QUEUES = {
        **settings.RQ_QUEUES,
        "hosted": {"HOST": parts.hostname, "PORT": parts.port, "DB": 4},
    }
    shared = get_connection("hosted")
    with fail_fast():
        fast = get_connection("hosted")
        assert get_connection("hosted") is fast  # one per connection configuration
        assert get_redis_connection(settings.RQ_QUEUES["hosted"]) is fast
    assert fast is not shared
    assert get_connection("hosted") is shared  # outside the block: the workers' client again
    assert _retries(fast) == 0
    assert _retries(shared) > 0, "the workers' clients keep redis-py's retries"
    shared_kwargs = shared.connection_pool.connection_kwargs
    fast_kwargs = fast.connection_pool.connection_kwargs
    same = ("host", "port", "db", "password", "username", "socket_timeout")
    assert {k: fast_kwargs.get(k) for k in same} == {k: shared_kwargs.get(k) for k in same}
    assert fast.ping() is True


def test_the_fail_fast_block_is_per_thread() -> None:
    seen: list[Any] = []
    with fail_fast():
        inner = get_connection("default")
        thread = threading.Thread(target=lambda: seen.append(get_connection("default")))
        thread.start()
        thread.join()
    assert seen[0] is not inner  # another thread (another request) keeps the retrying client
