"""How a dashboard view plugs into an admin site: permissions, rendering and URLs.

Each view runs through an admin site's ``admin_view`` (login redirect, never cached, CSRF) and
its ``each_context`` (the admin's look, sidebar and dark mode). Mounted in the admin, the view
gets that admin site; mounted with ``include("django_taskq.urls")`` it uses ``admin.site``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from ..connections import fail_fast
from ..models import MANAGE_PERMISSION, VIEW_PERMISSION, Queue
from ..queues import DjangoQueue
from .jobs import queue_or_none
from .unavailable import REDIS_ERRORS, Failure, failure_of

logger = logging.getLogger("django_taskq.dashboard")

# The tab of the dashboard's navigation each template belongs to.
SECTIONS = {
    "overview.html": "overview",
    "workers.html": "workers",
    "worker.html": "workers",
    "scheduler.html": "scheduler",
    "cron.html": "cron",
}
View = TypeVar("View", bound=Callable[..., HttpResponse])


def can_view(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and (user.has_perm(VIEW_PERMISSION) or user.has_perm(MANAGE_PERMISSION)))


def can_manage(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.has_perm(MANAGE_PERMISSION))


def dashboard_view(*, manage: bool = False) -> Callable[[View], View]:
    """Wrap a view in ``admin_view`` and check the dashboard permission it needs."""

    def decorator(func: View) -> View:
        @wraps(func)
        def view(
            request: HttpRequest, *args: Any, admin_site: AdminSite | None = None, **kwargs: Any
        ) -> HttpResponse:
            site = admin_site or admin.site

            def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                if not can_view(request):
                    raise PermissionDenied("You may not view the queues.")
                if manage:
                    if not can_manage(request):
                        raise PermissionDenied("You may not act on the queues.")
                    if request.method != "POST":
                        return HttpResponse("Actions are POST only.", status=405, headers={"Allow": "POST"})
                request.taskq_site = site  # type: ignore[attr-defined]
                try:
                    with fail_fast():  # a page answers within one socket timeout, not ten
                        return func(request, *args, **kwargs)
                except REDIS_ERRORS as error:  # caught here, so no debug page shows the view's locals
                    failure = failure_of(error, [kwargs["queue"]] if "queue" in kwargs else ())
                return render_unavailable(request, [failure])

            return site.admin_view(inner)(request, *args, **kwargs)

        view.taskq_dashboard = True  # type: ignore[attr-defined]
        return view  # type: ignore[return-value]

    return decorator


def url_for(request: HttpRequest, name: str, *args: Any) -> str:
    """A dashboard URL in the namespace (admin or include) the current page was served from."""
    match = request.resolver_match
    namespace = match.namespace if match is not None and match.namespace else "django_taskq"
    return reverse(f"{namespace}:{name}", args=args)


def render_page(
    request: HttpRequest, template: str, title: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A dashboard template in the admin's frame: its context, the title, the section tab."""
    site: AdminSite = request.taskq_site  # type: ignore[attr-defined]
    full = {
        **site.each_context(request),
        "title": title,
        "can_manage": can_manage(request),
        "opts": Queue._meta,
        "section": SECTIONS.get(template, ""),
        **context,
    }
    return render(request, f"django_taskq/{template}", full, status=status)


def render_unavailable(
    request: HttpRequest, failures: list[Failure], context: dict[str, Any] | None = None
) -> HttpResponse:
    """503 in the admin's frame: which Redis servers failed this page and how (no password)."""
    for failure in failures:
        logger.warning(
            "Dashboard %s: Redis at %s failed: %s", request.path, failure.location, failure.problem
        )
    full = {**(context or {}), "failures": failures}
    return render_page(request, "unavailable.html", "Redis unavailable", full, status=503)


def queue_or_404(name: str) -> DjangoQueue:
    """The queue ``name`` of RQ_QUEUES; 404 when settings do not define it."""
    queue = queue_or_none(name)
    if queue is None:
        raise Http404("No such queue.")
    return queue
