"""How many jobs wait in the outbox and for how long: for rqstats, stats.json and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Min, Sum
from django.utils import timezone

from ..models import OutboxJob
from . import rows

__all__ = ["OutboxStatus", "outbox_status"]


@dataclass
class OutboxStatus:
    jobs: int = 0  # jobs waiting, every database together
    oldest_age: float | None = None  # seconds since the oldest row was stored; None when empty
    errors: list[str] = field(default_factory=list)  # databases that could not be read, and why

    def as_dict(self) -> dict[str, object]:
        return {"jobs": self.jobs, "oldest_age": self.oldest_age, "errors": list(self.errors)}


def outbox_status() -> OutboxStatus:
    """One aggregate query per database that holds the table; a database that cannot be read
    is named in ``errors`` (with the error's type, never its text)."""
    status = OutboxStatus()
    oldest = None
    for alias in rows.outbox_aliases():
        try:
            if not rows.table_exists(alias):
                status.errors.append(f"database {alias!r}: no outbox table. {rows.MIGRATION_HINT}")
                continue
            found = OutboxJob.objects.using(alias).aggregate(jobs=Sum("jobs"), oldest=Min("created_at"))
        except Exception as exc:  # statistics never fail for it; the type only (no server details)
            status.errors.append(f"database {alias!r}: {type(exc).__name__}")
            continue
        status.jobs += found["jobs"] or 0
        if found["oldest"] is not None and (oldest is None or found["oldest"] < oldest):
            oldest = found["oldest"]
    if oldest is not None:
        status.oldest_age = round(max(0.0, (timezone.now() - oldest).total_seconds()), 3)
    return status
