"""Database check W060: the outbox table is missing although its migration is applied (the
table was dropped, or the migration faked).

Without it, ``COMMIT_MODE = "outbox"`` cannot store a job (the enqueue raises
ImproperlyConfigured) and the default mode cannot keep a job whose write to Redis fails at the
commit (it raises, as before the outbox existed). A database check: Django runs it with
``check --database <alias>``, ``migrate`` and the test runner, never on a plain ``check``.
While migration 0003 is not applied, Django's own notice of unapplied migrations covers it
(and ``migrate``, which runs this check first, is about to create the table).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.checks import CheckMessage, Tags, register
from django.db import DatabaseError, connections, router
from django.db.migrations.recorder import MigrationRecorder

from .messages import warning


# Only the database tag: Django runs tagged checks on every database when asked for a tag, so
# ``run_checks(tags=["django_taskq"])`` (e.g. in a test without database access) stays offline.
@register(Tags.database)
def check_outbox_table(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    from ..models import OutboxJob
    from ..outbox.rows import MIGRATION_HINT, table_exists

    messages: list[CheckMessage] = []
    for alias in databases or ():
        if not router.allow_migrate_model(alias, OutboxJob):
            continue
        try:
            if table_exists(alias) or not _migration_applied(alias):
                continue
        except DatabaseError:
            continue  # an unreachable database is not this check's to report
        messages.append(
            warning(
                60,
                f"django-taskq's outbox table is missing in database {alias!r}: COMMIT_MODE "
                "'outbox' cannot store jobs there, and in the default mode a job whose write to "
                "Redis fails at the commit is lost instead of kept for the relay.",
                MIGRATION_HINT,
                f"DATABASES[{alias!r}]",
            )
        )
    return messages


MIGRATION = ("django_taskq", "0003_outboxjob")


def _migration_applied(alias: str) -> bool:
    return MIGRATION in MigrationRecorder(connections[alias]).applied_migrations()
