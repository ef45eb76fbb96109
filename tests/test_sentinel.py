"""SENTINELS/MASTER_NAME against a real Redis Sentinel started for this test."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from django_taskq import get_queue
from django_taskq.embedded import free_port, redis_server_executable
from django_taskq.testing import run_jobs
from tests.testapp.jobs import add


@pytest.fixture
def sentinel_port(tmp_path: Path, processes: None) -> Iterator[int]:
    master_port = int(settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor taskq-master 127.0.0.1 {master_port} 1\n"
    )
    process = subprocess.Popen(
        [redis_server_executable(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.sentinel_get_master_addr_by_name("taskq-master"):
                break
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "sentinel did not come up"
        time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(10)


def test_queue_through_sentinel(sentinel_port: int) -> None:
    queues = {
        "default": {
            "SENTINELS": [("127.0.0.1", sentinel_port)],
            "MASTER_NAME": "taskq-master",
            "DB": 7,
            "SOCKET_TIMEOUT": 5,
        }
    }
    with override_settings(RQ_QUEUES=queues):
        job = get_queue().enqueue(add, 20, 22)
        assert redis.Redis.from_url(settings.REDIS_URL.rsplit("/", 1)[0] + "/7").exists(f"rq:job:{job.id}")
        assert run_jobs().finished[0].return_value() == 42
