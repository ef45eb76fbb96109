"""rqcron's django-rq form: a cron config module, read into RQ_CRON entries.

django-rq's ``rqcron cron_config.py`` (or ``rqcron myapp.cron_jobs``) loads a module whose
``rq.cron.register(func, queue_name=..., cron=... | interval=...)`` calls declare the jobs.
RQ's own loader reads it (file path or dotted path, as ``rq cron`` does); each registration
becomes the RQ_CRON dict that means the same, so the jobs run on our cron runner: validated
by the same checks, enqueued once per slot however many runners run.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from redis import Redis
from rq.cron import CronScheduler

from django_taskq.cron import CronConfigError, CronEntry, load_entries

# rq.cron.register() keyword -> RQ_CRON key, for the options that keep their meaning.
_OPTION_KEYS = {
    "args": "args",
    "kwargs": "kwargs",
    "cron": "cron",
    "interval": "interval",
    "job_timeout": "timeout",
    "result_ttl": "result_ttl",
    "ttl": "ttl",
    "failure_ttl": "failure_ttl",
    "meta": "meta",
    "name": "name",
}


class _Registrations(CronScheduler):
    """A CronScheduler that only records what the config module registers (no Redis)."""

    def __init__(self) -> None:
        super().__init__(connection=cast(Redis, None), logging_level=logging.WARNING)
        self.registered: list[dict[str, Any]] = []

    def register(self, func: Any, queue_name: str, **options: Any) -> Any:  # type: ignore[override]
        self.registered.append({"func": func, "queue_name": queue_name, **options})


def registrations(config_path: str) -> list[dict[str, Any]]:
    """The keyword arguments of each ``rq.cron.register()`` call of the config module, in order.

    ``config_path`` is what ``rq cron`` and django-rq's ``rqcron`` take: a dotted module path,
    or a file path (absolute, or relative to the current directory, ``.py`` optional).
    """
    collector = _Registrations()
    try:
        collector.load_config_from_file(config_path)
    except Exception as exc:  # the user's module may raise anything while importing
        raise CronConfigError(f"Cannot load the cron config {config_path!r}: {exc}") from exc
    return collector.registered


def setting_entry(registration: dict[str, Any]) -> dict[str, Any]:
    """The RQ_CRON dict that means what one ``rq.cron.register()`` call means."""
    func = registration["func"]
    if not isinstance(func, str):
        func = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
    if registration.get("webhooks"):
        raise CronConfigError(f"Cron job {func!r}: webhooks are not supported by rqcron; remove them.")
    entry: dict[str, Any] = {"func": func, "queue": registration["queue_name"]}
    for theirs, ours in _OPTION_KEYS.items():
        value = registration.get(theirs)
        if value is not None and value != "":
            entry[ours] = list(value) if theirs == "args" else value
    return entry


def load_config(config_path: str) -> list[CronEntry]:
    """The cron entries of a config module, validated like RQ_CRON (CronConfigError if invalid)."""
    return load_entries([setting_entry(item) for item in registrations(config_path)])
