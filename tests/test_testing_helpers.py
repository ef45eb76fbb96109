from __future__ import annotations

from datetime import timedelta

from rq import Retry

from django_taskq import enqueue, get_queue
from django_taskq.testing import capture_jobs, empty_queues, run_jobs
from tests.testapp.jobs import add, fail, multiply, shout


def test_run_jobs_reports_finished_and_failed_in_priority_order() -> None:
    low = get_queue("low").enqueue(add, 1, 1)
    bad = enqueue(fail, "nope")
    high = shout.delay("x")
    report = run_jobs("high", "default", "low")
    assert [job.id for job in report.finished] == [high.id, low.id]
    assert [job.id for job in report.failed] == [bad.id]
    assert [job.id for job in report.ran] == [high.id, low.id, bad.id]
    assert get_queue("low").count == 0


def test_run_jobs_max_jobs_and_retries() -> None:
    enqueue(add, 1, 1)
    enqueue(add, 2, 2)
    assert len(run_jobs(max_jobs=1).ran) == 1
    retried = enqueue(fail, retry=Retry(max=1))
    report = run_jobs()
    assert [job.id for job in report.failed] == [retried.id]  # tried twice, failed for good
    assert report.failed[0].retries_left == 0


def test_run_jobs_with_scheduled() -> None:
    due = get_queue().enqueue_in(timedelta(seconds=-1), add, 2, 3)
    later = get_queue().enqueue_in(timedelta(hours=1), add, 4, 5)
    report = run_jobs(with_scheduled=True)
    assert [job.id for job in report.finished] == [due.id]
    assert later.id in get_queue().scheduled_job_registry.get_job_ids()


def test_capture_jobs_outside_transactions() -> None:
    with capture_jobs() as captured:
        multiply.delay(2, 5)
        shout.delay("a")
    assert [job.origin for job in captured.jobs] == ["default", "high"]
    assert [job.func_name for job in captured.for_queue("high")] == ["tests.testapp.jobs.shout"]
    enqueue(add, 9, 9)  # after the block: not captured
    assert len(captured.jobs) == 2


def test_empty_queues_clears_queue_and_registries() -> None:
    enqueue(add, 1, 1)
    enqueue(fail)
    run_jobs()
    enqueue(add, 1, 1)
    empty_queues("default")
    queue = get_queue()
    assert queue.count == 0
    assert queue.failed_job_registry.count == 0
    assert queue.finished_job_registry.count == 0
