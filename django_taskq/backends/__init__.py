"""The Django Tasks framework backend.

``TASKS = {"default": {"BACKEND": "django_taskq.backends.RQBackend"}}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RQBackend"]

if TYPE_CHECKING:
    from .rq import RQBackend


def __getattr__(name: str) -> Any:
    # Lazy, so that django_taskq.backends.checks imports without the tasks framework installed.
    if name == "RQBackend":
        from .rq import RQBackend

        return RQBackend
    raise AttributeError(f"module 'django_taskq.backends' has no attribute {name!r}")
