"""Periodic jobs declared in ``RQ_CRON``, enqueued exactly once per slot however many runners run.

``schedule`` defines the entries, their slots and the validation of the setting; ``runner``
claims and enqueues the due slots; ``status`` is what the dashboard and ``rqcron --list`` read.
See docs/cron.rst.
"""

from __future__ import annotations

from .runner import (
    DEFAULT_TICK,
    HISTORY,
    RUNNERS_KEY,
    CronRun,
    CronRunner,
    same_location,
    start_cron_thread,
)
from .schedule import (
    DEFAULT_GRACE,
    ENTRY_KEYS,
    KEY_PREFIX,
    CronConfigError,
    CronEntry,
    Problem,
    cron_timezone,
    entry_name,
    load_entries,
    valid_cron,
    validate_entries,
    validate_setting,
)
from .status import CronEntryStatus, cron_runners, cron_status

__all__ = [
    "DEFAULT_GRACE",
    "DEFAULT_TICK",
    "ENTRY_KEYS",
    "HISTORY",
    "KEY_PREFIX",
    "RUNNERS_KEY",
    "CronConfigError",
    "CronEntry",
    "CronEntryStatus",
    "CronRun",
    "CronRunner",
    "Problem",
    "cron_runners",
    "cron_status",
    "cron_timezone",
    "entry_name",
    "load_entries",
    "same_location",
    "start_cron_thread",
    "valid_cron",
    "validate_entries",
    "validate_setting",
]
