"""Job functions for the cron tests."""

from __future__ import annotations

from rq import get_current_job

from django_taskq.connections import get_connection


def record(label: str = "tick") -> str:
    """Append ``label`` and the job's cron slot to a Redis list, so a test sees the job ran."""
    job = get_current_job()
    slot = job.meta.get("cron_slot", "") if job else ""
    get_connection("default").rpush("cron-test:ran", f"{label}|{slot}")
    return label


not_callable = 42
