"""Periodic jobs (``RQ_CRON`` and ``Schedule`` rows), enqueued exactly once per slot however many runners run.

``schedule`` defines the RQ_CRON entries, their slots and the validation of the setting;
``rows`` makes a ``Schedule`` row an entry (its zone, window and keys); ``loader`` keeps the
enabled rows in a runner (one cheap query every 2 s); ``runner`` ticks and finds the due
slots, ``claims`` takes them in one Redis transaction per connection; ``run_state`` writes
the rows' run state (runners and job callbacks); ``database`` is what the admin calls
(``upcoming_runs``, ``describe_schedule``, ``run_now``); ``status`` is what the dashboard and
``rqcron --list`` read. See docs/cron.rst and docs/schedules.rst. The modules that query the
models (``loader``, ``run_state``, ``database``) are imported from there, not re-exported
here: this package is imported before the app registry is ready.
"""

from __future__ import annotations

from .claims import HISTORY, CronRun
from .rows import ScheduleEntry
from .runner import (
    DEFAULT_TICK,
    RUNNERS_KEY,
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
from .status import CronEntryStatus, ScheduleStatus, cron_runners, cron_status, schedule_status

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
    "ScheduleEntry",
    "ScheduleStatus",
    "cron_runners",
    "cron_status",
    "cron_timezone",
    "entry_name",
    "load_entries",
    "same_location",
    "schedule_status",
    "start_cron_thread",
    "valid_cron",
    "validate_entries",
    "validate_setting",
]
