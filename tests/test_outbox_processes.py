"""The outbox with real processes, on a SQLite file and on PostgreSQL.

A web-like process (``tests.outbox_web``) commits transactions that enqueue ``record`` jobs;
the test stops, pauses and restarts a Redis server of its own under it, SIGKILLs it between
its commit and its push, and races it against relays. Every committed job must then reach its
queue exactly once (queue entries and job hashes counted), and run exactly once.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connections

from django_taskq.embedded import EmbeddedRedis
from django_taskq.outbox import cleanup
from django_taskq.outbox.push import MARKER_PREFIX
from django_taskq.outbox.rows import decode_jobs
from tests.command_helpers import ROOT, manage, manage_argv, subprocess_env, wait_for
from tests.testapp.worker_jobs import ORDER_KEY

HAS_PG = "pg" in settings.DATABASES
DATABASES = ["default", "pg"] if HAS_PG else ["default"]
pytestmark = [
    pytest.mark.django_db(transaction=True, databases=DATABASES),
    pytest.mark.usefixtures("processes"),
]
TABLE = "django_taskq_outboxjob"


@dataclass
class Shared:
    """The database and Redis server the test shares with its processes."""

    db: str  # TASKQ_TEST_OUTBOX_DB
    server: EmbeddedRedis
    logs: Path  # what the processes write

    def env(self, mode: str = "outbox") -> dict[str, str]:
        return {
            "TASKQ_TEST_OUTBOX_DB": self.db,
            "TASKQ_TEST_OUTBOX_REDIS": self.server.url,
            "TASKQ_TEST_OUTBOX_MODE": mode,
        }

    @property
    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.server.url)

    def stored_ids(self) -> list[str]:
        """The ids of the jobs in the outbox (a row holds one or more)."""
        kind, _, name = self.db.partition(":")
        if kind == "sqlite":
            with sqlite3.connect(name, timeout=20) as db:
                states = [row[0] for row in db.execute(f"SELECT state FROM {TABLE}")]  # noqa: S608
        else:
            with connections["pg"].cursor() as cursor:
                cursor.execute(f"SELECT state FROM {TABLE}")  # noqa: S608
                states = [row[0] for row in cursor.fetchall()]
        return [job_id for state in states for job_id, _fields, _priority in decode_jobs(state)]

    def stop_redis(self) -> None:
        """Shut the server down, its data saved (then connections are refused)."""
        self.client.shutdown(save=True)
        assert self.server.process is not None
        self.server.process.wait(30)
        self.server.process = None

    def start_redis(self) -> None:
        self.server.start()  # same port and directory: the saved data comes back

    def signal_redis(self, sig: int) -> None:
        assert self.server.process is not None
        os.kill(self.server.process.pid, sig)


@pytest.fixture(params=["sqlite", "pg"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    if request.param == "pg":
        if not HAS_PG:
            pytest.skip("PostgreSQL is not reachable")
        db = f"pg:{connections['pg'].settings_dict['NAME']}"
    else:
        db = f"sqlite:{tmp_path / 'outbox.sqlite3'}"
    server = EmbeddedRedis(tmp_path / "redis").start()
    (tmp_path / "logs").mkdir()
    state = Shared(db, server, tmp_path / "logs")
    if request.param == "sqlite":
        done = manage("migrate", "--skip-checks", settings="tests.outbox_settings", **state.env())
        assert done.returncode == 0, done.stderr
    try:
        yield state
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)  # a paused server cannot stop
        server.stop()


def start(shared: Shared, *args: str, mode: str = "outbox", module: bool = False) -> subprocess.Popen[str]:
    """A command (or, ``module``, the web-like process, whose stdout the test reads) with the
    shared settings. What else it writes goes to files (a full pipe would block it): ``logs``."""
    argv = (
        [sys.executable, "-m", "tests.outbox_web", *args]
        if module
        else manage_argv(*args, "--skip-checks", settings="tests.outbox_settings")
    )
    env = subprocess_env(**shared.env(mode), DJANGO_SETTINGS_MODULE="tests.outbox_settings")
    base = shared.logs / f"{len(list(shared.logs.iterdir()))}-{args[0]}"
    out_path, err_path = Path(f"{base}.out"), Path(f"{base}.err")
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE if module else out, stderr=err
        )
    process.outbox_logs = (out_path, err_path)  # type: ignore[attr-defined]
    return process


def logs(process: subprocess.Popen[str]) -> tuple[str, str]:
    """What a process ``start`` started wrote: (stdout, stderr)."""
    out_path, err_path = process.outbox_logs  # type: ignore[attr-defined]
    return out_path.read_text(), err_path.read_text()


def stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM, then its stdout; it must exit 0."""
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    out, err = logs(process)
    assert process.returncode == 0, err[-3000:]
    return out


def web_lines(
    web: subprocess.Popen[str], on_commit: Callable[[int], None] = lambda n: None
) -> dict[int, list[str]]:
    """Read the web process to its end: the job ids enqueued in each transaction."""
    enqueued: dict[int, list[str]] = {}
    assert web.stdout is not None
    for line in web.stdout:
        kind, number, *ids = line.split()
        if kind == "enqueued":
            enqueued[int(number)] = ids
        else:
            on_commit(int(number))
    return enqueued


def stopped(process: subprocess.Popen[str]) -> bool:
    """Whether the process is stopped (SIGSTOP): state T in /proc."""
    stat = Path(f"/proc/{process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


@dataclass
class Delivery:
    committed: int
    lost: int  # committed jobs not on their queue
    duplicated: int  # queue entries beyond one per job
    hashes: int  # job hashes in Redis


def delivery(shared: Shared, committed: list[str]) -> Delivery:
    client = shared.client
    entries = Counter(raw.decode() for raw in client.lrange("rq:queue:default", 0, -1))
    lost = sum(1 for job_id in committed if entries[job_id] == 0)
    duplicated = sum(count - 1 for count in entries.values())
    hashes = sum(1 for _ in client.scan_iter("rq:job:*", count=1000))
    return Delivery(len(committed), lost, duplicated, hashes)


def executions(shared: Shared) -> Counter[str]:
    """How many times each ``record`` job ran, by its tag."""
    return Counter(raw.decode() for raw in shared.client.lrange(ORDER_KEY, 0, -1))


def run_all(shared: Shared, expected: int, mode: str = "outbox") -> Counter[str]:
    """Run every queued job with a burst worker (its relay runs first); how often each ran."""
    done = manage(
        "rqworker", "--burst", "--skip-checks", settings="tests.outbox_settings", **shared.env(mode)
    )
    assert done.returncode == 0, done.stderr
    ran = executions(shared)
    assert len(ran) == expected, f"{expected - len(ran)} job(s) never ran"
    return ran


@pytest.mark.parametrize("mode", ["outbox", "on_db_commit"])
def test_redis_stopped_paused_and_restarted_under_load_loses_no_committed_job(
    shared: Shared, mode: str
) -> None:
    """100 transactions of 100 jobs while Redis is shut down (refused), restarted, then paused
    (timeouts). Outbox mode: a running rqworker (of another queue: it takes none of these
    jobs) relays; default mode: rqrelay. Then each committed job must be on its queue once,
    and run once."""
    argv = ["rqworker", "idle"] if mode == "outbox" else ["rqrelay", "--interval", "0.2"]
    helper = start(shared, *argv, mode=mode)
    web = start(shared, "100", "100", "--pause", "0.01", mode=mode, module=True)
    events = {25: shared.stop_redis, 45: shared.start_redis, 60: lambda: shared.signal_redis(signal.SIGSTOP),
              62: lambda: shared.signal_redis(signal.SIGCONT)}  # fmt: skip

    enqueued = web_lines(web, lambda n: events.get(n, lambda: None)())
    assert web.wait(120) == 0, logs(web)[1][-3000:]
    committed = [job_id for n in sorted(enqueued) for job_id in enqueued[n]]
    assert len(committed) == 10_000
    wait_for(lambda: not shared.stored_ids(), timeout=180, what="the relay to empty the outbox")
    stop(helper)

    result = delivery(shared, committed)
    print(f"{mode}: {result}")
    assert (result.lost, result.duplicated, result.hashes) == (0, 0, 10_000)
    # Left: the markers of jobs a relay pushed (their process might still push them: they
    # expire), and at most one batch of the fast path's, whose deletion waited for a next push.
    by_fast_path = [
        key for key in shared.client.scan_iter(MARKER_PREFIX + "*") if shared.client.get(key) == b"f"
    ]
    assert len(by_fast_path) <= 100 + cleanup.BATCH
    ran = run_all(shared, 10_000, mode)
    assert set(ran.values()) == {1}


@pytest.mark.parametrize("where", ["before-push", "after-push"])
def test_web_process_killed_between_commit_and_push_every_job_once(shared: Shared, where: str) -> None:
    web = start(shared, "5", "20", "--stop-at", "3", "--stop-where", where, module=True)
    assert web.stdout is not None
    enqueued: dict[int, list[str]] = {}
    while len(enqueued) < 3:
        kind, number, *ids = web.stdout.readline().split()
        if kind == "enqueued":
            enqueued[int(number)] = ids
    wait_for(lambda: stopped(web), timeout=30, what="the web process to stop in its commit hook")
    web.kill()
    web.wait(30)
    committed = [job_id for n in sorted(enqueued) for job_id in enqueued[n]]
    # Committed, in the outbox: the third transaction's jobs, and those of the first two,
    # pushed, whose rows waited to be deleted together.
    assert set(enqueued[3]) <= set(shared.stored_ids())
    before = delivery(shared, committed)
    assert before.lost == (20 if where == "before-push" else 0)

    if where == "before-push":
        ran = run_all(shared, 60)  # the worker's relay runs before its first job
    else:
        relayed = manage(
            "rqrelay", "--once", "--skip-checks", settings="tests.outbox_settings", **shared.env()
        )
        found = len(committed) if where == "after-push" else 0
        assert f"Pushed 0 job(s) from the outbox; {found} were in Redis already" in relayed.stdout, (
            relayed.stdout
        )
        after = delivery(shared, committed)
        assert (after.lost, after.duplicated, after.hashes) == (0, 0, 60)
        ran = run_all(shared, 60)
    print(f"killed {where}: before the relay {before}; each job ran {set(ran.values())} time(s)")
    assert set(ran.values()) == {1}
    assert shared.stored_ids() == []


def test_fast_path_and_relays_racing_on_the_same_rows_push_each_job_once(shared: Shared) -> None:
    """The web processes wait 1.5-2.5 s between each commit and its push; two relays take rows
    older than 2 s every 50 ms: the same rows are reached by both sides."""
    relays = [start(shared, "rqrelay", "--interval", "0.05") for _ in range(2)]
    webs = [  # around the relay's MIN_AGE (2 s): either side may come first
        start(shared, "10", "50", "--delay-push", str(delay), "--name", f"web{delay}", module=True)
        for delay in (1.5, 2.0, 2.5)
    ]
    committed: list[str] = []
    for web in webs:
        committed += [job_id for ids in web_lines(web).values() for job_id in ids]
        assert web.wait(120) == 0, logs(web)[1][-3000:]
    wait_for(lambda: not shared.stored_ids(), timeout=60, what="the outbox to be empty")
    by_relays = 0
    for relay in relays:
        out = stop(relay)
        by_relays += sum(int(found) for found in re.findall(r"Pushed (\d+) job", out))
    result = delivery(shared, committed)
    print(f"race: {result}, {by_relays} pushed by the relays, {1500 - by_relays} by the web processes")
    assert 0 < by_relays < 1500  # both sides delivered
    assert (result.lost, result.duplicated, result.hashes) == (0, 0, 1500)
    assert set(run_all(shared, 1500).values()) == {1}
