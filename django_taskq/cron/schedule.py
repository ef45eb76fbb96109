"""The schedule of RQ_CRON: its entries, their slots and job ids, and the validation of the setting.

Each entry has *slots*: the instants its cron string (read in Django's ``TIME_ZONE``) or its
interval (multiples of ``interval`` seconds since the Unix epoch) name. The validation returns
``Problem`` records; ``django_taskq.checks.cron`` turns them into system check messages and
``load_entries`` refuses to start on an error, so both report the same ids (E030-E039, W030).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter  # type: ignore[import-untyped]
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import taskq_settings
from ..hints import did_you_mean, type_names

KEY_PREFIX = "taskq:cron:"
DEFAULT_GRACE = 300

# Keys of one RQ_CRON entry and the types their values may have.
ENTRY_KEYS: dict[str, tuple[type, ...]] = {
    "func": (str,),
    "queue": (str,),
    "cron": (str,),
    "interval": (int, float),
    "args": (list, tuple),
    "kwargs": (dict,),
    "timeout": (int, str),
    "result_ttl": (int,),
    "ttl": (int,),
    "failure_ttl": (int,),
    "description": (str,),
    "meta": (dict,),
    "at_front": (bool,),
    "grace": (int, float, type(None)),
    "name": (str,),
    "id": (str,),
}
EXAMPLE = '{"func": "myapp.jobs.report", "cron": "0 9 * * *"}'

_JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class CronConfigError(ImproperlyConfigured):
    """RQ_CRON is invalid; the system checks (django_taskq.E030-E039) say where and how."""


@dataclass(frozen=True)
class CronEntry:
    """One periodic job of RQ_CRON."""

    name: str
    func: str
    queue: str = "default"
    cron: str | None = None
    interval: float | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    grace: float | None = DEFAULT_GRACE
    options: dict[str, Any] = field(default_factory=dict)  # timeout, result_ttl, ttl, ...
    at_front: bool = False

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.interval is None):
            raise CronConfigError(f"Cron entry {self.name!r} needs exactly one of 'cron' and 'interval'.")
        if self.cron is not None and not valid_cron(self.cron):
            raise CronConfigError(f"Cron entry {self.name!r}: {self.cron!r} is not a valid cron string.")
        if self.interval is not None and not self.interval > 0:
            raise CronConfigError(f"Cron entry {self.name!r}: interval must be positive.")

    @classmethod
    def from_setting(cls, item: dict[str, Any]) -> CronEntry:
        """An entry from one RQ_CRON dict (assumed valid: the system checks report problems)."""
        options = {
            key: item[key]
            for key in ("timeout", "result_ttl", "ttl", "failure_ttl", "description", "meta")
            if item.get(key) is not None
        }
        interval = item.get("interval")
        return cls(
            name=entry_name(item),
            func=str(item["func"]),
            queue=str(item.get("queue", "default")),
            cron=item.get("cron"),
            interval=float(interval) if interval is not None else None,
            args=tuple(item.get("args", ())),
            kwargs=dict(item.get("kwargs", {})),
            grace=item.get("grace", DEFAULT_GRACE),
            options=options,
            at_front=bool(item.get("at_front", False)),
        )

    @property
    def schedule(self) -> str:
        """The schedule for humans: the cron string, or ``every N s``."""
        if self.cron is not None:
            return self.cron
        return f"every {self.interval or 0:g} s"

    def slot_at(self, now: datetime) -> datetime | None:
        """The most recent slot at or before ``now``, in UTC (cron strings are read in TIME_ZONE)."""
        if self.interval is not None:
            stamp = math.floor(now.timestamp() / self.interval) * self.interval
            return datetime.fromtimestamp(stamp, timezone.utc)
        local = now.astimezone(self.zone)
        # croniter's get_prev() is strict (nudge past ``now`` so that a slot at ``now`` counts),
        # and inside a repeated autumn hour it may answer a slot earlier than the latest one:
        # take it as a first guess and walk forward with get_next(), which is exact.
        it = croniter(self._cron, local + timedelta(microseconds=1))
        for _ in range(4):  # a repeated autumn hour is skipped at most once in a row
            guess: datetime = it.get_prev(datetime)
            if not self._repeated_wall_time(guess):
                break
        else:  # pragma: no cover - cannot happen for a valid cron string
            return None
        slot = guess.astimezone(timezone.utc)  # (ambiguous local times never compare equal)
        while (following := self._cron_after(slot)) <= now:
            slot = following
        return slot

    def next_slot(self, now: datetime) -> datetime | None:
        """The first slot strictly after ``now`` (None when there is none, e.g. a schedule that ended)."""
        if self.interval is not None:
            stamp = (math.floor(now.timestamp() / self.interval) + 1) * self.interval
            return datetime.fromtimestamp(stamp, timezone.utc)
        return self._cron_after(now)

    def _cron_after(self, moment: datetime) -> datetime:
        it = croniter(self._cron, moment.astimezone(self.zone))
        while True:
            slot: datetime = it.get_next(datetime)
            if not self._repeated_wall_time(slot):
                return slot.astimezone(timezone.utc)

    @property
    def zone(self) -> tzinfo:
        """The zone the cron string is read in: Django's TIME_ZONE (a Schedule row has its own)."""
        return cron_timezone()

    @property
    def _cron(self) -> str:
        return self.cron or ""

    def _repeated_wall_time(self, slot: datetime) -> bool:
        """Whether ``slot`` is the second pass of a wall-clock time repeated by the autumn DST change.

        Entries pinned to fixed hours (e.g. ``30 2 * * *``) run once that night, like system
        cron; entries whose hour field has a ``*`` (``*/30 * * * *``) keep running in real time.
        """
        fields = self._cron.split()
        if len(fields) < 5 or "*" in fields[1]:
            return False
        naive = slot.replace(tzinfo=None)
        zone = slot.tzinfo
        first, second = naive.replace(fold=0).replace(tzinfo=zone), naive.replace(fold=1).replace(tzinfo=zone)
        if first.utcoffset() == second.utcoffset():
            return False  # not an ambiguous time
        return slot.utcoffset() == second.utcoffset()

    def job_id(self, slot: datetime) -> str:
        """The id of the job of ``slot``: the same in every runner, so a slot is one job."""
        safe = _JOB_ID_UNSAFE.sub("_", self.name).strip("_") or "entry"
        if safe != self.name:  # keep names that differ only in unsafe characters apart
            safe = f"{safe}-{hashlib.sha1(self.name.encode(), usedforsecurity=False).hexdigest()[:8]}"
        when = slot.astimezone(timezone.utc)
        fraction = f"{when.microsecond:06d}" if when.microsecond else ""  # sub-second intervals
        return f"cron-{safe}-{when:%Y%m%dT%H%M%S}{fraction}"

    @property
    def state_key(self) -> str:
        return f"{KEY_PREFIX}{self.name}"

    @property
    def runs_key(self) -> str:
        return f"{KEY_PREFIX}{self.name}:runs"

    def runs_so_far(self, recorded: int) -> int:
        """How many runs the entry has had, given the count its Redis state keeps."""
        return recorded

    def may_run(self, runs: int) -> bool:
        """Whether one more run is allowed after ``runs`` (a Schedule row may have a maximum)."""
        return True


def entry_name(item: dict[str, Any]) -> str:
    """The stable name of an RQ_CRON dict: its ``name`` or ``id``, else its ``func``."""
    return str(item.get("name") or item.get("id") or item.get("func"))


def valid_cron(expression: str) -> bool:
    """Whether ``expression`` is a five-field cron string or an alias such as ``@daily``."""
    fields = expression.split()
    if not (len(fields) == 5 or (len(fields) == 1 and fields[0].startswith("@"))):
        return False
    try:
        return bool(croniter.is_valid(expression))
    except Exception:  # croniter raises on some malformed input instead of answering False
        return False


def cron_timezone() -> tzinfo:
    """The zone cron strings are read in: Django's TIME_ZONE (UTC when unset)."""
    return ZoneInfo(getattr(settings, "TIME_ZONE", None) or "UTC")


def load_entries(raw: Iterable[Any] | None = None) -> list[CronEntry]:
    """The entries of RQ_CRON (or ``raw``); raises CronConfigError if the checks find errors."""
    items = list(taskq_settings.CRON if raw is None else raw)
    errors = [problem for problem in validate_entries(items) if not problem.warning]
    if errors:
        raise CronConfigError(f"RQ_CRON is invalid: {errors[0].msg} ({errors[0].id})")
    return [CronEntry.from_setting(item) for item in items]


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One mistake in RQ_CRON, numbered like its system check (E030-E039, W030)."""

    number: int
    msg: str
    hint: str
    obj: str
    warning: bool = False

    @property
    def id(self) -> str:
        """The system check id, e.g. ``django_taskq.E035``."""
        return f"django_taskq.{'W' if self.warning else 'E'}{self.number:03d}"


def validate_setting(value: Any) -> list[Problem]:
    """The problems of an RQ_CRON value (a list of entries, or something else by mistake)."""
    if not isinstance(value, (list, tuple)):
        kind = type(value).__name__
        return [Problem(30, f"RQ_CRON is a {kind}, not a list.", f"Use RQ_CRON = [{EXAMPLE}].", "RQ_CRON")]
    return validate_entries(list(value))


def validate_entries(items: list[Any]) -> list[Problem]:
    """The problems of a list of RQ_CRON entries (errors and warnings)."""
    problems: list[Problem] = []
    for index, item in enumerate(items):
        problems.extend(_entry_problems(index, item))
    names = Counter(entry_name(item) for item in items if isinstance(item, dict) and item.get("func"))
    for name, count in names.items():
        if count > 1:
            problems.append(
                Problem(39, f"RQ_CRON has {count} entries named {name!r}.",
                        "Give each entry a distinct 'name': it keys the entry's state in Redis.", "RQ_CRON")
            )  # fmt: skip
    return problems


def _entry_problems(index: int, item: Any) -> list[Problem]:
    obj = f"RQ_CRON[{index}]"
    if not isinstance(item, dict):
        return [Problem(31, f"{obj} is a {type(item).__name__}, not a dict.", f"Use {EXAMPLE}.", obj)]
    problems: list[Problem] = []
    for key, value in item.items():
        if key not in ENTRY_KEYS:
            problems.append(
                Problem(30, f"{obj} has an unknown key {key!r}.", did_you_mean(str(key), ENTRY_KEYS), obj,
                        warning=True)
            )  # fmt: skip
        elif not isinstance(value, ENTRY_KEYS[key]) or (
            isinstance(value, bool) and bool not in ENTRY_KEYS[key]
        ):
            kind = type_names(ENTRY_KEYS[key])
            problems.append(
                Problem(38, f"{obj}[{key!r}] must be {kind}, not {type(value).__name__}.",
                        f"Set {key!r} to a value of type {kind}.", obj)
            )  # fmt: skip
    if "name" in item and "id" in item and item["name"] != item["id"]:
        problems.append(
            Problem(39, f"{obj} has both 'name' and 'id', and they differ.", "Keep only 'name'.", obj)
        )
    problems.extend(_func_problems(obj, item.get("func")))
    queue = item.get("queue", "default")
    if isinstance(queue, str) and queue not in taskq_settings.QUEUES:
        known = ", ".join(taskq_settings.QUEUES) or "none"
        problems.append(Problem(34, f"{obj} uses the queue {queue!r}, which RQ_QUEUES does not define.",
                                f"Use one of: {known}.", obj))  # fmt: skip
    problems.extend(_schedule_problems(obj, item))
    return problems


def _func_problems(obj: str, func: Any) -> list[Problem]:
    if func is None or func == "":
        return [
            Problem(32, f"{obj} has no 'func'.", "Add 'func': the dotted path of the function to run.", obj)
        ]
    if not isinstance(func, str):
        return []  # reported as E038
    try:
        target = import_string(func)
    except ImportError as exc:
        return [Problem(33, f"{obj}['func'] = {func!r} cannot be imported: {exc}.",
                        "Give the dotted path of a module-level function.", obj)]  # fmt: skip
    if not callable(target):
        return [Problem(33, f"{obj}['func'] = {func!r} is not callable.", "Point 'func' at a function.", obj)]
    return []


def _schedule_problems(obj: str, item: dict[str, Any]) -> list[Problem]:
    has_cron, has_interval = item.get("cron") is not None, item.get("interval") is not None
    if has_cron == has_interval:
        which = "both" if has_cron else "neither"
        return [Problem(35, f"{obj} has {which} 'cron' and 'interval'.",
                        "Give one: 'cron': '*/5 * * * *' or 'interval': 300 (seconds).", obj)]  # fmt: skip
    problems: list[Problem] = []
    cron = item.get("cron")
    if isinstance(cron, str) and not valid_cron(cron):
        problems.append(
            Problem(36, f"{obj}['cron'] = {cron!r} is not a valid cron string.",
                    "Use five fields (minute hour day month weekday) or @hourly/@daily.", obj)
        )  # fmt: skip
    for key in ("interval", "grace"):
        value = item.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not value > 0:
            problems.append(Problem(37, f"{obj}[{key!r}] = {value!r} is not positive.",
                                    f"Set {key!r} to a number of seconds above 0.", obj))  # fmt: skip
    return problems
