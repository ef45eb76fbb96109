from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from django_taskq.embedded import EmbeddedRedis, ensure_shared_server, redis_server_executable


def test_executable_found() -> None:
    assert Path(redis_server_executable()).exists()


def test_private_server_starts_and_stops(tmp_path: Path, processes: None) -> None:
    server = EmbeddedRedis(tmp_path).start()
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    assert client.config_get("save") == {"save": ""}
    server.stop()
    client.close()
    try:
        client.ping()
        raise AssertionError("server still answers after stop()")
    except redis.ConnectionError:
        pass


def test_shared_server_is_reused_across_processes(tmp_path: Path, processes: None) -> None:
    url = ensure_shared_server(tmp_path)
    code = f"import django_taskq.embedded as e; print(e.ensure_shared_server({str(tmp_path)!r}))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert other.stdout.strip() == url
    client = redis.Redis.from_url(url)
    assert client.ping()
    client.shutdown(nosave=True)  # our own throwaway server, started above


def test_shared_server_restarted_when_dead(tmp_path: Path, processes: None) -> None:
    first = ensure_shared_server(tmp_path)
    redis.Redis.from_url(first).shutdown(nosave=True)  # our own throwaway server
    second = ensure_shared_server(tmp_path)
    client = redis.Redis.from_url(second)
    assert client.ping()
    client.shutdown(nosave=True)


def test_shared_server_survives_a_signal_to_the_starting_process_group(
    tmp_path: Path, processes: None
) -> None:
    # A Ctrl-C stopping `make demo` signals its whole process group: the server is outside it,
    # so the worker still stopping can reach it, and the next demo finds it again.
    url = ensure_shared_server(tmp_path)
    pid = int((tmp_path / "redis.pid").read_text())
    try:
        assert os.getsid(pid) != os.getsid(0)
        assert os.getpgid(pid) != os.getpgid(0)
    finally:
        redis.Redis.from_url(url).shutdown(nosave=True)  # our own throwaway server
