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
