"""Building check messages: ``django_taskq.E0xx`` errors and ``W0xx`` warnings, with their hints."""

from __future__ import annotations

from django.core.checks import Error, Warning

from ..hints import did_you_mean, type_names

__all__ = ["did_you_mean", "error", "type_names", "warning"]


def error(id_: int, msg: str, hint: str, obj: str = "RQ_QUEUES") -> Error:
    return Error(msg, hint=hint, obj=obj, id=f"django_taskq.E{id_:03d}")


def warning(id_: int, msg: str, hint: str, obj: str = "RQ_QUEUES") -> Warning:
    return Warning(msg, hint=hint, obj=obj, id=f"django_taskq.W{id_:03d}")
