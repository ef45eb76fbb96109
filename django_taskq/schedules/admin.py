"""The admin of ``Schedule`` rows, in the "Queues" section beside the dashboard.

Standard model permissions: ``view_schedule`` reads, ``change_schedule`` edits and may "Run
now", "Enable" and "Disable" (each audited in the admin history), ``add``/``delete`` as usual.
Validation is the model's (``Schedule.clean()``), so a bad value is a form error, never a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import NoReverseMatch, URLPattern, URLResolver, path, reverse
from django.utils.html import format_html, format_html_join

from ..conf import taskq_settings
from ..cron.database import describe_schedule, run_now, upcoming_runs
from ..cron.schedule import CronConfigError
from ..dashboard import urls as dashboard_urls
from ..exceptions import TaskqError
from ..models import Schedule
from .validation import schedule_errors

UPCOMING = 5
# What "Run now" may meet besides success: Redis down, or a row that cannot run (any more).
RUN_ERRORS = (redis.RedisError, OSError, TaskqError, CronConfigError)

# The change form, by fieldset. The run state is written by the runners and the jobs only.
WHAT = ("name", "enabled", "func", "args", "kwargs", "queue", "description")
WHEN = ("cron", "interval", "run_at", "time_zone", "start_at", "end_at", "max_runs")
JOB_OPTIONS = ("timeout", "result_ttl", "ttl")
RUN_STATE = (
    "last_run_at", "last_job", "next_run_at", "run_count", "success_count", "failure_count",
    "created_at", "updated_at",
)  # fmt: skip


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """The model's fields; the queue is picked from RQ_QUEUES (a removed one stays shown, and is refused)."""

    class Meta:
        model = Schedule
        fields = (*WHAT, *WHEN, *JOB_OPTIONS)
        widgets = {
            "args": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "kwargs": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "queue" in self.fields:
            names = list(taskq_settings.QUEUES)
            current = self.instance.queue
            if current and current not in names:
                names.append(current)
            self.fields["queue"].widget = forms.Select(choices=[(name, name) for name in names])


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("cron", "Cron string"), ("interval", "Interval"), ("once", "Once (run at)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> QuerySet[Schedule]:
        if self.value() == "cron":
            return queryset.exclude(cron="")
        if self.value() == "interval":
            return queryset.filter(interval__isnull=False)
        if self.value() == "once":
            return queryset.filter(run_at__isnull=False)
        return queryset


class ScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ScheduleForm
    list_display = ("name", "enabled", "when", "next_run", "last_run_at", "last_job", "counts")
    list_filter = ("enabled", "queue", KindFilter)
    search_fields = ("name", "func")
    actions = ["run_now_action", "enable_action", "disable_action"]
    readonly_fields = ("upcoming", *RUN_STATE)
    fieldsets = (
        (None, {"fields": WHAT}),
        (
            "When",
            {"fields": (*WHEN, "upcoming"), "description": "Set exactly one of cron, interval and run at."},
        ),
        ("Job options", {"fields": JOB_OPTIONS}),
        ("Run state", {"fields": RUN_STATE, "description": "Written by the runners and the jobs."}),
    )

    # --- columns and read-only fields -------------------------------------------------------

    @admin.display(description="schedule")
    def when(self, obj: Schedule) -> str:
        return describe_schedule(obj)

    @admin.display(description="next run")
    def next_run(self, obj: Schedule) -> datetime | str | None:
        if not obj.enabled:
            return "disabled"
        runs = upcoming_runs(obj, count=1)
        return runs[0] if runs else None  # shown like the admin's other times (None: "-")

    @admin.display(description="last job")
    def last_job(self, obj: Schedule) -> str:
        if not obj.last_job_id:
            return "-"
        status = obj.last_status or "enqueued"
        url = self._job_url(obj.queue, obj.last_job_id)
        if url is None:
            return f"{status} ({obj.last_job_id})"
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.last_job_id, status)

    @admin.display(description="runs / ok / failed")
    def counts(self, obj: Schedule) -> str:
        return f"{obj.run_count} / {obj.success_count} / {obj.failure_count}"

    @admin.display(description=f"next {UPCOMING} runs")
    def upcoming(self, obj: Schedule | None) -> str:
        if obj is None or obj.pk is None:
            return "Shown once the schedule is saved."
        runs = upcoming_runs(obj, count=UPCOMING)
        if not runs:
            errors = schedule_errors(obj)  # saved past the form (a fixture, an update())
            if errors:
                field, problems = next(iter(errors.items()))
                return f"None: it cannot run until {field} is fixed ({problems[0]})"
            return "None: the schedule has no run left."
        items = format_html_join("", "<li>{}</li>", ((_when(run, obj.time_zone),) for run in runs))
        note = "" if obj.enabled else "Disabled: it would run at these times once enabled."
        return format_html('<ol class="taskq-upcoming">{}</ol>{}', items, note)

    def _job_url(self, queue: str, job_id: str) -> str | None:
        """The dashboard's job page, if this admin site serves the dashboard."""
        try:
            return reverse(f"{self.admin_site.name}:{dashboard_urls.app_name}:job", args=[queue, job_id])
        except NoReverseMatch:
            return None

    # --- actions ----------------------------------------------------------------------------

    @admin.action(description="Run now", permissions=["change"])
    def run_now_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self._run(request, schedule)

    @admin.action(description="Enable", permissions=["change"])
    def enable_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        self._set_enabled(request, queryset, False)

    def _run(self, request: HttpRequest, schedule: Schedule) -> None:
        try:
            job = run_now(schedule)
        except RUN_ERRORS as exc:
            self.message_user(request, f"{schedule}: not run: {exc}", messages.ERROR)
            return
        self.log_change(request, schedule, f"Ran now: job {job.id} on queue {schedule.queue}.")
        self.message_user(request, f"{schedule}: job {job.id} enqueued on queue {schedule.queue}.")

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[Schedule], enabled: bool) -> None:
        word = "Enabled" if enabled else "Disabled"
        changed = 0
        for schedule in queryset.filter(enabled=not enabled):
            schedule.enabled = enabled
            # save(), not update(): updated_at and the save signals tell the runners.
            schedule.save(update_fields=["enabled", "updated_at"])
            self.log_change(request, schedule, f"{word}.")
            changed += 1
        noun = "schedule" if changed == 1 else "schedules"
        self.message_user(request, f"{word} {changed} {noun}.")

    # --- the "Run now" button of the change form ---------------------------------------------

    def get_urls(self) -> list[URLPattern | URLResolver]:  # type: ignore[override]
        name = f"{self.opts.app_label}_{self.opts.model_name}_run"
        run = path("<path:object_id>/run/", self.admin_site.admin_view(self.run_view), name=name)
        return [run, *super().get_urls()]

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST only, change permission: enqueue one job of the row, then back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        schedule = self.get_object(request, unquote(object_id))
        if schedule is None:
            raise Http404("No such schedule.")
        if not self.has_change_permission(request, schedule):
            raise PermissionDenied
        self._run(request, schedule)
        change = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change"
        return HttpResponseRedirect(reverse(change, args=[schedule.pk]))


def _when(moment: datetime, zone: str) -> str:
    """A run time in the schedule's zone (valid: the row has runs), with UTC beside it."""
    local = moment.astimezone(ZoneInfo(zone))
    text = f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
    if local.utcoffset() or local.tzname() != "UTC":
        text += f" ({moment.astimezone(ZoneInfo('UTC')):%H:%M} UTC)"
    return text


__all__ = ["KindFilter", "ScheduleAdmin", "ScheduleForm"]
