from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.test import override_settings
from rq.job import Job

from django_taskq import get_connection, get_queue, job
from django_taskq.decorators import JobFunction
from django_taskq.testing import run_jobs
from tests.testapp.jobs import multiply, shout, whisper


def test_plain_call_runs_inline() -> None:
    assert multiply(6, 7) == 42
    assert isinstance(multiply, JobFunction)
    assert multiply.__name__ == "multiply"
    assert get_queue().count == 0


def test_delay_enqueues_on_the_decorators_queue_with_its_options() -> None:
    job_ = shout.delay("hi")
    assert job_.origin == "high"
    assert job_.result_ttl == 123
    assert get_queue("high").job_ids == [job_.id]
    assert whisper.delay("SH").timeout == 7
    assert run_jobs("high").finished[0].return_value() == "HI"


def test_delay_reads_rq_job_options_from_kwargs() -> None:
    parent = multiply.delay(1, 1)
    child = multiply.delay(2, 2, job_id="child-1", depends_on=parent, meta={"k": "v"})
    fetched = Job.fetch("child-1", connection=get_connection())
    assert fetched.meta == {"k": "v"}
    assert fetched.dependency_ids == [parent.id]
    assert child.id == "child-1"


def test_enqueue_with_explicit_args_and_overrides() -> None:
    job_ = shout.enqueue(args=("a",), result_ttl=5, job_timeout=3)
    assert (job_.result_ttl, job_.timeout) == (5, 3)
    assert tuple(job_.args) == ("a",)


def test_queue_is_looked_up_at_enqueue_time_not_import_time() -> None:
    @job("late-queue")
    def late() -> int:
        return 1

    with pytest.raises(KeyError, match="late-queue"):
        late.delay()
    from django.conf import settings

    queues = {**settings.RQ_QUEUES, "late-queue": {"URL": settings.REDIS_URL}}
    with override_settings(RQ_QUEUES=queues):
        assert late.delay().origin == "late-queue"


def test_bare_decorator_and_queue_object() -> None:
    @job
    def bare() -> None: ...

    @job(get_queue("low"), timeout=9)
    def on_object() -> None: ...

    assert bare.queue == "default"
    assert on_object.get_queue().name == "low"
    with pytest.raises(TypeError, match="connection"):
        job("default", connection=object())


def test_type_checker_knows_delay_signature(tmp_path: Path) -> None:
    from mypy import api as mypy_api

    source = tmp_path / "typed_use.py"
    source.write_text(
        textwrap.dedent(
            """
            from rq.job import Job
            from django_taskq import job

            @job("high")
            def area(width: int, height: int) -> int:
                return width * height

            ok: Job = area.delay(2, 3)
            direct: int = area(2, 3)
            wrong = area.delay("2")
            """
        )
    )
    out, _err, status = mypy_api.run([str(source), "--no-incremental", "--config-file", "", "--strict"])
    assert status == 1
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 2, out  # wrong argument type and missing argument, both on the last line
    assert all("typed_use.py:11:" in line for line in errors), out


def test_job_function_is_the_module_function_and_pickles_by_reference() -> None:
    import pickle

    from tests.testapp import jobs

    assert pickle.loads(pickle.dumps(multiply)) is jobs.multiply  # noqa: S301  (our own bytes)
    assert pickle.loads(pickle.dumps([shout, whisper])) == [jobs.shout, jobs.whisper]  # noqa: S301


@pytest.mark.django_db(transaction=True)
def test_job_functions_are_accepted_by_every_enqueue_path() -> None:
    from datetime import timedelta

    from django.db import transaction
    from rq import Retry

    import django_taskq

    direct = django_taskq.enqueue(multiply, 2, 3)
    via_queue = get_queue("default").enqueue(multiply, 3, 4, retry=Retry(max=1))
    dependent = get_queue("default").enqueue(multiply, 4, 5, depends_on=direct)
    with transaction.atomic():
        in_commit = django_taskq.enqueue(shout, "later")
    scheduled = django_taskq.enqueue_in(timedelta(seconds=30), multiply, 5, 6)
    for item in (direct, via_queue, dependent, in_commit, scheduled):
        assert item.func_name in ("tests.testapp.jobs.multiply", "tests.testapp.jobs.shout")
    report = run_jobs("default", "high")
    assert sorted(str(job_.return_value()) for job_ in report.finished) == ["12", "20", "6", "LATER"]
    assert scheduled.get_status(refresh=True) == "scheduled"


def test_job_function_as_failure_callback_and_no_wrapper_frame_in_tracebacks() -> None:
    from rq import Callback

    from tests.testapp.jobs import explode, note_failure

    failing = get_queue("default").enqueue(explode, "kaboom", on_failure=Callback(note_failure))
    report = run_jobs("default")
    assert [job_.id for job_ in report.failed] == [failing.id]
    assert get_connection().lrange("taskq-test:failure-callbacks", 0, -1) == [failing.id.encode()]
    traceback_text = str(failing.latest_result().exc_string)  # type: ignore[union-attr]
    assert "RuntimeError: kaboom" in traceback_text
    assert "decorators.py" not in traceback_text
