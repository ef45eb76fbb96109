"""A second private redis-server that demands a password, for the "no secret leaks" tests."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from django_taskq.embedded import free_port, redis_server_executable, wait_until_up

SECRET = "s3cret-Pa55w0rd-do-not-leak"


@pytest.fixture(scope="session")
def secure_redis_port() -> Iterator[int]:
    """Port of a redis-server started with ``--requirepass SECRET`` (stopped at the end)."""
    port = free_port()
    directory = tempfile.mkdtemp(prefix="taskq-secure-redis-")
    process = subprocess.Popen(
        [redis_server_executable(), "--bind", "127.0.0.1", "--port", str(port), "--dir", directory,
         "--save", "", "--appendonly", "no", "--requirepass", SECRET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_up(f"redis://:{SECRET}@127.0.0.1:{port}/0", 15.0, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def secure_queues(port: int, base: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """``base`` plus two queues on the password-protected server: one by URL, one by PASSWORD key."""
    return {
        **base,
        "secure-url": {"URL": f"redis://default:{SECRET}@127.0.0.1:{port}/2"},
        "secure-key": {"HOST": "127.0.0.1", "PORT": port, "DB": 3, "PASSWORD": SECRET},
    }


def unreachable_queues() -> dict[str, dict[str, object]]:
    """A queue whose server is down (nothing listens on the port), configured with a password."""
    return {"down": {"URL": f"redis://default:{SECRET}@127.0.0.1:{free_port()}/0", "SOCKET_TIMEOUT": 2}}
