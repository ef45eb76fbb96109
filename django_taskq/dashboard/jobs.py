"""The dashboard's lists of jobs: one page of a queue or registry, in as few round trips as possible.

Read-only (no registry clean-up) and bounded: a page costs a fixed number of pipelined round
trips, whatever the number of jobs. Rows read fields of the job hash only, never its pickled data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..conf import taskq_settings
from ..connections import get_connection
from ..queues import DjangoQueue, get_queue, state_registry
from ..rq_compat.encoding import as_text, parse_timestamp
from ..rq_compat.storage import (
    STARTED_ENTRY_JOB_ID_LUA_PATTERN,
    decode_result_entry,
    job_id_of_started_entry,
    read_results,
)
from ..stats import STATES

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
# Jobs a function filter looks at per request (one HGET each, inside one Lua call): 1,000 cost
# Redis ~1 ms; the page links to the next window ("scan") to look further.
FILTER_WINDOW = 1_000

# Fields of the job hash a list row needs (never the pickled data).
LIST_FIELDS = ("status", "description", "created_at", "enqueued_at", "started_at", "ended_at", "worker_name")

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


def queue_or_none(name: str) -> DjangoQueue | None:
    """The queue ``name`` of RQ_QUEUES, None when settings do not define it; on the client
    ``get_connection`` gives now (inside ``connections.fail_fast()``: the one that never retries)."""
    if not isinstance(taskq_settings.QUEUES.get(name), dict):
        return None
    return get_queue(name, connection=get_connection(name))


def state_key(queue: DjangoQueue, state: str) -> str:
    """The Redis key holding the jobs of ``queue`` in ``state``."""
    if state == "queued":
        return str(queue.key)
    return str(state_registry(queue, state).key)


def last_line(text: str) -> str:
    """The last non-empty line of a traceback: the exception itself."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


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
    scan: int = 0  # with a function filter: how many jobs (in the page's order) the window skipped


# Jobs of one state, in order, whose description starts with a function name; bounded window:
# the jobs at positions scan .. scan + window - 1 of the page's order.
_FILTER_SCRIPT = """
local key, is_list, desc, window, prefix, offset, count, started, job_prefix, started_pattern, scan =
  KEYS[1], ARGV[1] == '1', ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]),
  tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8], ARGV[9], tonumber(ARGV[10])
local entries
if is_list then
  if desc then
    entries = redis.call('LRANGE', key, -(scan + window), -(scan + 1))
    local reversed = {}
    for i = #entries, 1, -1 do reversed[#reversed + 1] = entries[i] end
    entries = reversed
  else
    entries = redis.call('LRANGE', key, scan, scan + window - 1)
  end
elseif desc then
  entries = redis.call('ZRANGE', key, scan, scan + window - 1, 'REV')
else
  entries = redis.call('ZRANGE', key, scan, scan + window - 1)
end
local matched, page = 0, {}
for _, entry in ipairs(entries) do
  local job_id = entry
  if started then job_id = string.match(entry, started_pattern) or entry end
  local description = redis.call('HGET', job_prefix .. job_id, 'description')
  if description and string.sub(description, 1, #prefix) == prefix then
    if matched >= offset and matched < offset + count then page[#page + 1] = entry end
    matched = matched + 1
  end
end
return {matched, #entries, page}
"""


def _job_id(entry: Any, state: str) -> str:
    return job_id_of_started_entry(entry) if state == "started" else as_text(entry)


def list_jobs(
    queue: DjangoQueue,
    state: str,
    *,
    page: int,
    per_page: int,
    newest_first: bool,
    function: str = "",
    scan: int = 0,
) -> JobPage:
    """One page of jobs of ``queue`` in ``state``: two round trips (ids, then their fields).

    With ``function``: the page of the jobs matching it among ``FILTER_WINDOW`` jobs, starting
    ``scan`` jobs into the page's order."""
    client: Any = queue.connection
    key = state_key(queue, state)
    start = (page - 1) * per_page
    matched: int | None = None
    window: int | None = None
    if function:
        result = client.eval(
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
            STARTED_ENTRY_JOB_ID_LUA_PATTERN,
            scan,
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
            scores = {as_text(entry): score for entry, score in with_scores}
        if state == "queued" and newest_first and start + per_page > total:
            # LRANGE with negative indexes past the head returns the head: drop the overlap.
            entries = entries[: max(0, total - start)]
    rows = fetch_rows(
        queue, [(_job_id(entry, state), scores.get(as_text(entry))) for entry in entries], state
    )
    return JobPage(rows=rows, total=int(total), matched=matched, window=window, scan=scan if function else 0)


def fetch_rows(queue: DjangoQueue, ids: Sequence[tuple[str, float | None]], state: str = "") -> list[JobRow]:
    """The list fields of jobs (and failed jobs' latest exception), one pipelined round trip."""
    if not ids:
        return []
    prefix = queue.job_class.redis_job_namespace_prefix
    pipe = queue.connection.pipeline(transaction=False)
    for job_id, _score in ids:
        pipe.hmget(prefix + job_id, LIST_FIELDS)
        if state == "failed":
            read_results(pipe, job_id, count=1)
    replies = pipe.execute()
    step = 2 if state == "failed" else 1
    rows = []
    for index, (job_id, score) in enumerate(ids):
        values = replies[index * step]
        exists = any(value is not None for value in values)
        row = JobRow(id=job_id, exists=exists)
        if exists:
            row.status = as_text(values[0])
            row.description = as_text(values[1])
            row.created_at, row.enqueued_at, row.started_at, row.ended_at = (
                parse_timestamp(value) for value in values[2:6]
            )
            row.worker_name = as_text(values[6])
        if score is not None:
            row.score = datetime.fromtimestamp(score, timezone.utc) if score > 0 else None
        if state == "failed" and replies[index * step + 1]:
            latest = decode_result_entry(*replies[index * step + 1][0])
            row.exception = last_line(latest.exc_string)
        rows.append(row)
    return rows


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "FILTER_WINDOW",
    "JOB_ID",
    "MAX_PAGE_SIZE",
    "STATES",
    "JobPage",
    "JobRow",
    "fetch_rows",
    "last_line",
    "list_jobs",
    "queue_or_none",
    "state_key",
]
