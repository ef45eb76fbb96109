"""A model without a table: it gives the dashboard its admin entry and its permissions.

``django_taskq.view_queues`` opens the read-only pages; ``django_taskq.manage_queues`` allows
every action (requeue, delete, stop, cancel, enqueue now, empty). The audit trail of those
actions is kept in the admin's ``LogEntry`` with this model's content type.
"""

from __future__ import annotations

from django.db import models

VIEW_PERMISSION = "django_taskq.view_queues"
MANAGE_PERMISSION = "django_taskq.manage_queues"


class Queue(models.Model):
    """Never stored: the queues live in Redis (``managed = False``, no table is created)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_queues", "Can view queues, jobs and workers"),
            ("manage_queues", "Can requeue, delete, stop, cancel and enqueue jobs and empty queues"),
        ]
        verbose_name = "queue"
        verbose_name_plural = "queues"

    def __str__(self) -> str:
        return "queues"
