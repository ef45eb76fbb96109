"""The outbox table: which database holds a job, storing it, claiming it, deleting it.

An ``OutboxJob`` row holds the jobs of one ``store`` call (one ``enqueue()``, or up to
``JOBS_PER_ROW`` of one ``enqueue_many()``) that share a queue and a placement (``at_front``,
``scheduled_for``): per job, its id and its non-empty hash fields as ``rq_compat.job_state``
gives them (what the queue's own write would send), as JSON text. So a batch costs one INSERT
and one DELETE, whatever its size. Each job has its own delivery token (the row's token and its
index), so that jobs of one row pushed by different processes are still pushed once each.
The table is reached through the ORM on the database chosen by ``storage_alias``; nothing here
talks to Redis.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connections, router
from django.db.models import F
from django.db.models.signals import post_migrate
from django.dispatch import receiver
from django.utils import timezone

from ..models import OutboxJob
from ..rq_compat import priority
from ..rq_compat.job_state import job_states_split, restore_job

if TYPE_CHECKING:
    from redis import Redis
    from rq.job import Job

    from ..transactions import PendingJob

__all__ = [
    "JOBS_PER_ROW",
    "MIGRATION_HINT",
    "StoredJob",
    "claim",
    "decode_jobs",
    "delete",
    "encode_jobs",
    "outbox_aliases",
    "pendings_from_row",
    "storage_alias",
    "store",
    "stored_row",
    "table_exists",
]

MIGRATION_HINT = "Run `manage.py migrate django_taskq` (migration 0003_outboxjob creates the table)."
JOBS_PER_ROW = 1000  # a bigger batch takes several rows: the relay claims rows by their job count


@dataclass(frozen=True)
class StoredJob:
    """Where a pending job's row is, and the token that names its delivery marker in Redis."""

    alias: str
    pk: int
    token: str
    after_failed_write: bool = False


def stored_row(pending: PendingJob) -> StoredJob:
    """Where ``pending`` is stored; ValueError for a job that is not in the outbox."""
    if pending.outbox is None:
        raise ValueError(f"job {pending.job.id} is not stored in the outbox")
    return pending.outbox


# --- which database -------------------------------------------------------------------------


def storage_alias(aliases: Sequence[str]) -> str:
    """The database that stores a job waiting for the transactions of ``aliases``.

    The router's ``db_for_write(OutboxJob)`` (``default`` without a router) when its transaction
    is among them, else the first of them, in DATABASES order, where the router lets the table
    live. The job is then bound to the commit of that database.
    """
    preferred = router.db_for_write(OutboxJob)
    if preferred in aliases:
        return preferred
    for alias in connections:
        if alias in aliases and router.allow_migrate_model(alias, OutboxJob):
            return alias
    return aliases[0]


def outbox_aliases() -> list[str]:
    """The databases where the router lets the outbox table live (the relay reads each)."""
    return [alias for alias in connections if router.allow_migrate_model(alias, OutboxJob)]


_tables_seen: set[str] = set()  # aliases whose table was found: asked once per process
_tables_missing: dict[str, float] = {}  # alias: when it was found missing (looked for again later)
MISSING_RECHECK = 60.0  # seconds


def table_exists(alias: str) -> bool:
    """Whether the outbox table exists in ``alias``: asked once per process when it does, at
    most once a minute when it does not (and again after every migration)."""
    if alias in _tables_seen:
        return True
    missing_since = _tables_missing.get(alias)
    if missing_since is not None and time.monotonic() - missing_since < MISSING_RECHECK:
        return False
    with connections[alias].cursor() as cursor:
        found = OutboxJob._meta.db_table in connections[alias].introspection.table_names(cursor)
    if found:
        _tables_seen.add(alias)
        _tables_missing.pop(alias, None)
    else:
        _tables_missing[alias] = time.monotonic()
    return found


@receiver(post_migrate)
@receiver(setting_changed)
def _forget_tables(**kwargs: Any) -> None:
    _tables_seen.clear()  # a migration (forwards or backwards) or new DATABASES
    _tables_missing.clear()


# --- the stored form of a row's jobs ----------------------------------------------------------


def encode_jobs(jobs: Sequence[Job], connection: Redis) -> str:
    """JSON text of the jobs' ids and hash fields (``job_state``, for ``connection``): each
    field as text when it is UTF-8, else in base64 (pickles, zlib data)."""
    entries = []
    for job, (text, binary) in zip(jobs, job_states_split(jobs, connection), strict=True):
        encoded = {name: base64.b64encode(value).decode("ascii") for name, value in binary.items()}
        # Empty fields (about half of a new job's) are left out: Job.restore reads them back empty.
        filled = {name: value for name, value in text.items() if value}
        entry: dict[str, object] = {"i": job.id, "t": filled, "b": encoded}
        place = priority.priority_of(job)
        if place is not None:  # a Django task's priority: the relay places it too
            entry["p"] = place
        entries.append(entry)
    return json.dumps(entries, separators=(",", ":"))


def decode_jobs(stored: str) -> list[tuple[str, dict[str, bytes], int | None]]:
    """(job id, hash fields, priority or None) per job of a row."""
    jobs = []
    for entry in json.loads(stored):
        state = {name: value.encode() for name, value in entry["t"].items()}
        state.update((name, base64.b64decode(value)) for name, value in entry["b"].items())
        jobs.append((entry["i"], state, entry.get("p")))
    return jobs


def _job_token(row_token: str, index: int) -> str:
    return f"{row_token}.{index}"


def pendings_from_row(row: OutboxJob, alias: str) -> list[PendingJob]:
    """The pending jobs a row holds, for its queue of RQ_QUEUES (UnknownQueueError if none)."""
    from ..queues import get_queue
    from ..transactions import PendingJob

    queue = get_queue(row.queue)
    pendings = []
    for index, (job_id, state, place) in enumerate(decode_jobs(row.state)):
        job = restore_job(queue, job_id, state)
        if place is not None:
            priority.mark(job, place)
        pending = PendingJob(queue, job, at_front=row.at_front, scheduled_for=row.scheduled_for)
        pending.outbox = StoredJob(alias, row.pk, _job_token(row.token, index), row.after_failed_write)
        pendings.append(pending)
    return pendings


# --- storing, claiming, deleting ----------------------------------------------------------------


def _grouped(pendings: list[PendingJob]) -> list[list[PendingJob]]:
    """The jobs by queue and placement, in order, in groups of at most ``JOBS_PER_ROW``."""
    groups: dict[tuple[str, bool, datetime | None], list[list[PendingJob]]] = {}
    for pending in pendings:
        chunks = groups.setdefault((pending.queue.name, pending.at_front, pending.scheduled_for), [[]])
        if len(chunks[-1]) == JOBS_PER_ROW:
            chunks.append([])
        chunks[-1].append(pending)
    return [chunk for chunks in groups.values() for chunk in chunks]


def store(pendings: Iterable[PendingJob], alias: str, *, after_failed_write: bool = False) -> None:
    """Insert rows holding these jobs in ``alias`` (in its open transaction, if any), usually
    one, and note each job's place on it (``pending.outbox``). One INSERT per call."""
    groups = _grouped(list(pendings))
    if not table_exists(alias):
        raise ImproperlyConfigured(
            f"django-taskq's outbox table does not exist in database {alias!r}. {MIGRATION_HINT}"
        )
    now = timezone.now()
    rows: list[dict[str, object]] = [
        {
            "created_at": now,
            "queue": group[0].queue.name,
            "job_id": group[0].job.id,
            "jobs": len(group),
            "token": secrets.token_hex(16),
            "at_front": group[0].at_front,
            "scheduled_for": group[0].scheduled_for,
            "after_failed_write": after_failed_write,
            "state": encode_jobs([pending.job for pending in group], group[0].queue.connection),
        }
        for group in groups
    ]
    connection = connections[alias]
    if connection.features.can_return_rows_from_bulk_insert:
        keys = _insert_returning(connection, rows)  # what bulk_create sends, without the models
    else:  # MySQL/MariaDB give no primary keys back from a bulk insert
        keys = []
        for values in rows:
            row = OutboxJob(**values)
            row.save(using=alias, force_insert=True)
            keys.append(row.pk)
    for group, values, key in zip(groups, rows, keys, strict=True):
        for index, pending in enumerate(group):
            pending.outbox = StoredJob(
                alias, key, _job_token(str(values["token"]), index), after_failed_write
            )


_COLUMNS = (
    "created_at",
    "queue",
    "job_id",
    "jobs",
    "token",
    "at_front",
    "scheduled_for",
    "after_failed_write",
    "state",
)


_insert_sqls: dict[tuple[str, int], str] = {}  # (vendor, rows): the statement (a few sizes)
_FIELDS = tuple(field for field in OutboxJob._meta.concrete_fields if field.name in _COLUMNS)


def _insert_sql(connection: Any, count: int) -> str:
    """``INSERT ... VALUES (...), ... RETURNING id`` for ``count`` rows of ``_FIELDS``."""
    key = (connection.vendor, count)
    sql = _insert_sqls.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in _FIELDS)
        values = ", ".join(["(" + ", ".join(["%s"] * len(_FIELDS)) + ")"] * count)
        sql = (
            f"INSERT INTO {quote(OutboxJob._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES {values} RETURNING {quote(OutboxJob._meta.pk.column or 'id')}"
        )
        if len(_insert_sqls) < 64:
            _insert_sqls[key] = sql
    return sql


def _insert_returning(connection: Any, rows: list[dict[str, object]]) -> list[int]:
    """One INSERT of ``rows`` (column values); their primary keys, in order."""
    sql = _insert_sql(connection, len(rows))
    params = [field.get_db_prep_save(row[field.name], connection) for row in rows for field in _FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [found[0] for found in cursor.fetchall()]  # RETURNING gives the rows in VALUES order


def claim(
    alias: str, queue_names: Sequence[str], *, limit: int, min_age: float
) -> tuple[list[OutboxJob], bool]:
    """Inside a transaction on ``alias``: the oldest rows of these queues stored at least
    ``min_age`` seconds ago, about ``limit`` jobs (at least one row), held until the transaction
    ends so that no other relay delivers them meanwhile (rows another relay holds are skipped
    where the database can). Also whether more rows may be left."""
    connection = connections[alias]
    rows = OutboxJob.objects.using(alias).filter(
        queue__in=queue_names, created_at__lte=timezone.now() - timedelta(seconds=min_age)
    )
    features = connection.features
    if features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    elif features.has_select_for_update:
        rows = rows.select_for_update()
    heads = list(rows.order_by("id").values_list("pk", "jobs")[:limit])  # locks them (a short while)
    chosen: list[int] = []
    jobs = 0
    for pk, count in heads:
        if chosen and jobs + count > limit:
            break
        chosen.append(pk)
        jobs += count
    more = len(heads) == limit or len(chosen) < len(heads)
    if not chosen:
        return [], more
    if not features.has_select_for_update:
        # No row locks (SQLite): a write takes the database's write lock before the push; it
        # fails if another process changed the table since this transaction read these rows.
        OutboxJob.objects.using(alias).filter(pk__in=chosen).update(
            after_failed_write=F("after_failed_write")
        )
    return list(OutboxJob.objects.using(alias).filter(pk__in=chosen).order_by("id")), more


def delete(alias: str, pks: Iterable[int]) -> None:
    """Delete rows by primary key, in one statement (a no-op for none)."""
    wanted = sorted(set(pks))  # the jobs of one row share it
    if wanted:
        OutboxJob.objects.using(alias).filter(pk__in=wanted).delete()  # one DELETE: nothing cascades
