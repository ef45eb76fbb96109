"""The "Queues" entry of the admin: a model admin whose URLs are the dashboard's pages.

A custom admin site gets the dashboard with ``my_site.register(Queue, QueueAdmin)``, and the
schedules with ``my_site.register(Schedule, ScheduleAdmin)``.
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, URLResolver, include, path, reverse

from .conf import taskq_settings
from .dashboard import urls as dashboard_urls
from .dashboard.site import can_view
from .models import Queue, Schedule
from .schedules.admin import ScheduleAdmin


def bind(patterns: list[URLPattern | URLResolver], site: admin.AdminSite) -> list[URLPattern | URLResolver]:
    """The dashboard URL patterns with their views bound to ``site``."""
    bound: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and getattr(pattern.callback, "taskq_dashboard", False):
            callback = partial(pattern.callback, admin_site=site)
            bound.append(URLPattern(pattern.pattern, callback, pattern.default_args, pattern.name))
        else:
            bound.append(pattern)
    return bound


class QueueAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Serves the dashboard under ``<admin>/django_taskq/queue/``; there are no rows to edit."""

    def get_urls(self) -> list[URLPattern | URLResolver]:  # type: ignore[override]
        patterns = bind(list(dashboard_urls.urlpatterns), self.admin_site)
        overview = patterns[0]
        if not isinstance(overview, URLPattern):  # pragma: no cover - the first pattern is the overview
            raise TypeError("The first dashboard URL pattern must be the overview.")
        return [
            path("", include((patterns, dashboard_urls.app_name), namespace=dashboard_urls.app_name)),
            # Only reversed (the first pattern serves ""): the admin index links to the changelist.
            path("", overview.callback, name="django_taskq_queue_changelist"),
            # LogEntry links ("Recent actions") point at the queue page.
            path("<str:object_id>/change/", self._queue_page, name="django_taskq_queue_change"),
        ]

    def _queue_page(self, request: HttpRequest, object_id: str) -> HttpResponse:
        namespace = f"{self.admin_site.name}:{dashboard_urls.app_name}"
        return HttpResponseRedirect(reverse(f"{namespace}:queue", args=[object_id]))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return taskq_settings.SHOW_ADMIN_LINK and can_view(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return can_view(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {"add": False, "change": False, "delete": False, "view": can_view(request)}


def _register() -> None:
    if not admin.site.is_registered(Queue):
        admin.site.register(Queue, QueueAdmin)
    if not admin.site.is_registered(Schedule):
        admin.site.register(Schedule, ScheduleAdmin)


_register()

__all__ = ["QueueAdmin", "ScheduleAdmin", "bind"]
