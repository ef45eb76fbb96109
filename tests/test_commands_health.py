"""rqhealth: exit 0 only while a live worker (a real rqworker process) serves each named queue."""

from __future__ import annotations

import signal

import redis

from django_taskq.health import coverage
from tests.command_helpers import background, closed_port, manage, wait_for


def _worker_keys(client: redis.Redis, queue: str) -> set[bytes]:
    return set(client.smembers(f"rq:workers:{queue}"))


def test_no_worker_is_unhealthy(processes: None) -> None:
    result = manage("rqhealth", "high", "default")
    assert result.returncode == 1
    assert "CommandError: No live worker serves high, default." in result.stderr
    assert "Traceback" not in result.stderr
    every = manage("rqhealth")  # no names: every queue that is not ASYNC=False
    assert every.returncode == 1
    assert "No live worker serves default, high, low, other-db." in every.stderr


def test_live_worker_then_dead_worker(redis_client: redis.Redis, processes: None) -> None:
    with background("rqworker", "high", "default", "--name", "probe-worker") as worker:
        wait_for(lambda: _worker_keys(redis_client, "default"), timeout=60, what="the worker to register")

        ok = manage("rqhealth", "high", "default")
        assert ok.returncode == 0, ok.stderr
        assert "OK: high (1 worker), default (1 worker)" in ok.stdout

        partial = manage("rqhealth", "default", "low")
        assert partial.returncode == 1
        assert "No live worker serves low." in partial.stderr

        # Killed without a chance to unregister: its key outlives it until the TTL ends...
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert _worker_keys(redis_client, "default")
    # ...and once the key has expired (as it does when heartbeats stop), the probe fails.
    redis_client.delete("rq:worker:probe-worker")
    dead = manage("rqhealth", "default")
    assert dead.returncode == 1
    assert "No live worker serves default." in dead.stderr


def test_stale_heartbeat_with_max_age(redis_client: redis.Redis, processes: None) -> None:
    key = "rq:worker:old-one"
    redis_client.hset(key, mapping={"last_heartbeat": "2020-01-01T00:00:00.000000Z", "queues": "default"})
    redis_client.sadd("rq:workers:default", key)
    redis_client.sadd("rq:workers", key)

    assert coverage(["default"]).workers == {"default": ["old-one"]}
    assert coverage(["default"], max_heartbeat_age=600).uncovered == ["default"]
    result = manage("rqhealth", "default", "--max-heartbeat-age", "600")
    assert result.returncode == 1


def test_suspended_workers_are_noted(redis_client: redis.Redis, processes: None) -> None:
    key = "rq:worker:paused"
    redis_client.hset(key, mapping={"last_heartbeat": "2020-01-01T00:00:00.000000Z"})
    redis_client.sadd("rq:workers:default", key)
    redis_client.set("rq:suspended", 1)
    result = manage("rqhealth", "default")
    assert result.returncode == 0, result.stderr
    assert "are suspended" in result.stdout


def test_bad_input_and_redis_down(processes: None) -> None:
    unknown = manage("rqhealth", "nope")
    assert unknown.returncode == 1
    assert "Unknown queue 'nope'" in unknown.stderr
    bad_age = manage("rqhealth", "--max-heartbeat-age", "-1")
    assert bad_age.returncode == 2 and "must be greater than 0" in bad_age.stderr

    port = closed_port()
    down = manage("rqhealth", "default", settings="tests.settings_closed_redis", TASKQ_CLOSED_PORT=str(port))
    assert down.returncode == 3
    assert "Cannot reach Redis" in down.stderr and "Traceback" not in down.stderr
