"""Checks of RQ_QUEUES, RQ and the other RQ_* settings (ids documented in docs/checks.rst).

E001 RQ_QUEUES missing or empty        E002 a queue entry is not a dict
E003 a value has the wrong type        E004 more than one way to connect
E005 SENTINELS without MASTER_NAME     E006 USE_REDIS_CACHE names no cache
E007 USE_REDIS_CACHE is not Redis      E008 invalid COMMIT_MODE
E009 a class/serializer path fails     E010 RQ is not a dict
E011 RQ_EXCEPTION_HANDLERS invalid     E012 RQ_API_TOKEN is not a string
W001 unknown RQ_QUEUES key             W002 unknown RQ key
W003 QUEUE_CLASS not a DjangoQueue (enqueues are not commit-safe)
W004 a connection key that the way of connecting ignores
W005 SCHEDULER_CLASS not an RQScheduler
W006 django-rq's AUTOCOMMIT (deprecated; honoured unless COMMIT_MODE is set)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, register
from django.utils.module_loading import import_string

from ..conf import COMMIT_MODES, CONNECTION_KEYS, GLOBAL_KEYS, QUEUE_KEYS, autocommit_mode
from .messages import did_you_mean, error, type_names, warning

# Only one of these may say how to reach Redis (DB, PASSWORD, SSL... combine with any).
CONNECTION_WAYS = ("URL", "HOST", "UNIX_SOCKET_PATH", "SENTINELS", "USE_REDIS_CACHE")
# Keys that mean nothing for a way of connecting: warned about rather than silently dropped.
IGNORED_KEYS = {
    "USE_REDIS_CACHE": tuple(key for key in CONNECTION_KEYS if key != "USE_REDIS_CACHE"),
    "URL": ("PORT", "MASTER_NAME", "SENTINEL_KWARGS"),
    "HOST": ("MASTER_NAME", "SENTINEL_KWARGS"),
    "UNIX_SOCKET_PATH": ("PORT", "SSL", "SSL_CERT_REQS", "MASTER_NAME", "SENTINEL_KWARGS"),
    "SENTINELS": ("PORT",),
}


@register("django_taskq")
def check_queues(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    queues = getattr(settings, "RQ_QUEUES", None)
    if not isinstance(queues, dict) or not queues:
        return [
            error(
                1,
                "RQ_QUEUES is missing or empty.",
                'Define at least one queue, e.g. RQ_QUEUES = {"default": {"URL": "redis://localhost:6379/0"}}.',
            )
        ]
    messages: list[CheckMessage] = []
    for name, config in queues.items():
        messages.extend(_check_queue(str(name), config))
    return messages


def _key_messages(
    obj: str, values: dict[str, Any], known: dict[str, tuple[type, ...]], *, unknown_id: int
) -> list[CheckMessage]:
    """W00<unknown_id> for each unknown key of ``values`` (with a hint), E003 for each wrong type."""
    messages: list[CheckMessage] = []
    for key, value in values.items():
        if key not in known:
            messages.append(
                warning(unknown_id, f"{obj} has an unknown key {key!r}.", did_you_mean(key, known), obj)
            )
        elif not isinstance(value, known[key]) or (isinstance(value, bool) and bool not in known[key]):
            messages.append(
                error(
                    3,
                    f"{obj}[{key!r}] must be {type_names(known[key])}, not {type(value).__name__}.",
                    f"Set {key} to a value of type {type_names(known[key])}.",
                    obj,
                )
            )
    return messages


def _check_queue(name: str, config: Any) -> list[CheckMessage]:
    obj = f"RQ_QUEUES[{name!r}]"
    if not isinstance(config, dict):
        return [
            error(2, f"{obj} is a {type(config).__name__}, not a dict.", 'Use {"URL": "redis://..."}.', obj)
        ]
    messages = _key_messages(obj, config, QUEUE_KEYS, unknown_id=1)
    ways = [way for way in CONNECTION_WAYS if way in config]
    if len(ways) > 1:
        messages.append(
            error(
                4,
                f"{obj} gives {' and '.join(ways)}: more than one way to connect.",
                f"Keep one of {', '.join(ways)}.",
                obj,
            )
        )
    if len(ways) == 1:
        ignored = [key for key in IGNORED_KEYS[ways[0]] if key in config]
        if ignored:
            messages.append(
                warning(
                    4,
                    f"{obj} connects by {ways[0]}, which ignores {', '.join(ignored)}.",
                    _ignored_hint(ways[0]),
                    obj,
                )
            )
    mode = config.get("COMMIT_MODE")
    if isinstance(mode, str) and mode not in COMMIT_MODES:
        messages.append(
            error(8, f"{obj}['COMMIT_MODE'] is {mode!r}.", f"Use one of: {', '.join(COMMIT_MODES)}.", obj)
        )
    if "SENTINELS" in config and not config.get("MASTER_NAME"):
        messages.append(error(5, f"{obj} has SENTINELS but no MASTER_NAME.", "Add MASTER_NAME.", obj))
    if isinstance(config.get("SENTINELS"), (list, tuple)) and not all(
        isinstance(s, (list, tuple)) and len(s) == 2 for s in config["SENTINELS"]
    ):
        messages.append(
            error(
                3,
                f"{obj}['SENTINELS'] must be a list of (host, port) pairs.",
                'e.g. [("10.0.0.1", 26379)]',
                obj,
            )
        )
    if isinstance(config.get("USE_REDIS_CACHE"), str):
        messages.extend(_check_cache(obj, config["USE_REDIS_CACHE"]))
    for key in ("QUEUE_CLASS", "JOB_CLASS", "SERIALIZER"):
        if isinstance(config.get(key), str):
            messages.extend(_check_import(f"{obj}[{key!r}]", config[key]))
    if isinstance(config.get("QUEUE_CLASS"), str):
        messages.extend(_check_queue_class(f"{obj}['QUEUE_CLASS']", config["QUEUE_CLASS"]))
    return messages


def _ignored_hint(way: str) -> str:
    if way == "USE_REDIS_CACHE":
        return "The cache's own LOCATION and OPTIONS define this connection: set them there."
    if way == "URL":
        return "Put the port in the URL (redis://host:port/db); Sentinel keys need SENTINELS."
    return "Remove them, or connect another way."


def _check_cache(obj: str, alias: str) -> list[CheckMessage]:
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        return [
            error(
                6,
                f"{obj}['USE_REDIS_CACHE'] names the cache {alias!r}, which CACHES does not define.",
                f"Add {alias!r} to CACHES or use one of: {', '.join(caches) or 'none'}.",
                obj,
            )
        ]
    backend = str(caches[alias].get("BACKEND", ""))
    if backend not in ("django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache"):
        return [
            error(
                7,
                f"{obj}['USE_REDIS_CACHE'] names cache {alias!r}, whose backend {backend!r} is not Redis.",
                "Point it at a django-redis or django.core.cache.backends.redis.RedisCache cache.",
                obj,
            )
        ]
    return []


def _check_import(obj: str, path: str) -> list[CheckMessage]:
    try:
        import_string(path)
    except ImportError as exc:
        return [
            error(9, f"{obj} = {path!r} cannot be imported: {exc}.", "Give a dotted path to a class.", obj)
        ]
    return []


def _check_queue_class(obj: str, path: str) -> list[CheckMessage]:
    from ..queues import DjangoQueue

    try:
        cls = import_string(path)
    except ImportError:
        return []  # reported as E009
    if isinstance(cls, type) and not issubclass(cls, DjangoQueue):
        return [
            warning(
                3,
                f"{obj} = {path!r} does not subclass django_taskq.queues.DjangoQueue: "
                "its enqueues ignore COMMIT_MODE.",
                "Subclass django_taskq.queues.DjangoQueue.",
                obj,
            )
        ]
    return []


def _check_scheduler_class(path: str) -> list[CheckMessage]:
    from rq.scheduler import RQScheduler

    try:
        cls = import_string(path)
    except ImportError:
        return []  # reported as E009
    if isinstance(cls, type) and issubclass(cls, RQScheduler):
        return []
    return [
        warning(
            5,
            f"RQ['SCHEDULER_CLASS'] = {path!r} does not subclass rq.scheduler.RQScheduler "
            "(rq-scheduler's Scheduler, as django-rq used, is not one).",
            "Remove the key to use RQ's built-in scheduler, or subclass rq.scheduler.RQScheduler.",
            "RQ",
        )
    ]


@register("django_taskq")
def check_globals(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    rq = getattr(settings, "RQ", {})
    if not isinstance(rq, dict):
        return [
            error(10, f"RQ is a {type(rq).__name__}, not a dict.", 'Use RQ = {"COMMIT_MODE": ...}.', "RQ")
        ]
    messages = _key_messages("RQ", rq, GLOBAL_KEYS, unknown_id=2)
    if "AUTOCOMMIT" in rq:
        mode_name = "COMMIT_MODE" if "COMMIT_MODE" not in rq else "COMMIT_MODE (which wins here)"
        messages.append(
            warning(
                6,
                f"RQ['AUTOCOMMIT'] is django-rq's deprecated spelling of {mode_name}.",
                f'Replace it with RQ = {{"COMMIT_MODE": "{autocommit_mode(rq["AUTOCOMMIT"])}"}}.',
                "RQ",
            )
        )
    mode = rq.get("COMMIT_MODE")
    if mode is not None and mode not in COMMIT_MODES:
        messages.append(
            error(8, f"RQ['COMMIT_MODE'] is {mode!r}.", f"Use one of: {', '.join(COMMIT_MODES)}.", "RQ")
        )
    for key in ("QUEUE_CLASS", "JOB_CLASS", "WORKER_CLASS", "SERIALIZER", "SCHEDULER_CLASS"):
        if isinstance(rq.get(key), str):
            messages.extend(_check_import(f"RQ[{key!r}]", rq[key]))
    if isinstance(rq.get("QUEUE_CLASS"), str):
        messages.extend(_check_queue_class("RQ['QUEUE_CLASS']", rq["QUEUE_CLASS"]))
    if isinstance(rq.get("SCHEDULER_CLASS"), str):
        messages.extend(_check_scheduler_class(rq["SCHEDULER_CLASS"]))

    handlers = getattr(settings, "RQ_EXCEPTION_HANDLERS", [])
    if not isinstance(handlers, (list, tuple)) or not all(isinstance(h, str) for h in handlers):
        messages.append(
            error(
                11,
                "RQ_EXCEPTION_HANDLERS must be a list of dotted paths.",
                'e.g. ["myapp.handlers.report"]',
                "RQ_EXCEPTION_HANDLERS",
            )
        )
    else:
        for path in handlers:
            try:
                import_string(path)
            except ImportError as exc:
                messages.append(
                    error(11, f"RQ_EXCEPTION_HANDLERS: {path!r} cannot be imported: {exc}.",
                           "Give the dotted path of a callable.", "RQ_EXCEPTION_HANDLERS")
                )  # fmt: skip
    token = getattr(settings, "RQ_API_TOKEN", None)
    if token is not None and not isinstance(token, str):
        messages.append(error(12, "RQ_API_TOKEN must be a string.", "Set it from an environment variable.",
                               "RQ_API_TOKEN"))  # fmt: skip
    return messages
