"""One lazy settings object: every setting is read from django.conf.settings on access."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

COMMIT_MODES = ("on_db_commit", "auto", "request_finished", "outbox")

# Keys of one RQ_QUEUES entry, with the types a value may have.
CONNECTION_KEYS: dict[str, tuple[type, ...]] = {
    "URL": (str,),
    "HOST": (str,),
    "PORT": (int,),
    "DB": (int,),
    "USERNAME": (str,),
    "PASSWORD": (str,),
    "SSL": (bool,),
    "SSL_CERT_REQS": (str, type(None)),
    "UNIX_SOCKET_PATH": (str,),
    "SENTINELS": (list, tuple),
    "MASTER_NAME": (str,),
    "SENTINEL_KWARGS": (dict,),
    "SOCKET_TIMEOUT": (int, float),
    "CONNECTION_KWARGS": (dict,),
    "REDIS_CLIENT_KWARGS": (dict,),
    "USE_REDIS_CACHE": (str,),
}
QUEUE_OPTION_KEYS: dict[str, tuple[type, ...]] = {
    "DEFAULT_TIMEOUT": (int, str),
    "DEFAULT_RESULT_TTL": (int,),
    "ASYNC": (bool,),
    "SERIALIZER": (str,),
    "QUEUE_CLASS": (str,),
    "JOB_CLASS": (str,),
    "COMMIT_MODE": (str,),
}
QUEUE_KEYS: dict[str, tuple[type, ...]] = {**CONNECTION_KEYS, **QUEUE_OPTION_KEYS}

GLOBAL_KEYS: dict[str, tuple[type, ...]] = {
    "COMMIT_MODE": (str,),
    "AUTOCOMMIT": (
        bool,
    ),  # django-rq's spelling, deprecated (W006): True is "auto", False "request_finished"
    "DEFAULT_RESULT_TTL": (int,),
    "QUEUE_CLASS": (str,),
    "JOB_CLASS": (str,),
    "WORKER_CLASS": (str,),
    "SERIALIZER": (str,),
    "SCHEDULER_CLASS": (str,),
}

DEFAULT_QUEUE_CLASS = "django_taskq.queues.DjangoQueue"
DEFAULT_JOB_CLASS = "rq.job.Job"
DEFAULT_WORKER_CLASS = "django_taskq.workers.DjangoPreforkWorker"
DEFAULT_SERIALIZER = "rq.serializers.DefaultSerializer"
DEFAULT_SCHEDULER_CLASS = "rq.scheduler.RQScheduler"


def autocommit_mode(autocommit: object) -> str:
    """The COMMIT_MODE meaning django-rq's ``AUTOCOMMIT``: enqueue at once, or when the request ends."""
    return "auto" if autocommit else "request_finished"


class Settings:
    """Typed, lazy access to django-taskq's settings.

    Reading through properties (never caching) keeps ``override_settings`` working.
    """

    @property
    def QUEUES(self) -> dict[str, dict[str, Any]]:
        value = getattr(django_settings, "RQ_QUEUES", None)
        return value if isinstance(value, dict) else {}

    @property
    def RQ(self) -> dict[str, Any]:
        value = getattr(django_settings, "RQ", None)
        return value if isinstance(value, dict) else {}

    @property
    def COMMIT_MODE(self) -> str:
        rq = self.RQ
        if "COMMIT_MODE" not in rq and "AUTOCOMMIT" in rq:
            return autocommit_mode(rq["AUTOCOMMIT"])
        return str(rq.get("COMMIT_MODE", "on_db_commit"))

    @property
    def DEFAULT_RESULT_TTL(self) -> int | None:
        value = self.RQ.get("DEFAULT_RESULT_TTL")
        return int(value) if value is not None else None

    @property
    def QUEUE_CLASS(self) -> str:
        return str(self.RQ.get("QUEUE_CLASS", DEFAULT_QUEUE_CLASS))

    @property
    def JOB_CLASS(self) -> str:
        return str(self.RQ.get("JOB_CLASS", DEFAULT_JOB_CLASS))

    @property
    def WORKER_CLASS(self) -> str:
        return str(self.RQ.get("WORKER_CLASS", DEFAULT_WORKER_CLASS))

    @property
    def SERIALIZER(self) -> str:
        return str(self.RQ.get("SERIALIZER", DEFAULT_SERIALIZER))

    @property
    def SCHEDULER_CLASS(self) -> str:
        return str(self.RQ.get("SCHEDULER_CLASS", DEFAULT_SCHEDULER_CLASS))

    @property
    def EXCEPTION_HANDLERS(self) -> list[str]:
        value = getattr(django_settings, "RQ_EXCEPTION_HANDLERS", [])
        return list(value) if isinstance(value, (list, tuple)) else []

    @property
    def API_TOKEN(self) -> str | None:
        value = getattr(django_settings, "RQ_API_TOKEN", None)
        return value or None

    @property
    def SHOW_ADMIN_LINK(self) -> bool:
        return bool(getattr(django_settings, "RQ_SHOW_ADMIN_LINK", True))

    @property
    def CRON(self) -> list[dict[str, Any]]:
        value = getattr(django_settings, "RQ_CRON", [])
        return list(value) if isinstance(value, (list, tuple)) else []

    def queue_config(self, name: str) -> dict[str, Any]:
        """The RQ_QUEUES entry of ``name``; raises UnknownQueueError if there is none."""
        queues = self.QUEUES
        config = queues.get(name)
        if not isinstance(config, dict):
            from .exceptions import UnknownQueueError

            raise UnknownQueueError(name, list(queues))
        return config


taskq_settings = Settings()
