"""What monitoring tools see: sentry-sdk's RqIntegration on every enqueue path and in every
worker kind (a real sentry-sdk, delivering to a local envelope receiver), OpenTelemetry spans,
and job-aware logs. The rq_compat side is proven in tests/test_rq_compat_hooks.py.

The sentry tests run the enqueuing side and the worker as subprocesses with
``tests.observability_settings``: sentry-sdk patches RQ's classes for good, never in pytest's process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from django_taskq import enqueue, get_queue
from django_taskq.log import JobContextFilter, JsonFormatter, job_context
from tests.command_helpers import ROOT, subprocess_env, wait_for
from tests.observability_helpers import EnvelopeReceiver, error_tags, fail, traced
from tests.worker_helpers import output, run, running, stop

SETTINGS = "tests.observability_settings"


# --- sentry-sdk in every worker kind --------------------------------------------------------


def enqueue_in_subprocess(receiver: EnvelopeReceiver, *paths: str) -> str:
    """Enqueue a failing job per path inside one Sentry transaction; its trace id."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.observability_helpers", "enqueue", *paths],
        env=subprocess_env(DJANGO_SETTINGS_MODULE=SETTINGS, TASKQ_TEST_SENTRY_DSN=receiver.dsn),
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def job_events(
    receiver: EnvelopeReceiver, tags: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The error events of our failing jobs, and the transactions of the jobs."""
    errors = [event for event in receiver.events("event") if set(error_tags(event)) & set(tags)]
    transactions = [
        event
        for event in receiver.events("transaction")
        if event.get("contexts", {}).get("trace", {}).get("op") == "queue.task.rq"
    ]
    return errors, transactions


def assert_traced(receiver: EnvelopeReceiver, trace_id: str, tags: list[str]) -> None:
    errors, transactions = job_events(receiver, tags)
    assert sorted(tag for event in errors for tag in error_tags(event)) == sorted(tags), (
        errors
    )  # no duplicates
    for event in errors:
        assert event["contexts"]["trace"]["trace_id"] == trace_id, (error_tags(event), event["contexts"])
    assert len(transactions) == len(tags), transactions
    assert {event["contexts"]["trace"]["trace_id"] for event in transactions} == {trace_id}


WORKER_KINDS = {
    "prefork": ("rqworker", "--burst"),
    "fork": ("rqworker", "--burst", "--worker-class", "fork"),
    "simple": ("rqworker", "--burst", "--worker-class", "simple"),
    "pool": ("rqworker-pool", "--burst", "--num-workers", "2"),
}


@pytest.mark.parametrize("kind", list(WORKER_KINDS))
def test_a_failing_jobs_event_carries_the_enqueuing_trace(kind: str, processes: None) -> None:
    with EnvelopeReceiver().running() as receiver:
        trace_id = enqueue_in_subprocess(receiver, "immediate")
        result = run(*WORKER_KINDS[kind], settings=SETTINGS, TASKQ_TEST_SENTRY_DSN=receiver.dsn)
        assert result.returncode == 0, result.stderr
        assert_traced(receiver, trace_id, ["immediate"])


def test_every_enqueue_path_carries_the_trace(processes: None) -> None:
    paths = ["immediate", "commit", "many", "task", "scheduled"]
    with EnvelopeReceiver().running() as receiver:
        trace_id = enqueue_in_subprocess(receiver, *paths)
        result = run(
            "rqworker", "--burst", "--with-scheduler", settings=SETTINGS, TASKQ_TEST_SENTRY_DSN=receiver.dsn
        )
        assert result.returncode == 0, result.stderr
        assert_traced(receiver, trace_id, paths)


@pytest.mark.parametrize("kind", ["prefork", "pool"])
def test_a_slow_sentry_still_gets_the_events_of_a_burst(kind: str, processes: None) -> None:
    with EnvelopeReceiver(delay=1.0).running() as receiver:
        trace_id = enqueue_in_subprocess(receiver, "immediate")
        result = run(*WORKER_KINDS[kind], settings=SETTINGS, TASKQ_TEST_SENTRY_DSN=receiver.dsn)
        assert result.returncode == 0, result.stderr
        assert_traced(receiver, trace_id, ["immediate"])


@pytest.mark.parametrize("command", ["rqworker", "rqworker-pool"])
def test_sigterm_right_after_a_job_loses_no_event(command: str, processes: None) -> None:
    with EnvelopeReceiver(delay=1.0).running() as receiver:
        trace_id = enqueue_in_subprocess(receiver, "immediate")
        with running(command, settings=SETTINGS, TASKQ_TEST_SENTRY_DSN=receiver.dsn) as worker:
            registry = get_queue().failed_job_registry
            wait_for(lambda: registry.count == 1, timeout=60, what="the job to fail")
            assert stop(worker) == 0, output(worker)
        assert_traced(receiver, trace_id, ["immediate"])


@pytest.mark.parametrize("kind", list(WORKER_KINDS))
def test_opentelemetry_spans_of_a_job_are_exported_before_the_process_exits(
    kind: str, processes: None, tmp_path: Path
) -> None:
    spans = tmp_path / "spans.txt"
    enqueue(traced, "the job's span")
    result = run(*WORKER_KINDS[kind], settings=SETTINGS, TASKQ_TEST_OTEL_FILE=str(spans))
    assert result.returncode == 0, result.stderr
    assert spans.read_text().splitlines() == ["the job's span"]


# --- logs that name their job ---------------------------------------------------------------


def _record(message: str = "hello", exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("shop", logging.INFO, __file__, 1, message, (), exc_info)


def test_the_filter_names_the_job_being_handled_and_nothing_outside() -> None:
    job = get_queue().create_job(fail, args=("x",))
    outside = _record()
    assert JobContextFilter().filter(outside) is True
    assert (outside.job_id, outside.job_queue, outside.job_func) == (None, None, None)  # type: ignore[attr-defined]
    job.origin = "default"
    with job_context(job):
        inside = _record()
        JobContextFilter().filter(inside)
    assert (inside.job_id, inside.job_queue, inside.job_func) == (  # type: ignore[attr-defined]
        job.id,
        "default",
        "tests.observability_helpers.fail",
    )


def test_the_json_formatter_writes_one_object_per_record() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        record = _record("sent %s", exc_info=sys.exc_info())
    record.args = ({"not": "json"},)  # any value: written with str()
    JobContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "sent {'not': 'json'}"
    assert (entry["level"], entry["logger"], entry["job_id"]) == ("INFO", "shop", None)
    assert entry["time"].endswith("+00:00")
    assert "ValueError: broken" in entry["exc_info"]


@pytest.mark.parametrize("kind", ["prefork", "fork"])
def test_every_record_of_a_job_names_it_in_json(kind: str, processes: None) -> None:
    job = enqueue(fail, "logged")
    result = run(
        "rqworker", "--burst", "--worker-class", kind, settings=SETTINGS, TASKQ_TEST_LOG_FORMAT="json"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    ours = [record for record in records if record["logger"] == "tests.observability"]
    assert [record["message"] for record in ours] == ["failing on purpose: logged"]
    assert ours[0]["job_id"] == job.id
    assert ours[0]["job_queue"] == "default"
    assert ours[0]["job_func"] == "tests.observability_helpers.fail"
    assert ours[0]["level"] == "INFO"
    failure = [record for record in records if "exception raised while executing" in record["message"]]
    assert failure and failure[0]["job_id"] == job.id  # the worker's record of the job's outcome too
    outside = [record for record in records if record["message"].endswith("done, quitting")]
    assert outside and outside[0]["job_id"] is None
