"""Everything the dashboard's job page shows about one job, in two round trips.

Unlike the lists, this page shows the job's function, arguments, meta and return values, read
through ``rq_compat.safe_decode``: plain data only, nothing unpickled with ``pickle.loads``, so
a job hash written by anyone who can write to Redis runs no code here.
"""

from __future__ import annotations

import json
import math
import pprint
from base64 import b64decode
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL
from rq.job import Job

from ..queues import DjangoQueue
from ..rq_compat.encoding import as_text
from ..rq_compat.safe_decode import job_call_data, restore_plain, safe_loads
from ..rq_compat.storage import (
    ResultRecord,
    decode_legacy_exc_info,
    decode_result_entry,
    read_results,
)
from .jobs import JobRow, fetch_rows
from .unavailable import is_wrong_type

RELATED_LIMIT = 50  # dependencies / dependents shown on a job page
RESULTS_LIMIT = 10
_HIDDEN_FIELDS = (b"data", b"result", b"meta", b"exc_info")  # binary: shown decoded, if at all


@dataclass
class ResultEntry:
    kind: str
    created_at: datetime | None
    return_value: str = ""
    exception: str = ""
    worker_name: str = ""


@dataclass
class Ttl:
    """How long a job's result (or failure) is kept, as it applies to this job."""

    seconds: int  # -1: kept until deleted
    default: bool  # the job sets none: RQ's default applies
    until: datetime | None = None  # when it goes, once the job is in its finished/failed registry


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
    result_ttl: Ttl | None = None  # None when the job cannot be read
    failure_ttl: Ttl | None = None


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
    read_results(pipe, job_id, count=RESULTS_LIMIT)
    pipe.zscore(queue.finished_job_registry.key, job_id)  # when the result goes
    pipe.zscore(queue.failed_job_registry.key, job_id)  # when the failure goes
    replies = pipe.execute(raise_on_error=False)
    if is_wrong_type(replies[0]):  # the key holds no job hash: no such job
        return JobDetail(id=job_id, exists=False)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    raw, ttl, dependents_total, dependent_ids, results, finished_until, failed_until = replies
    detail = JobDetail(id=job_id, exists=bool(raw))
    if not raw:
        return detail
    detail.raw = {as_text(k): as_text(v) for k, v in raw.items() if k not in _HIDDEN_FIELDS}
    detail.status = detail.raw.get("status", "")
    detail.ttl = int(ttl) if ttl is not None and int(ttl) >= 0 else None
    detail.dependents_total = int(dependents_total)
    job = job_class(job_id, connection=client, serializer=queue.serializer)
    try:  # Job.restore unpickles meta and a legacy result: it only gets the plain fields
        restore_plain(job, raw)
    except Exception as error:  # a job hash we cannot read must still be shown
        detail.error = f"The job data cannot be read ({type(error).__name__})."
    else:
        detail.job = job  # its data stays serialized: the template never reads func_name/args
        detail.result_ttl = _ttl(job.result_ttl, DEFAULT_RESULT_TTL, finished_until)
        detail.failure_ttl = _ttl(job.failure_ttl, DEFAULT_FAILURE_TTL, failed_until)
    if raw.get(b"data"):
        try:
            detail.func_name, _instance, args, kwargs = job_call_data(raw[b"data"], queue.serializer)
            detail.args = pretty(args)
            detail.kwargs = pretty(kwargs)
        except Exception as error:  # not a pickle, not the expected tuple...
            detail.error = (
                f"The job's function and arguments cannot be deserialized ({type(error).__name__})."
            )
    detail.meta = _safe_pretty(raw[b"meta"], queue) if raw.get(b"meta") else ""
    for result_id, fields in results:
        detail.results.append(_result_entry(decode_result_entry(result_id, fields), queue))
    failures = [entry for entry in detail.results if entry.exception]
    if failures:
        detail.exception = failures[0].exception
    elif raw.get(b"exc_info"):
        detail.exception = decode_legacy_exc_info(raw[b"exc_info"])
    dependency_ids = _dependency_ids(raw)[:RELATED_LIMIT]
    related = [(dep, None) for dep in dependency_ids] + [(as_text(dep), None) for dep in dependent_ids]
    rows = fetch_rows(queue, related)
    detail.dependencies = rows[: len(dependency_ids)]
    detail.dependents = rows[len(dependency_ids) :]
    return detail


def _ttl(value: int | None, default: int, score: float | None) -> Ttl:
    """The job's TTL or RQ's default, with its registry score (+inf: kept until deleted)."""
    until = (
        datetime.fromtimestamp(score, timezone.utc) if score is not None and math.isfinite(score) else None
    )
    return Ttl(seconds=default if value is None else value, default=value is None, until=until)


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


def _result_entry(record: ResultRecord, queue: DjangoQueue) -> ResultEntry:
    entry = ResultEntry(
        kind=record.kind,
        created_at=record.created_at,
        worker_name=record.worker_name,
        exception=record.exc_string,
    )
    if record.serialized_return_value is not None:
        try:
            entry.return_value = _safe_pretty(b64decode(record.serialized_return_value), queue)
        except ValueError as error:  # not base64
            entry.return_value = f"(cannot be read: {type(error).__name__})"
    return entry


def _safe_pretty(data: bytes, queue: DjangoQueue) -> str:
    """A serialized value shown as plain data (``safe_loads``), or why it cannot be."""
    try:
        value = safe_loads(data, queue.serializer)
    except Exception as error:  # a truncated or foreign payload
        return f"(cannot be read: {type(error).__name__}, {len(data)} bytes)"
    return pretty(value) if value not in ({}, None) else ""
