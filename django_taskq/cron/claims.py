"""The claim: the due slots of one Redis connection, taken in one transaction, whatever their number.

A runner that found slots nobody took yet (its tick's read) claims them all at once:

1. ``WATCH`` every candidate's state key and its slot's job key (one round trip);
2. read them again, after the ``WATCH``, in one small Lua script (last slot, run count,
   whether the slot's job exists): a slot another runner took in the meantime is dropped;
3. ``MULTI``, then for each slot left: record it as the entry's last slot (and its run count),
   add it to the entry's history and write its job with the slot's id; ``EXEC``.

If another runner wrote any watched key after step 1, ``EXEC`` is refused and the claim starts
again with what is left, so two runners never both write a slot, and a crash cannot split a
slot's record from its job (both are in the same ``EXEC``). A tick costs the same few round
trips with 1 or 1,000 due slots, and with 1 or 10 runners.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from redis.exceptions import WatchError
from rq.job import Job

from ..queues import DjangoQueue
from .schedule import CronEntry

logger = logging.getLogger("django_taskq.cron")

HISTORY = 20  # runs kept per entry

# KEYS: state key, job key, state key, job key... -> last_slot, runs, job exists, last_slot, ...
# (RQ runs Lua scripts of its own: a server that runs RQ runs this.)
READ_STATES = """
local out = {}
for i = 1, #KEYS, 2 do
  local state = redis.call('HMGET', KEYS[i], 'last_slot', 'runs')
  out[#out + 1] = state[1]
  out[#out + 1] = state[2]
  out[#out + 1] = redis.call('EXISTS', KEYS[i + 1])
end
return out
"""
ATTEMPTS = 5  # transactions refused because other runners claimed some of the same slots


@dataclass(frozen=True)
class CronRun:
    """What a runner did with one slot of an entry."""

    slot: datetime
    job_id: str | None  # None when the slot was skipped
    at: datetime  # when the runner claimed the slot
    late: float  # seconds between the slot and the claim
    outcome: str  # "enqueued" or "skipped" (older than the entry's grace)
    runner: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot.isoformat(),
            "job_id": self.job_id,
            "at": self.at.isoformat(),
            "late": round(self.late, 3),
            "outcome": self.outcome,
            "runner": self.runner,
        }

    @classmethod
    def from_json(cls, raw: str | bytes) -> CronRun:
        data = json.loads(raw)
        return cls(
            slot=datetime.fromisoformat(data["slot"]),
            job_id=data.get("job_id"),
            at=datetime.fromisoformat(data["at"]),
            late=float(data.get("late", 0.0)),
            outcome=str(data.get("outcome", "enqueued")),
            runner=str(data.get("runner", "")),
        )


@dataclass(frozen=True)
class Candidate:
    """A due slot the tick's read found free."""

    entry: CronEntry
    queue: DjangoQueue
    slot: datetime


@dataclass
class Claim:
    """What one claim wrote (and what the runner does next: log, run sync jobs, record rows)."""

    enqueued: list[tuple[Candidate, CronRun, Job, int]] = field(default_factory=list)  # ..., runs so far
    skipped: list[tuple[Candidate, CronRun]] = field(default_factory=list)
    finished: list[tuple[CronEntry, int]] = field(default_factory=list)  # reached their maximum runs
    failed: list[Candidate] = field(default_factory=list)  # their job could not be built (logged)

    @property
    def runs(self) -> list[CronRun]:
        written = [run for _c, run, _j, _n in self.enqueued] + [run for _c, run in self.skipped]
        return sorted(written, key=lambda run: run.slot)


def claim(connection: redis.Redis, candidates: Sequence[Candidate], now: datetime, runner: str) -> Claim:
    """Claim ``candidates`` (all on ``connection``) for ``runner``; what was written."""
    left = list(candidates)
    for _attempt in range(ATTEMPTS):
        result = Claim()
        keys = [key for c in left for key in (c.entry.state_key, Job.key_for(c.entry.job_id(c.slot)))]
        with connection.pipeline() as tx:
            tx.watch(*keys)  # type: ignore[no-untyped-call]
            answers = tx.eval(READ_STATES, len(keys), *keys)  # immediate while watching
            left = _decide(left, answers, now, runner, result)
            if not result.enqueued and not result.skipped:
                return result  # everything was taken meanwhile (or cannot run): nothing to write
            tx.multi()
            for candidate, run, job, runs in result.enqueued:
                _write(tx, candidate, run, runs)
                if candidate.queue.is_async:  # with a pipeline, RQ's enqueue only queues writes
                    candidate.queue.enqueue_job(job, pipeline=tx, at_front=candidate.entry.at_front)
            for candidate, run in result.skipped:
                _write(tx, candidate, run, None)
            try:
                tx.execute()
            except WatchError:
                continue  # another runner claimed some of them: read again, claim what is left
        for candidate, _run, job, _runs in result.enqueued:
            if not candidate.queue.is_async:
                candidate.queue.enqueue_job(job, at_front=candidate.entry.at_front)  # runs it here
        return result
    logger.warning(
        "cron runner %s: gave up %d slot(s) after %d contended claims", runner, len(left), ATTEMPTS
    )
    return Claim()


def _decide(
    left: list[Candidate], answers: list[Any], now: datetime, runner: str, result: Claim
) -> list[Candidate]:
    """Sort the candidates by what their state says; the ones still free (to claim or skip)."""
    free = []
    for index, candidate in enumerate(left):
        last, recorded, job_exists = answers[3 * index : 3 * index + 3]
        entry, slot = candidate.entry, candidate.slot
        stamp = slot.timestamp()
        if last is not None and float(last) >= stamp:
            continue  # already claimed, by us or another runner
        runs = entry.runs_so_far(int(recorded or 0))
        if not entry.may_run(runs):
            result.finished.append((entry, runs))
            continue
        late = max(0.0, now.timestamp() - stamp)
        # A slot whose job exists although its state was lost is never written twice.
        if job_exists or (entry.grace is not None and late > entry.grace):
            result.skipped.append((candidate, CronRun(slot, None, now, late, "skipped", runner)))
            free.append(candidate)
            continue
        job_id = entry.job_id(slot)
        try:
            job = entry_job(entry, candidate.queue, job_id, slot)
        except Exception:
            logger.exception("cron entry %r failed; the other entries go on", entry.name)
            result.failed.append(candidate)
            continue
        result.enqueued.append(
            (candidate, CronRun(slot, job_id, now, late, "enqueued", runner), job, runs + 1)
        )
        free.append(candidate)
    return free


def _write(tx: Any, candidate: Candidate, run: CronRun, runs: int | None) -> None:
    key = candidate.entry.state_key
    state = {
        "last_slot": repr(run.slot.timestamp()),
        "last_job_id": run.job_id or "",
        "last_at": run.at.isoformat(),
    }
    tx.hset(key, mapping=state)
    if runs is not None:
        tx.hset(key, "runs", runs)
    tx.lpush(candidate.entry.runs_key, json.dumps(run.as_dict()))
    tx.ltrim(candidate.entry.runs_key, 0, HISTORY - 1)


def entry_job(entry: CronEntry, queue: DjangoQueue, job_id: str, slot: datetime, **meta: Any) -> Job:
    """The job of ``entry`` for ``slot`` (not written): the entry's function, arguments and options."""
    options = dict(entry.options)
    meta = {**options.pop("meta", {}), "cron": entry.name, "cron_slot": slot.isoformat(), **meta}
    return queue.create_job(
        entry.func, args=entry.args, kwargs=entry.kwargs, job_id=job_id, meta=meta, **options
    )
