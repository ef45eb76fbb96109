"""What the dashboard pages read from Redis, in as few round trips as possible.

Every function here is read-only (no registry clean-up) and bounded: a page costs a fixed
number of pipelined round trips, whatever the number of jobs in the queues.
"""

from __future__ import annotations

import json
import pprint
import re
import zlib
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rq.job import Job
from rq.utils import utcparse

from ..conf import taskq_settings
from ..connections import get_redis_connection, queues_by_connection
from ..queues import DjangoQueue, get_queue

STATES = ("queued", "started", "deferred", "finished", "failed", "scheduled", "canceled")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
FILTER_WINDOW = 10_000  # jobs looked at when filtering a list by function name
RELATED_LIMIT = 50  # dependencies / dependents shown on a job page
RESULTS_LIMIT = 10

# Fields of the job hash a list row needs (never the pickled data).
LIST_FIELDS = ("status", "description", "created_at", "enqueued_at", "started_at", "ended_at", "worker_name")


def state_key(queue: DjangoQueue, state: str) -> str:
    """The Redis key holding the jobs of ``queue`` in ``state``."""
    if state == "queued":
        return str(queue.key)
    registry = {
        "started": queue.started_job_registry,
        "deferred": queue.deferred_job_registry,
        "finished": queue.finished_job_registry,
        "failed": queue.failed_job_registry,
        "scheduled": queue.scheduled_job_registry,
        "canceled": queue.canceled_job_registry,
    }[state]
    return str(registry.key)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _date(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    try:  # fromisoformat is ~10x faster than rq's strptime-based utcparse
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        try:
            parsed = utcparse(text)
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _job_id(entry: Any, state: str) -> str:
    text = _text(entry)
    if state == "started" and ":" in text:  # started registry entries are job_id:execution_id
        return text.split(":", 1)[0]
    return text


def _exception_text(payload: dict[bytes, bytes]) -> str:
    raw = payload.get(b"exc_string")
    if not raw:
        return ""
    try:
        return zlib.decompress(b64decode(raw)).decode(errors="replace")
    except (ValueError, zlib.error):
        return ""


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


# --- lists of jobs ---------------------------------------------------------------------------


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass
class JobRow:
    id: str
    exists: bool
    status: str = ""
    description: str = ""
    created_at: datetime | None = None
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    worker_name: str = ""
    score: datetime | None = None  # scheduled for / expires at, for registries
    exception: str = ""  # last line of the latest failure, failed jobs only
    url: str = ""  # set by the view
    cells: list[tuple[str, str]] = field(default_factory=list)  # (text, title) of the state's columns

    @property
    def linkable(self) -> bool:
        """Whether the id can go in a URL (registries may hold anything)."""
        return bool(JOB_ID.fullmatch(self.id))


@dataclass
class JobPage:
    rows: list[JobRow]
    total: int  # jobs in the state
    matched: int | None = None  # with a function filter: matches within the window
    window: int | None = None  # with a function filter: how many jobs were looked at


# Jobs of one state, in order, whose description starts with a function name; bounded window.
_FILTER_SCRIPT = """
local key, is_list, desc, window, prefix, offset, count, started, job_prefix =
  KEYS[1], ARGV[1] == '1', ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]),
  tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local entries
if is_list then
  if desc then
    entries = redis.call('LRANGE', key, -window, -1)
    local reversed = {}
    for i = #entries, 1, -1 do reversed[#reversed + 1] = entries[i] end
    entries = reversed
  else
    entries = redis.call('LRANGE', key, 0, window - 1)
  end
elseif desc then
  entries = redis.call('ZRANGE', key, 0, window - 1, 'REV')
else
  entries = redis.call('ZRANGE', key, 0, window - 1)
end
local matched, page = 0, {}
for _, entry in ipairs(entries) do
  local job_id = entry
  if started then job_id = string.match(entry, '^([^:]+)') or entry end
  local description = redis.call('HGET', job_prefix .. job_id, 'description')
  if description and string.sub(description, 1, #prefix) == prefix then
    if matched >= offset and matched < offset + count then page[#page + 1] = entry end
    matched = matched + 1
  end
end
return {matched, #entries, page}
"""


def list_jobs(
    queue: DjangoQueue,
    state: str,
    *,
    page: int,
    per_page: int,
    newest_first: bool,
    function: str = "",
) -> JobPage:
    """One page of jobs of ``queue`` in ``state``: two round trips (ids, then their fields)."""
    client: Any = queue.connection
    key = state_key(queue, state)
    start = (page - 1) * per_page
    matched: int | None = None
    window: int | None = None
    if function:
        result = client.eval(  # type: ignore[no-untyped-call]
            _FILTER_SCRIPT,
            1,
            key,
            "1" if state == "queued" else "0",
            "1" if newest_first else "0",
            FILTER_WINDOW,
            function,
            start,
            per_page,
            "1" if state == "started" else "0",
            queue.job_class.redis_job_namespace_prefix,
        )
        matched, window, entries = int(result[0]), int(result[1]), list(result[2])
        scores: dict[str, float] = {}
        total = client.llen(key) if state == "queued" else client.zcard(key)
    else:
        pipe = client.pipeline(transaction=False)
        if state == "queued":
            pipe.llen(key)
            if newest_first:
                pipe.lrange(key, -(start + per_page), -(start + 1))
            else:
                pipe.lrange(key, start, start + per_page - 1)
            total, entries = pipe.execute()
            if newest_first:
                entries = list(reversed(entries))
            scores = {}
        else:
            pipe.zcard(key)
            pipe.zrange(key, start, start + per_page - 1, desc=newest_first, withscores=True)
            total, with_scores = pipe.execute()
            entries = [entry for entry, _score in with_scores]
            scores = {_text(entry): score for entry, score in with_scores}
        if state == "queued" and newest_first and start + per_page > total:
            # LRANGE with negative indexes past the head returns the head: drop the overlap.
            entries = entries[: max(0, total - start)]
    rows = fetch_rows(queue, [(_job_id(entry, state), scores.get(_text(entry))) for entry in entries], state)
    return JobPage(rows=rows, total=int(total), matched=matched, window=window)


def fetch_rows(queue: DjangoQueue, ids: Sequence[tuple[str, float | None]], state: str = "") -> list[JobRow]:
    """The list fields of jobs, one pipelined round trip."""
    if not ids:
        return []
    prefix = queue.job_class.redis_job_namespace_prefix
    pipe = queue.connection.pipeline(transaction=False)
    for job_id, _score in ids:
        pipe.hmget(prefix + job_id, LIST_FIELDS)
        if state == "failed":
            pipe.xrevrange(f"rq:results:{job_id}", "+", "-", count=1)
    replies = pipe.execute()
    step = 2 if state == "failed" else 1
    rows = []
    for index, (job_id, score) in enumerate(ids):
        values = replies[index * step]
        exists = any(value is not None for value in values)
        row = JobRow(id=job_id, exists=exists)
        if exists:
            row.status = _text(values[0])
            row.description = _text(values[1])
            row.created_at, row.enqueued_at, row.started_at, row.ended_at = (_date(v) for v in values[2:6])
            row.worker_name = _text(values[6])
        if score is not None:
            row.score = datetime.fromtimestamp(score, timezone.utc) if score > 0 else None
        if state == "failed" and replies[index * step + 1]:
            row.exception = last_line(_exception_text(replies[index * step + 1][0][1]))
        rows.append(row)
    return rows


# --- one job ---------------------------------------------------------------------------------


@dataclass
class ResultEntry:
    kind: str
    created_at: datetime | None
    return_value: str = ""
    exception: str = ""
    worker_name: str = ""


@dataclass
class JobDetail:
    id: str
    exists: bool
    job: Job | None = None
    error: str = ""  # why the job data could not be read
    func_name: str = ""
    args: str = ""
    kwargs: str = ""
    meta: str = ""
    status: str = ""
    raw: dict[str, str] = field(default_factory=dict)
    dependencies: list[JobRow] = field(default_factory=list)
    dependents: list[JobRow] = field(default_factory=list)
    dependents_total: int = 0
    results: list[ResultEntry] = field(default_factory=list)
    exception: str = ""
    ttl: int | None = None  # seconds the job hash still lives, None when it does not expire


def pretty(value: Any) -> str:
    """A readable, bounded representation of job arguments (escaped later by the template)."""
    text = pprint.pformat(value, width=88, compact=False, sort_dicts=False)
    return text if len(text) <= 20_000 else text[:20_000] + "\n… (truncated)"


def get_job(queue: DjangoQueue, job_id: str) -> JobDetail:
    """Everything the job page shows: two round trips (the job, then its related jobs)."""
    client: Any = queue.connection
    job_class = queue.job_class
    key = job_class.key_for(job_id)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(key)
    pipe.ttl(key)
    pipe.scard(job_class.dependents_key_for(job_id))
    pipe.srandmember(job_class.dependents_key_for(job_id), RELATED_LIMIT)
    pipe.xrevrange(f"rq:results:{job_id}", "+", "-", count=RESULTS_LIMIT)
    raw, ttl, dependents_total, dependent_ids, results = pipe.execute()
    detail = JobDetail(id=job_id, exists=bool(raw))
    if not raw:
        return detail
    detail.raw = {
        _text(k): _text(v) for k, v in raw.items() if k not in (b"data", b"result", b"meta", b"exc_info")
    }
    detail.status = detail.raw.get("status", "")
    detail.ttl = int(ttl) if ttl is not None and int(ttl) >= 0 else None
    detail.dependents_total = int(dependents_total)
    job = job_class(job_id, connection=client, serializer=queue.serializer)
    try:
        job.restore(raw)
    except Exception as error:  # a job hash we cannot read must still be shown
        detail.error = f"The job data cannot be read ({type(error).__name__})."
    else:
        detail.job = job
        try:
            detail.func_name = job.func_name or ""
            detail.args = pretty(job.args)
            detail.kwargs = pretty(job.kwargs)
        except Exception as error:  # unpicklable data, a missing module...
            detail.error = (
                f"The job's function and arguments cannot be deserialized ({type(error).__name__})."
            )
        detail.meta = pretty(job.meta) if job.meta else ""
    for result_id, payload in results:
        detail.results.append(_result_entry(_text(result_id), payload, queue))
    failures = [entry for entry in detail.results if entry.exception]
    if failures:
        detail.exception = failures[0].exception
    elif raw.get(b"exc_info"):
        detail.exception = _legacy_exc_info(raw[b"exc_info"])
    dependency_ids = _dependency_ids(raw)[:RELATED_LIMIT]
    related = [(dep, None) for dep in dependency_ids] + [(_text(dep), None) for dep in dependent_ids]
    rows = fetch_rows(queue, related)
    detail.dependencies = rows[: len(dependency_ids)]
    detail.dependents = rows[len(dependency_ids) :]
    return detail


def _dependency_ids(raw: dict[bytes, bytes]) -> list[str]:
    value = raw.get(b"dependency_ids")
    if value:
        try:
            ids = json.loads(value.decode())
        except ValueError:
            return []
        return [str(item) for item in ids] if isinstance(ids, list) else []
    single = raw.get(b"dependency_id")
    return [single.decode()] if single else []


def _legacy_exc_info(value: bytes) -> str:
    try:
        return zlib.decompress(value).decode(errors="replace")
    except zlib.error:
        return value.decode(errors="replace")


_RESULT_KINDS = {1: "successful", 2: "failed", 3: "stopped", 4: "retried"}


def _result_entry(result_id: str, payload: dict[bytes, bytes], queue: DjangoQueue) -> ResultEntry:
    try:
        created_at: datetime | None = datetime.fromtimestamp(
            int(result_id.split("-")[0]) / 1000, timezone.utc
        )
    except ValueError:
        created_at = None
    kind_number = int(payload.get(b"type", b"0") or 0)
    entry = ResultEntry(
        kind=_RESULT_KINDS.get(kind_number, "unknown"),
        created_at=created_at,
        worker_name=_text(payload.get(b"worker_name")),
        exception=_exception_text(payload),
    )
    raw_value = payload.get(b"return_value")
    if raw_value is not None:
        try:
            entry.return_value = pretty(queue.serializer.loads(b64decode(raw_value)))
        except Exception as error:  # the result may need code this process does not have
            entry.return_value = f"(cannot be deserialized: {type(error).__name__})"
    return entry


# --- workers and scheduler -------------------------------------------------------------------

WORKER_FIELDS = (
    "state",
    "queues",
    "birth",
    "last_heartbeat",
    "successful_job_count",
    "failed_job_count",
    "total_working_time",
    "hostname",
    "pid",
    "version",
    "python_version",
    "death",
)


@dataclass
class WorkerInfo:
    name: str
    connection: str
    state: str = "?"
    queues: list[str] = field(default_factory=list)
    birth: datetime | None = None
    last_heartbeat: datetime | None = None
    successful_job_count: int = 0
    failed_job_count: int = 0
    total_working_time: float = 0.0
    hostname: str = ""
    pid: str = ""
    version: str = ""
    python_version: str = ""
    current_job_ids: list[str] = field(default_factory=list)


def _connection_groups() -> list[tuple[Any, list[str]]]:
    groups = []
    for names in queues_by_connection().values():
        groups.append((get_redis_connection(taskq_settings.QUEUES[names[0]]), names))
    return groups


def list_workers(name: str | None = None) -> list[WorkerInfo]:
    """Live workers of every connection (or the one named): two round trips per connection."""
    from ..connections import describe

    workers: list[WorkerInfo] = []
    for client, names in _connection_groups():
        location = describe(taskq_settings.QUEUES[names[0]])
        if name is None:
            keys = sorted(_text(key) for key in client.smembers("rq:workers"))  # type: ignore[union-attr]
        else:
            keys = [f"rq:worker:{name}"]
        if not keys:
            continue
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, WORKER_FIELDS)
            pipe.smembers(f"{key}:executions")
        replies = pipe.execute()
        for index, key in enumerate(keys):
            values = [_text(value) for value in replies[index * 2]]
            if not any(values) or values[11]:  # expired, or registered its death
                continue
            info = WorkerInfo(name=key[len("rq:worker:") :], connection=location)
            info.state = values[0] or "?"
            info.queues = [queue for queue in values[1].split(",") if queue]
            info.birth, info.last_heartbeat = _date(values[2]), _date(values[3])
            info.successful_job_count = int(values[4] or 0)
            info.failed_job_count = int(values[5] or 0)
            info.total_working_time = float(values[6] or 0)
            info.hostname, info.pid, info.version, info.python_version = values[7:11]
            info.current_job_ids = sorted(_text(entry).split(":", 1)[0] for entry in replies[index * 2 + 1])
            workers.append(info)
        if name is not None and workers:
            break
    return workers


@dataclass
class SchedulerInfo:
    queue: str
    holder: str  # the scheduler (worker) name holding the queue's lock, "" when none


def scheduler_status() -> list[SchedulerInfo]:
    """Which scheduler holds each queue's lock: one round trip per connection."""
    infos: list[SchedulerInfo] = []
    for client, names in _connection_groups():
        pipe = client.pipeline(transaction=False)
        for queue_name in names:
            pipe.get(f"rq:scheduler-lock:{queue_name}")
        for queue_name, holder in zip(names, pipe.execute(), strict=True):
            infos.append(SchedulerInfo(queue=queue_name, holder=_text(holder)))
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    infos.sort(key=lambda info: order[info.queue])
    return infos


def finished_failed_per_minute(minutes: int = 60) -> dict[str, list[int]]:
    """Jobs finished and failed per minute over every queue, oldest first: one round trip per connection."""
    from ..counters import per_minute

    totals = {"finished": [0] * minutes, "failed": [0] * minutes}
    for client, names in _connection_groups():
        for counts in per_minute(client, names, minutes=minutes).values():
            for outcome in ("finished", "failed"):
                for index, value in enumerate(counts[outcome]):  # type: ignore[literal-required]
                    totals[outcome][index] += value
    return totals


def queue_or_none(name: str) -> DjangoQueue | None:
    if not isinstance(taskq_settings.QUEUES.get(name), dict):
        return None
    return get_queue(name)
