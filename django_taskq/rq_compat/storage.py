"""Where RQ keeps workers, results, suspension and scheduler locks, and how to read them back.

Keys come from RQ's own class attributes and constants wherever RQ has one; the decoders read
what RQ writes without building RQ objects (no Worker, no Result, nothing unpickled), so a
page can read a hundred of them in one pipelined round trip. ``tests/test_rq_compat_storage.py``
proves each one against the installed RQ.
"""

from __future__ import annotations

import zlib
from base64 import b64decode
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from rq import Worker
from rq.executions import WORKER_EXECUTIONS_KEY_TEMPLATE
from rq.job import Job
from rq.results import Result
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.suspension import WORKERS_SUSPENDED
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from .encoding import as_text, parse_timestamp

N = TypeVar("N", int, float)

# --- keys ------------------------------------------------------------------------------------


def worker_key(name: str) -> str:
    """The hash of worker ``name`` (``Worker.key``)."""
    return f"{Worker.redis_worker_namespace_prefix}{name}"


def worker_name(key: Any) -> str:
    """The worker name of a worker hash key (as ``Worker.find_by_key`` derives it)."""
    text = as_text(key)
    prefix = Worker.redis_worker_namespace_prefix
    return text[len(prefix) :] if text.startswith(prefix) else text


def workers_key(queue_name: str | None = None) -> str:
    """The set of live worker keys: of every queue, or of the workers listening on ``queue_name``."""
    if queue_name is None:
        return str(Worker.redis_workers_keys)
    return WORKERS_BY_QUEUE_KEY % queue_name


def worker_executions_key(name: str) -> str:
    """The set of "job_id:execution_id" entries of the jobs worker ``name`` is running."""
    return WORKER_EXECUTIONS_KEY_TEMPLATE.format(name)


def suspended_key() -> str:
    """The key whose existence suspends every worker of a connection (``rq.suspension``)."""
    return WORKERS_SUSPENDED


def scheduler_lock_key(queue_name: str) -> str:
    """The key holding the name of the scheduler that owns ``queue_name``'s lock."""
    return str(RQScheduler.get_locking_key(queue_name))


def scheduler_key(name: str) -> str:
    """The hash of the scheduler named ``name``, with its ``pid`` (``RQScheduler.key``)."""
    return str(SCHEDULER_KEY_TEMPLATE % name)


def results_key(job_id: str) -> str:
    """The stream of a job's results, newest last (``Result.get_key``)."""
    return str(Result.get_key(job_id))  # type: ignore[no-untyped-call]


def read_results(pipe: Any, job_id: str, count: int) -> None:
    """Queue on ``pipe`` the read of a job's ``count`` newest results, newest first.

    Each entry of the reply is ``(result_id, fields)``: decode it with ``decode_result_entry``.
    """
    pipe.xrevrange(results_key(job_id), "+", "-", count=count)


# --- started jobs ----------------------------------------------------------------------------

# Lua's twin of job_id_of_started_entry, for scripts that walk the started registry.
STARTED_ENTRY_JOB_ID_LUA_PATTERN = "^([^:]+)"


def job_id_of_started_entry(entry: Any) -> str:
    """The job id of a started-registry entry or a worker execution ("job_id:execution_id")."""
    text = as_text(entry)
    return text.split(":", 1)[0] if ":" in text else text


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRecord:
    """One entry of a job's result stream, decoded without unpickling anything."""

    id: str
    type: Result.Type | None  # None: a type number this RQ does not know
    created_at: datetime | None
    worker_name: str = ""
    exc_string: str = ""  # the traceback of a failure, "" otherwise
    serialized_return_value: bytes | None = None  # as stored: decode with load_return_value

    @property
    def kind(self) -> str:
        """``successful``, ``failed``, ``stopped``, ``retried``... or ``unknown``."""
        return self.type.name.lower() if self.type is not None else "unknown"


def decode_result_entry(result_id: Any, fields: Mapping[Any, Any]) -> ResultRecord:
    """A result stream entry as ``Result.restore`` reads it, minus the return value's unpickling."""
    values = {as_text(key): value for key, value in fields.items()}
    entry_id = as_text(result_id)
    try:  # stream ids are "<milliseconds>-<sequence>": RQ takes the creation time from them
        created_at: datetime | None = datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, timezone.utc)
    except ValueError:
        created_at = None
    try:
        kind: Result.Type | None = Result.Type(int(as_text(values.get("type")) or 0))
    except ValueError:
        kind = None
    raw_value = values.get("return_value")
    return ResultRecord(
        id=entry_id,
        type=kind,
        created_at=created_at,
        worker_name=as_text(values.get("worker_name")),
        exc_string=decode_exc_string(values.get("exc_string")),
        serialized_return_value=None if raw_value is None else as_text(raw_value).encode(),
    )


def load_return_value(record: ResultRecord, serializer: Any) -> Any:
    """The return value of a result, deserialized with the job's serializer (this unpickles)."""
    if record.serialized_return_value is None:
        return None
    return serializer.loads(b64decode(record.serialized_return_value))


def decode_exc_string(raw: Any) -> str:
    """A result's ``exc_string`` field (zlib, then base64) as text; "" when empty or unreadable."""
    if not raw:
        return ""
    try:
        return zlib.decompress(b64decode(raw)).decode(errors="replace")
    except (ValueError, zlib.error):
        return ""


def decode_legacy_exc_info(raw: Any) -> str:
    """The ``exc_info`` field older RQ wrote in the job hash (zlib, or plain text before that)."""
    if not raw:
        return ""
    data = raw if isinstance(raw, bytes) else str(raw).encode()
    try:
        return zlib.decompress(data).decode(errors="replace")
    except zlib.error:
        return data.decode(errors="replace")


def latest_exc_string(job: Job) -> str:
    """The traceback of a job's latest result; "" when it has none or did not fail."""
    result = job.latest_result()
    return str(getattr(result, "exc_string", "") or "")


# --- workers ---------------------------------------------------------------------------------

# The worker hash fields decode_worker reads, in the order it expects them (HMGET).
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
class WorkerRecord:
    """A worker as its hash describes it (what ``Worker.find_by_key`` reports)."""

    name: str
    state: str = "?"
    queues: list[str] = field(default_factory=list)
    birth: datetime | None = None
    last_heartbeat: datetime | None = None
    death: datetime | None = None  # set when the worker registered its death
    successful_job_count: int = 0
    failed_job_count: int = 0
    total_working_time: float = 0.0
    hostname: str = ""
    pid: int | None = None
    version: str = ""
    python_version: str = ""
    current_job_ids: list[str] = field(default_factory=list)


def decode_worker(key: Any, values: Sequence[Any], executions: Iterable[Any] = ()) -> WorkerRecord | None:
    """A worker from ``HMGET key *WORKER_FIELDS`` and ``SMEMBERS worker_executions_key(name)``.

    None when the hash is gone (the worker's key expired).
    """
    text = dict(zip(WORKER_FIELDS, (as_text(value) for value in values), strict=True))
    if not any(text.values()):
        return None
    pid = text["pid"]
    return WorkerRecord(
        name=worker_name(key),
        state=text["state"] or "?",
        queues=[queue for queue in text["queues"].split(",") if queue],
        birth=parse_timestamp(text["birth"]),
        last_heartbeat=parse_timestamp(text["last_heartbeat"]),
        death=parse_timestamp(text["death"]),
        successful_job_count=_number(text["successful_job_count"], int, 0),
        failed_job_count=_number(text["failed_job_count"], int, 0),
        total_working_time=_number(text["total_working_time"], float, 0.0),
        hostname=text["hostname"],
        pid=int(pid) if pid.isdigit() else None,
        version=text["version"],
        python_version=text["python_version"],
        current_job_ids=sorted(job_id_of_started_entry(entry) for entry in executions),
    )


def _number(text: str, kind: Callable[[str], N], default: N) -> N:
    try:
        return kind(text) if text else default
    except ValueError:
        return default
