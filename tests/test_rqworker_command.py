"""rqworker as a real process: bad input, exit codes, priority order, signals, --pid, --reload."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import pytest
from rq import Queue, Retry
from rq.job import Job, JobStatus

from django_taskq.connections import get_connection
from django_taskq.embedded import free_port
from tests.worker_helpers import order, output, run, running, started, status, wait_for

pytestmark = pytest.mark.usefixtures("processes")  # every test here starts processes

KINDS = ["prefork", "fork", "simple"]


def enqueue(func: str, *args: object, queue: str = "default", **options: object) -> Job:
    return Queue(queue, connection=get_connection(queue)).enqueue(func, *args, **options)


def assert_clean_error(result: object, *fragments: str) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def test_help_documents_every_flag() -> None:
    result = run("rqworker", "--help")
    assert result.returncode == 0
    for flag in ("--burst", "--with-scheduler", "--with-cron", "--name", "--worker-class", "--queue-class",
                 "--job-class", "--serializer", "--worker-ttl", "--max-jobs", "--max-idle-time",
                 "--dequeue-strategy", "--pid", "--logging-level", "--reload"):  # fmt: skip
        assert flag in result.stdout


def test_unknown_queue_is_a_clean_error() -> None:
    assert_clean_error(run("rqworker", "default", "nope", "--burst"), "Unknown queue 'nope'")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-jobs", "0"], "must be greater than 0"),
        (["--worker-ttl", "soon"], "not a whole number"),
        (["--max-idle-time", "-3"], "must be greater than 0"),
        (["--worker-class", "not a path"], "neither a worker kind"),
        (["--worker-class", "no.such.Worker"], "Cannot use that class"),
        (["--worker-class", "tests.testapp.worker_jobs.record"], "not an RQ worker class"),
        (["--job-class", "no.such.Job"], "Cannot use that class"),
        (["--queue-class", "no.such.Queue"], "Cannot use that class"),
        (["--serializer", "no.such.serializer"], "Cannot use that class"),
        (["--dequeue-strategy", "fifo"], "invalid choice"),
        (["--logging-level", "LOUD"], "invalid choice"),
    ],
)
def test_bad_flag_values_are_clean_errors(args: list[str], fragment: str) -> None:
    assert_clean_error(run("rqworker", "--burst", *args), fragment)


def test_queues_on_different_connections_are_refused() -> None:
    assert_clean_error(run("rqworker", "default", "other-db", "--burst"), "different Redis connections")


def test_unreachable_redis_names_the_server_but_not_the_password() -> None:
    port = free_port()
    result = run("rqworker", "--burst", TASKQ_TEST_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0")
    assert_clean_error(result, f"127.0.0.1:{port}", "Cannot reach Redis")
    assert result.returncode == 3
    assert "s3cret" not in result.stderr + result.stdout


def test_burst_serves_queues_in_priority_order() -> None:
    for number in (1, 2):
        enqueue("tests.testapp.worker_jobs.record", f"low{number}", queue="low")
        enqueue("tests.testapp.worker_jobs.record", f"default{number}")
        enqueue("tests.testapp.worker_jobs.record", f"high{number}", queue="high")
    result = run("rqworker", "high", "default", "low", "--burst")
    assert result.returncode == 0, result.stderr
    assert order() == ["high1", "high2", "default1", "default2", "low1", "low2"]


@pytest.mark.parametrize("kind", ["prefork", "fork", "simple", "inprocess", "spawn"])
def test_every_worker_kind_runs_jobs_and_counts_outcomes(kind: str) -> None:
    ok = enqueue("tests.testapp.worker_jobs.record", "ok")
    bad = enqueue("tests.testapp.jobs.fail", "nope")
    result = run("rqworker", "--burst", "--worker-class", kind)
    assert result.returncode == 0, result.stderr
    assert (status(ok), status(bad)) == (JobStatus.FINISHED, JobStatus.FAILED)
    handled = [item.decode() for item in get_connection().lrange("taskq-test:handled", 0, -1)]
    assert handled == [f"{bad.id}:ValueError"]  # RQ_EXCEPTION_HANDLERS ran
    totals = get_connection().hgetall("taskq:totals:default")
    assert (totals[b"finished"], totals[b"failed"]) == (b"1", b"1")


def test_dotted_worker_class_and_max_jobs() -> None:
    for tag in ("a", "b", "c"):
        enqueue("tests.testapp.worker_jobs.record", tag)
    result = run("rqworker", "--worker-class", "django_taskq.workers.DjangoSimpleWorker", "--max-jobs", "2")
    assert result.returncode == 0, result.stderr
    assert order() == ["a", "b"]


def test_pid_file_is_written_and_removed(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    with running("rqworker", "--pid", str(pid_file)) as worker:
        wait_for(pid_file.exists, what="the pid file")
        assert pid_file.read_text().strip() == str(worker.pid)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert not pid_file.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_sigterm_finishes_the_current_job_then_exits_0(kind: str) -> None:
    job = enqueue("tests.testapp.worker_jobs.slow", 2, "done")
    with running("rqworker", "--worker-class", kind) as worker:
        wait_for(started, what="the job to start")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, output(worker)
    assert status(job) == JobStatus.FINISHED
    assert order() == ["done"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("retry", [False, True])
def test_second_signal_stops_the_job_which_fails_or_is_retried(kind: str, retry: bool) -> None:
    options = {"retry": Retry(max=1)} if retry else {}
    job = enqueue("tests.testapp.worker_jobs.slow", 60, "never", **options)
    with running("rqworker", "--worker-class", kind) as worker:
        wait_for(started, what="the job to start")
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # RQ ignores a repeated signal within 1 s (a pool may relay the same one)
        assert worker.poll() is None
        worker.send_signal(signal.SIGINT)
        worker.wait(45)
    expected = JobStatus.QUEUED if retry else JobStatus.FAILED
    assert status(job) == expected
    assert order() == []
    if retry:
        assert Queue("default", connection=get_connection()).job_ids == [job.id]


def test_with_scheduler_runs_jobs_enqueued_in_the_future() -> None:
    queue = Queue("default", connection=get_connection())
    with running("rqworker", "--with-scheduler") as worker:
        scheduled = time.time() + 2
        from datetime import timedelta

        job = queue.enqueue_in(timedelta(seconds=2), "tests.testapp.worker_jobs.record", "later")
        # The job's function records "later" a moment before the worker marks the job finished.
        wait_for(lambda: status(job) == JobStatus.FINISHED, timeout=30, what="the scheduled job")
        assert order() == ["later"]
        job.refresh()
        assert job.ended_at is not None
        # RQ's scheduled registry keeps whole seconds: a job is due from the start of its second.
        assert job.ended_at.timestamp() >= math.floor(scheduled)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0


def test_reload_restarts_the_worker_when_code_changes(tmp_path: Path) -> None:
    module = tmp_path / "taskq_reload_probe.py"
    module.write_text("VALUE = 1\n")
    pid_file = tmp_path / "worker.pid"
    with running("rqworker", "--reload", "--pid", str(pid_file), PYTHONPATH=str(tmp_path)) as worker:
        enqueue("tests.testapp.worker_jobs.load_module", "taskq_reload_probe")
        wait_for(pid_file.exists, what="the first worker")
        first = pid_file.read_text().strip()
        wait_for(lambda: get_connection().exists("taskq:totals:default"), timeout=60, what="the probe job")
        edits = iter(range(2, 10_000))

        def restarted() -> bool:
            # The reloader only sees edits made after its first snapshot that includes the probe
            # module, and a loaded machine may take seconds to get there: edit until it notices.
            module.write_text(f"VALUE = {next(edits)}\n")
            return pid_file.exists() and pid_file.read_text().strip() not in ("", first)

        wait_for(restarted, timeout=90, what="a restarted worker")
        enqueue("tests.testapp.worker_jobs.record", "after-reload")
        wait_for(lambda: order() == ["after-reload"], timeout=60, what="the restarted worker to run a job")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    assert "changed" in output(worker)


def test_with_cron_enqueues_periodic_jobs() -> None:
    import json

    cron = [{"func": "tests.testapp.worker_jobs.record", "args": ["cron"], "interval": 1, "name": "w"}]
    with running(
        "rqworker", "--with-cron", settings="tests.cron_settings", TASKQ_TEST_CRON=json.dumps(cron)
    ) as w:
        wait_for(lambda: "cron" in order(), timeout=90, what="a cron job to run")
        w.send_signal(signal.SIGTERM)
        assert w.wait(30) == 0


def test_with_cron_rejects_an_invalid_rq_cron() -> None:
    import json

    cron = [{"func": "tests.testapp.worker_jobs.record", "cron": "not a cron"}]
    result = run(
        "rqworker", "--burst", "--with-cron", settings="tests.cron_settings", TASKQ_TEST_CRON=json.dumps(cron)
    )
    assert_clean_error(result, "RQ_CRON")
