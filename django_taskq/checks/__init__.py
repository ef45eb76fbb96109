"""System checks: every misconfiguration gets a stable id and a hint (ids listed in docs/checks.rst).

``settings``  RQ_QUEUES, RQ, RQ_EXCEPTION_HANDLERS, RQ_API_TOKEN (E001-E012, W001-W005)
``servers``   deploy checks that contact Redis (E020, E021)
``security``  deploy check W007: pickled jobs on a Redis open to the network
``cron``      RQ_CRON (E030-E039, W030)
``outbox``    database check W060: the outbox table is missing
``messages``  the error/warning builders and hint helpers they share

Importing this package registers the checks (``AppConfig.ready`` does it). The checks of the
Django Tasks backend live in ``django_taskq.backends.checks``.
"""

from __future__ import annotations

from .cron import check_cron
from .messages import did_you_mean, error, type_names, warning
from .outbox import check_outbox_table
from .security import check_pickle_exposure
from .servers import MIN_REDIS_VERSION, check_servers
from .settings import CONNECTION_WAYS, IGNORED_KEYS, check_globals, check_queues

__all__ = [
    "CONNECTION_WAYS",
    "IGNORED_KEYS",
    "MIN_REDIS_VERSION",
    "check_cron",
    "check_globals",
    "check_outbox_table",
    "check_pickle_exposure",
    "check_queues",
    "check_servers",
    "did_you_mean",
    "error",
    "type_names",
    "warning",
]
