"""RQ (Redis Queue) for Django."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "enqueue",
    "enqueue_at",
    "enqueue_in",
    "get_connection",
    "get_queue",
    "get_queues",
    "get_scheduler",
    "get_worker",
    "job",
]

if TYPE_CHECKING:
    from .connections import get_connection
    from .decorators import job
    from .queues import enqueue, enqueue_at, enqueue_in, get_queue, get_queues
    from .scheduler import get_scheduler
    from .worker import get_worker

_LAZY = {
    "get_connection": "connections",
    "job": "decorators",
    "enqueue": "queues",
    "enqueue_at": "queues",
    "enqueue_in": "queues",
    "get_queue": "queues",
    "get_queues": "queues",
    "get_scheduler": "scheduler",
    "get_worker": "worker",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import django_taskq` works before Django settings are configured.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'django_taskq' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value
