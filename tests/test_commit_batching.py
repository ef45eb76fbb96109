"""How the jobs of one commit reach Redis together: one pipeline per connection, counted by Redis.

The last of our on_commit callbacks of a commit writes every job of that commit. It knows it
is the last from the callbacks Django still holds, which relies on Django freeing a dropped
callback at once: the tests that disable the garbage collector prove that nothing but Django
keeps a callback alive.
"""

from __future__ import annotations

import gc
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished
from django.db import transaction
from django.utils import timezone
from rq.job import Job

import django_taskq
from django_taskq import enqueue, get_queue
from django_taskq.transactions import _state
from tests.testapp.jobs import add, multiply

ALIASES = list(settings.DATABASES)
ALL = pytest.mark.django_db(transaction=True, databases=ALIASES)
needs_two_databases = pytest.mark.skipif(
    len(ALIASES) < 2, reason="needs a second database (PostgreSQL alias 'pg')"
)


def queued_ids(name: str = "default") -> list[str]:
    return get_queue(name).job_ids


@contextmanager
def commands_counted(client: redis.Redis) -> Iterator[Callable[[str], int]]:
    """Calls of each Redis command during the block, as the server counts them (INFO commandstats)."""

    def calls(stats: dict[str, dict[str, int]], name: str) -> int:
        return stats.get(f"cmdstat_{name}", {}).get("calls", 0)

    before = client.info("commandstats")
    after: dict[str, dict[str, int]] = {}
    yield lambda name: calls(after, name) - calls(before, name)
    after.update(client.info("commandstats"))


def pipelines_and_scripts(count: Callable[[str], int]) -> tuple[int, int]:
    """(MULTI/EXEC pipelines, lone writes): a job written alone is one script call."""
    assert count("multi") == count("exec")
    return count("multi"), count("evalsha") + count("eval")


def pending_hooks(alias: str) -> dict[int, None]:
    hooks = _state.pending_hooks.get(alias)
    return hooks.numbers if hooks is not None else {}


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Only reference counting frees objects: a callback kept alive by a cycle would show."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
def warm() -> None:
    get_queue().get_redis_server_version()  # not counted as part of the commit


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_one_transaction_is_one_pipeline(alias: str, redis_client: redis.Redis, warm: None) -> None:
    queue = get_queue()
    with commands_counted(redis_client) as count, transaction.atomic(using=alias):
        kept = [multiply.delay(i, i) for i in range(200)]
        with transaction.atomic(using=alias):
            kept.append(enqueue(add, 1, 2))
        with pytest.raises(ValueError), transaction.atomic(using=alias):
            multiply.delay(0, 0)
            raise ValueError
        later = queue.enqueue_at(timezone.now() + timezone.timedelta(minutes=5), add, 3, 4)
        kept.append(queue.enqueue(add, 5, 6))
        assert queued_ids() == []
    assert pipelines_and_scripts(count) == (1, 0)
    assert queued_ids() == [job.id for job in kept]
    assert queue.scheduled_job_registry.get_job_ids() == [later.id]
    assert pending_hooks(alias) == {}


@ALL
def test_one_pipeline_per_redis_connection(redis_client: redis.Redis, warm: None) -> None:
    get_queue("other-db").get_redis_server_version()
    with commands_counted(redis_client) as count, transaction.atomic():
        here = [enqueue(add, i, i) for i in range(3)]
        there = [get_queue("other-db").enqueue(add, i, i) for i in range(3)]
        here.append(enqueue(add, 9, 9))
    assert pipelines_and_scripts(count) == (2, 0)
    assert queued_ids() == [job.id for job in here]
    assert queued_ids("other-db") == [job.id for job in there]


@ALL
@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize(
    "shape",
    [
        "rolled-back savepoint last",
        "rolled-back savepoint inside a kept one",
        "kept savepoint inside a rolled-back one",
    ],
)
def test_jobs_dropped_by_a_savepoint_free_their_callback_at_once(
    alias: str, shape: str, no_gc: None, redis_client: redis.Redis, warm: None
) -> None:
    def rolled_back(*enqueues: Callable[[], object]) -> None:
        with pytest.raises(ValueError), transaction.atomic(using=alias):
            for call in enqueues:
                call()
            raise ValueError

    with commands_counted(redis_client) as count, transaction.atomic(using=alias):
        kept = [enqueue(add, 1, 1), enqueue(add, 2, 2)]
        if shape == "rolled-back savepoint last":
            rolled_back(lambda: enqueue(add, 3, 3))
        elif shape == "rolled-back savepoint inside a kept one":
            with transaction.atomic(using=alias):
                kept.append(enqueue(add, 4, 4))
                rolled_back(lambda: enqueue(add, 5, 5), lambda: rolled_back(lambda: enqueue(add, 6, 6)))
        else:

            def kept_inside() -> None:
                with transaction.atomic(using=alias):
                    enqueue(add, 7, 7)

            rolled_back(kept_inside, lambda: enqueue(add, 8, 8))
        assert len(pending_hooks(alias)) == len(kept)  # the dropped ones are gone already
    assert pipelines_and_scripts(count) == (1, 0)
    assert queued_ids() == [job.id for job in kept]
    assert pending_hooks(alias) == {}


@ALL
@pytest.mark.parametrize("alias", ALIASES)
def test_a_rollback_frees_every_callback(alias: str, no_gc: None) -> None:
    with pytest.raises(ValueError), transaction.atomic(using=alias):
        [enqueue(add, i, i) for i in range(5)]
        assert len(pending_hooks(alias)) == 5
        raise ValueError
    assert pending_hooks(alias) == {}
    with transaction.atomic(using=alias):
        job = enqueue(add, 1, 1)
    assert queued_ids() == [job.id]


@needs_two_databases
@ALL
def test_jobs_waiting_for_two_databases_are_written_together(redis_client: redis.Redis, warm: None) -> None:
    with commands_counted(redis_client) as count, transaction.atomic(using="default"):
        first = enqueue(add, 1, 1)
        with transaction.atomic(using="pg"):
            both = [enqueue(add, 2, 2), enqueue(add, 3, 3)]
        assert queued_ids() == []  # pg committed, default still open
        last = enqueue(add, 4, 4)
    assert pipelines_and_scripts(count) == (1, 0)
    assert queued_ids() == [first.id, *(job.id for job in both), last.id]
    assert pending_hooks("default") == pending_hooks("pg") == {}


@needs_two_databases
@ALL
def test_each_commit_writes_the_jobs_it_completes(redis_client: redis.Redis, warm: None) -> None:
    on_default, on_pg = transaction.atomic(using="default"), transaction.atomic(using="pg")
    on_default.__enter__()
    on_pg.__enter__()
    try:  # the blocks end out of order: no `with`, but neither may outlive the test
        try:
            both = [enqueue(add, 1, 1), enqueue(add, 2, 2)]
        finally:
            on_default.__exit__(None, None, None)
        pg_only = [enqueue(add, 3, 3), enqueue(add, 4, 4)]
        assert queued_ids() == []
    except BaseException:
        on_pg.__exit__(*sys.exc_info())
        raise
    with commands_counted(redis_client) as count:
        on_pg.__exit__(None, None, None)
    assert pipelines_and_scripts(count) == (1, 0)
    assert queued_ids() == [job.id for job in both + pg_only]


@ALL
def test_a_commit_cut_short_by_another_apps_callback(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("another app's callback")

    with pytest.raises(RuntimeError, match="another app"), transaction.atomic():
        first = enqueue(add, 1, 1)
        transaction.on_commit(broken)
        second = enqueue(add, 2, 2)
    # Django ran no callback after the failing one: the job whose callback never ran is
    # dropped (Django's rule for every callback), and said so at once.
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert any(second.id in message and "'default' committed" in message for message in errors), errors
    assert pending_hooks("default") == {}
    assert queued_ids() == []
    request_finished.send(sender=None)  # the end of the request writes what the commit collected
    assert queued_ids() == [first.id]


@ALL
def test_a_transaction_committed_by_another_apps_callback(redis_client: redis.Redis, warm: None) -> None:
    def commits_its_own() -> None:
        with transaction.atomic():
            inner.append(enqueue(add, 3, 3))

    inner: list[Job] = []
    with transaction.atomic():
        first = enqueue(add, 1, 1)
        transaction.on_commit(commits_its_own)
        last = enqueue(add, 2, 2)
    written = queued_ids()
    assert sorted(written) == sorted([first.id, inner[0].id, last.id])
    assert pending_hooks("default") == {}


@pytest.mark.django_db
def test_captured_callbacks_write_their_jobs_in_one_pipeline(
    django_capture_on_commit_callbacks, redis_client: redis.Redis, warm: None
) -> None:
    before = enqueue(add, 0, 0)  # its callback is not captured, so never run
    capture = django_capture_on_commit_callbacks
    with commands_counted(redis_client) as count, capture(execute=True) as callbacks:
        jobs = [enqueue(add, 1, 1), multiply.delay(2, 2), enqueue(add, 3, 3)]
        assert queued_ids() == []
    assert pipelines_and_scripts(count) == (1, 0)
    assert queued_ids() == [job.id for job in jobs]
    callbacks[0]()  # run again by hand: written once
    assert queued_ids() == [job.id for job in jobs]
    assert before.id not in queued_ids()


def test_no_stack_frame_reading_in_the_package() -> None:
    package = Path(django_taskq.__file__).parent
    pattern = re.compile(r"sys\._getframe|inspect\.currentframe|f_locals|f_back")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
