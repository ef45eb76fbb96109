"""Contract tests of django_taskq.rq_compat.storage against the installed RQ, on the suite's Redis.

Real jobs run through ``rq.SimpleWorker`` (in this process); our decoders read the raw Redis
data and must agree with what RQ's own readers report. A failure names the RQ symbol that moved.
"""

from __future__ import annotations

import os
import zlib
from datetime import datetime, timezone
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker, Worker, get_current_job
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq.scheduler import RQScheduler
from rq.suspension import is_suspended, resume, suspend
from rq.utils import parse_composite_key

from django_taskq import get_connection
from django_taskq.rq_compat import storage
from tests.testapp.jobs import add, fail

WORKER_NAME = "contract-worker"


def _queue() -> Queue:
    return Queue("default", connection=get_connection())


def _run(queue: Queue) -> SimpleWorker:
    worker = SimpleWorker([queue], connection=queue.connection, name=WORKER_NAME)
    worker.work(burst=True)
    return worker


def _results(connection: redis.Redis, job_id: str, count: int = 10) -> list[storage.ResultRecord]:
    pipe = connection.pipeline(transaction=False)
    storage.read_results(pipe, job_id, count=count)
    (entries,) = pipe.execute()
    return [storage.decode_result_entry(result_id, fields) for result_id, fields in entries]


def _same_result(record: storage.ResultRecord, result: Result, job: Job) -> None:
    assert record.id == result.id, "rq.results.Result.restore: result ids are no longer stream ids"
    assert record.type == result.type, "rq.results.Result.serialize no longer writes 'type' as Result.Type"
    assert record.created_at == result.created_at, "rq.results.Result.restore: created_at moved"
    assert record.worker_name == result.worker_name, "rq.results.Result.serialize: 'worker_name' moved"
    assert record.exc_string == (result.exc_string or ""), "rq.results.Result.serialize: 'exc_string' changed"
    assert storage.load_return_value(record, job.serializer) == result.return_value, (
        "rq.results.Result.serialize: 'return_value' is no longer base64 of the serializer's dumps"
    )


# --- results ---------------------------------------------------------------------------------


def test_results_key_is_where_a_job_run_writes_its_results() -> None:
    queue = _queue()
    job = queue.enqueue(add, 2, 3)
    _run(queue)
    key = storage.results_key(job.id)
    assert key == Result.get_key(job.id), "rq.results.Result.get_key changed"
    assert queue.connection.type(key) == b"stream", "rq.results.Result.save no longer writes a stream there"
    assert queue.connection.xlen(key) == Result.count(job) == 1, "rq.results.Result.count disagrees"


def test_decoded_successful_results_match_rq_results() -> None:
    queue = _queue()
    job = queue.enqueue(add, 40, 2)
    _run(queue)
    queue.enqueue_job(job)  # a second run: the history is newest first, like Result.all
    _run(queue)
    records = _results(queue.connection, job.id)
    results = Result.all(job, serializer=job.serializer)
    assert len(records) == len(results) == 2, "rq.results.Result.all no longer lists every run"
    for record, result in zip(records, results, strict=True):
        _same_result(record, result, job)
    latest = Result.fetch_latest(job, serializer=job.serializer)
    assert latest is not None
    _same_result(records[0], latest, job)
    assert records[0].kind == "successful" and storage.load_return_value(records[0], job.serializer) == 42


def test_decoded_failure_matches_rq_result_and_exc_string() -> None:
    queue = _queue()
    job = queue.enqueue(fail, "it broke")
    _run(queue)
    latest = Result.fetch_latest(job, serializer=job.serializer)
    assert latest is not None and latest.type == Result.Type.FAILED
    [(_id, fields)] = queue.connection.xrevrange(storage.results_key(job.id), "+", "-", count=1)
    assert storage.decode_exc_string(fields[b"exc_string"]) == latest.exc_string, (
        "rq.results.Result.serialize: 'exc_string' is no longer base64 of zlib"
    )
    [record] = _results(queue.connection, job.id)
    _same_result(record, latest, job)
    assert record.kind == "failed" and "ValueError: it broke" in record.exc_string
    assert storage.load_return_value(record, job.serializer) is None
    assert storage.latest_exc_string(job) == latest.exc_string, "rq.job.Job.latest_result changed"


def test_every_result_type_has_a_kind() -> None:
    assert [kind.value for kind in Result.Type] == [1, 2, 3, 4, 5], "rq.results.Result.Type was renumbered"
    kinds = [
        storage.decode_result_entry("1-0", {b"type": str(kind.value).encode()}).kind for kind in Result.Type
    ]
    assert kinds == ["successful", "failed", "stopped", "retried", "max_retries_exceeded"]


def test_unreadable_result_fields_are_not_errors() -> None:
    record = storage.decode_result_entry(b"not-an-id", {b"type": b"99", b"exc_string": b"not base64 zlib"})
    assert (record.kind, record.created_at, record.exc_string) == ("unknown", None, "")
    assert storage.decode_exc_string(None) == storage.decode_exc_string(b"") == ""


@pytest.mark.parametrize("compressed", [True, False], ids=["zlib", "plain"])
def test_legacy_exc_info_reads_as_rq_reads_it(compressed: bool) -> None:
    queue = _queue()
    job = queue.enqueue(add, 1, 2)
    traceback = "Traceback (most recent call last):\nValueError: old style"
    raw = zlib.compress(traceback.encode()) if compressed else traceback.encode()
    queue.connection.hset(job.key, "exc_info", raw)
    fetched = Job.fetch(job.id, connection=queue.connection)
    with pytest.warns(DeprecationWarning):
        expected = fetched.exc_info
    assert storage.decode_legacy_exc_info(raw) == expected == traceback, (
        "rq.job.Job.restore no longer reads 'exc_info' as zlib or plain text"
    )


# --- workers ---------------------------------------------------------------------------------


def _decoded_worker(connection: redis.Redis, name: str) -> storage.WorkerRecord | None:
    key = storage.worker_key(name)
    pipe = connection.pipeline(transaction=False)
    pipe.hmget(key, storage.WORKER_FIELDS)
    pipe.smembers(storage.worker_executions_key(name))
    values, executions = pipe.execute()
    return storage.decode_worker(key, values, executions)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _reported(connection: redis.Redis, name: str) -> dict[str, Any]:
    """What ``rq.Worker.find_by_key`` reports of worker ``name``, by WorkerRecord field."""
    worker = Worker.find_by_key(storage.worker_key(name), connection=connection)
    assert worker is not None, "rq.worker.Worker.find_by_key no longer finds the worker"
    return {
        "name": worker.name,
        "queues": worker.queue_names(),
        "state": worker.get_state(),
        "birth": _utc(worker.birth_date),
        "last_heartbeat": _utc(worker.last_heartbeat),
        "successful_job_count": worker.successful_job_count,
        "failed_job_count": worker.failed_job_count,
        "total_working_time": worker.total_working_time,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "version": worker.version,
        "python_version": worker.python_version,
        "current_job_ids": [job_id] if (job_id := worker.get_current_job_id()) else [],
    }


def _same_worker(record: storage.WorkerRecord | None, reported: dict[str, Any]) -> None:
    assert record is not None, "rq.worker.Worker.register_birth no longer writes the worker hash"
    for name, value in reported.items():
        assert getattr(record, name) == value, (
            f"decode_worker's {name} != what rq.worker.Worker.find_by_key reports (Worker.refresh moved?)"
        )


def test_worker_keys_are_the_ones_rq_registers() -> None:
    connection = get_connection()
    worker = Worker([_queue(), Queue("high", connection=connection)], connection=connection, name=WORKER_NAME)
    worker.register_birth()
    assert storage.worker_key(WORKER_NAME) == worker.key, "rq.worker.Worker.key changed"
    assert storage.worker_name(worker.key) == WORKER_NAME, "rq.worker.Worker.redis_worker_namespace_prefix"
    assert storage.worker_executions_key(WORKER_NAME) == worker.executions_key, (
        "rq.worker.Worker.executions_key"
    )
    assert connection.sismember(storage.workers_key(), worker.key), "rq.worker_registration.register"
    for name in ("default", "high"):
        assert connection.sismember(storage.workers_key(name), worker.key), "rq.worker_registration.register"
    assert {storage.worker_name(key) for key in Worker.all_keys(connection=connection)} == {WORKER_NAME}
    _same_worker(_decoded_worker(connection, WORKER_NAME), _reported(connection, WORKER_NAME))
    worker.register_death()
    assert not connection.sismember(storage.workers_key(), worker.key), "rq.worker_registration.unregister"
    record = _decoded_worker(connection, WORKER_NAME)
    assert record is not None and record.death is not None, "rq.worker.Worker.register_death: 'death' moved"


def test_decoded_worker_after_jobs_matches_find_by_key() -> None:
    queue = _queue()
    queue.enqueue(add, 1, 2)
    queue.enqueue(fail, "counted")
    worker = _run(queue)
    connection = queue.connection
    assert set(storage.WORKER_FIELDS) <= {name.decode() for name in connection.hkeys(worker.key)}, (
        "rq.worker.Worker no longer writes every field of rq_compat.storage.WORKER_FIELDS"
    )
    record = _decoded_worker(connection, WORKER_NAME)
    assert record is not None and (record.successful_job_count, record.failed_job_count) == (1, 1)
    assert record.total_working_time > 0
    _same_worker(record, _reported(connection, WORKER_NAME))


def test_an_expired_worker_decodes_to_none() -> None:
    assert _decoded_worker(get_connection(), "nobody") is None


def observe_running_worker() -> dict[str, Any]:
    """A job function: returns, read while it runs, the raw storage RQ's worker wrote for it."""
    job = get_current_job()
    assert job is not None and job.worker_name
    connection = job.connection
    registry = StartedJobRegistry("default", connection=connection)
    entries = connection.zrange(registry.key, 0, -1)
    match = "return string.match(ARGV[1], ARGV[2])"
    return {
        "job_id": job.id,
        "entries": entries,
        "rq_job_ids": registry.get_job_ids(),
        "lua": [
            connection.eval(match, 0, entry, storage.STARTED_ENTRY_JOB_ID_LUA_PATTERN) for entry in entries
        ],
        "record": _decoded_worker(connection, job.worker_name),
        "reported": _reported(connection, job.worker_name),
    }


def test_a_busy_worker_and_its_started_entry() -> None:
    queue = _queue()
    job = queue.enqueue(observe_running_worker)
    _run(queue)
    assert job.get_status() == "finished", storage.latest_exc_string(job)
    seen = job.return_value()
    assert seen["job_id"] == job.id
    ids = [storage.job_id_of_started_entry(entry) for entry in seen["entries"]]
    assert ids == seen["rq_job_ids"] == [job.id], (
        "rq.registry.StartedJobRegistry entries are no longer 'job_id:execution_id'"
    )
    assert [parse_composite_key(entry.decode())[0] for entry in seen["entries"]] == ids, (
        "rq.utils.parse_composite_key disagrees with job_id_of_started_entry"
    )
    assert [lua.decode() for lua in seen["lua"]] == ids, "STARTED_ENTRY_JOB_ID_LUA_PATTERN disagrees"
    record = seen["record"]
    assert record.current_job_ids == seen["reported"]["current_job_ids"] == [job.id], (
        "rq.worker.Worker.executions_key no longer holds 'job_id:execution_id' of the running job"
    )
    assert record.state == "busy", "rq.worker.Worker.set_state: 'state' moved"
    _same_worker(record, seen["reported"])


# --- suspension and scheduler locks ----------------------------------------------------------


def test_suspend_writes_suspended_key() -> None:
    connection = get_connection()
    suspend(connection)
    assert connection.exists(storage.suspended_key()), "rq.suspension.suspend: key moved"
    assert is_suspended(connection)
    resume(connection)
    assert not connection.exists(storage.suspended_key()), "rq.suspension.resume no longer deletes it"


def test_scheduler_lock_key_holds_the_scheduler_name() -> None:
    connection = get_connection()
    scheduler = RQScheduler(["default", "high"], connection=connection)
    assert scheduler.acquire_locks() == {"default", "high"}
    for name in ("default", "high"):
        assert connection.get(storage.scheduler_lock_key(name)) == scheduler.name.encode(), (
            "rq.scheduler.RQScheduler.acquire_locks no longer writes its name at get_locking_key(queue)"
        )
    scheduler.release_locks()
    assert connection.get(storage.scheduler_lock_key("default")) is None, (
        "rq.scheduler.RQScheduler.release_locks"
    )


def test_scheduler_key_holds_the_scheduler_pid() -> None:
    connection = get_connection()
    scheduler = RQScheduler(["default"], connection=connection)
    scheduler.register_birth()
    assert connection.hget(storage.scheduler_key(scheduler.name), "pid") == str(os.getpid()).encode(), (
        "rq.scheduler.RQScheduler.key no longer keeps the pid at SCHEDULER_KEY_TEMPLATE % name; "
        "update rq_compat.storage.scheduler_key"
    )
