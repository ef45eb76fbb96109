"""A model without a table: it gives the dashboard its admin entry and its permissions.

``django_taskq.view_queues`` opens the read-only pages; ``django_taskq.manage_queues`` allows
every action (requeue, delete, stop, cancel, enqueue now, empty). The audit trail of those
actions is kept in the admin's ``LogEntry`` with this model's content type.
"""

from __future__ import annotations

from typing import Any

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


def default_time_zone() -> str:
    """New schedules read their cron strings and times in the project's TIME_ZONE."""
    from django.conf import settings

    return str(getattr(settings, "TIME_ZONE", None) or "UTC")


class Schedule(models.Model):
    """A periodic or one-off job kept in the database and edited in the admin.

    Exactly one of ``cron``, ``interval`` and ``run_at`` says when it runs. The runners of
    ``RQ_CRON`` (``rqcron``, ``rqworker --with-cron``, ``rqworker-pool``) run the enabled rows,
    each slot exactly once however many runners there are. The fields under "run state" are
    written by the runners and the jobs, never by a form.
    """

    name = models.CharField(max_length=200, unique=True)
    func = models.CharField(max_length=255, help_text="Dotted path of a callable, e.g. myapp.jobs.report.")
    args = models.JSONField(default=list, blank=True, help_text="A JSON list of positional arguments.")
    kwargs = models.JSONField(default=dict, blank=True, help_text="A JSON object of keyword arguments.")
    queue = models.CharField(max_length=100, default="default", help_text="A queue of RQ_QUEUES.")
    description = models.CharField(max_length=255, blank=True, default="")

    cron = models.CharField(
        max_length=100, blank=True, default="", help_text='A 5-field cron string ("0 9 * * 1-5") or @daily...'
    )
    interval = models.PositiveIntegerField(null=True, blank=True, help_text="Run every this many seconds.")
    run_at = models.DateTimeField(null=True, blank=True, help_text="Run once, at this time.")
    time_zone = models.CharField(
        max_length=63, default=default_time_zone, help_text="The zone the cron string is read in."
    )

    enabled = models.BooleanField(default=True)
    max_runs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Disable the schedule after this many runs; empty for no limit."
    )
    start_at = models.DateTimeField(null=True, blank=True, help_text="No run before this time.")
    end_at = models.DateTimeField(null=True, blank=True, help_text="No run after this time (expiry).")

    timeout = models.PositiveIntegerField(null=True, blank=True, help_text="Job timeout in seconds.")
    result_ttl = models.IntegerField(null=True, blank=True, help_text="Seconds to keep the result.")
    ttl = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds the job may wait in its queue before it is discarded."
    )

    # Run state
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_job_id = models.CharField(max_length=255, blank=True, default="", editable=False)
    last_status = models.CharField(max_length=32, blank=True, default="", editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    run_count = models.PositiveIntegerField(default=0, editable=False)
    success_count = models.PositiveIntegerField(default=0, editable=False)
    failure_count = models.PositiveIntegerField(default=0, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "schedule"
        verbose_name_plural = "schedules"

    def __str__(self) -> str:
        return self.name

    def full_clean(
        self, exclude: Any = None, validate_unique: bool = True, validate_constraints: bool = True
    ) -> None:
        # A model form excludes the fields that already failed (e.g. invalid JSON): clean()
        # skips the checks that would read their stale values.
        self._clean_exclude = frozenset(exclude or ())
        try:
            super().full_clean(exclude, validate_unique, validate_constraints)
        finally:
            del self._clean_exclude

    def clean(self) -> None:
        """Refuse what could not run: see ``django_taskq.schedules.validation`` for each check."""
        from django.core.exceptions import ValidationError

        from .schedules.validation import schedule_errors

        if isinstance(self.cron, str):
            self.cron = " ".join(self.cron.split())  # one spelling per cron string
        errors = schedule_errors(self, skip=getattr(self, "_clean_exclude", frozenset()))
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]


class OutboxJob(models.Model):
    """Jobs stored in the same transaction as the rows they are about, not yet in Redis: one
    ``enqueue()``, or a batch of one ``enqueue_many()`` (``jobs`` of them, same queue).

    Written by ``COMMIT_MODE = "outbox"`` inside ``transaction.atomic()`` (and, in the default
    mode, after a commit whose write to Redis failed); deleted once the job is on its queue,
    by the process that committed or by the relay (``rqrelay``, every ``rqworker``). See
    ``django_taskq.outbox``.
    """

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(db_index=True)
    queue = models.CharField(max_length=200)
    job_id = models.CharField(max_length=255, help_text="The id of the row's first job.")
    jobs = models.PositiveIntegerField(default=1)
    # With a job's index, names its delivery marker in Redis: one delivery per job, whoever pushes it.
    token = models.CharField(max_length=32)
    at_front = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # Stored after a write that failed at commit: that write may still have reached Redis.
    after_failed_write = models.BooleanField(default=False)
    state = models.TextField(help_text="Each job's id and hash fields, as JSON (binary values in base64).")

    class Meta:
        verbose_name = "outbox job"
        verbose_name_plural = "outbox jobs"
        default_permissions = ()

    def __str__(self) -> str:
        return (
            f"{self.job_id} ({self.queue})"
            if self.jobs == 1
            else f"{self.job_id} and {self.jobs - 1} more ({self.queue})"
        )
