"""Dashboard views: read-only pages for ``view_queues``, POST actions for ``manage_queues``.

Each view runs through an admin site's ``admin_view`` (login redirect, never cached, CSRF) and
its ``each_context`` (the admin's look, sidebar and dark mode). Mounted in the admin, the view
gets that admin site; mounted with ``include("django_taskq.urls")`` it uses ``admin.site``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html_join

from ..models import MANAGE_PERMISSION, VIEW_PERMISSION, Queue
from ..queues import DjangoQueue
from ..stats import gather
from ..templatetags.taskq_dashboard import age
from . import data, operations
from .chart import Chart

JOB_ID = data.JOB_ID
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
                return func(request, *args, **kwargs)

            return site.admin_view(inner)(request, *args, **kwargs)

        view.taskq_dashboard = True  # type: ignore[attr-defined]
        return view  # type: ignore[return-value]

    return decorator


def _url(request: HttpRequest, name: str, *args: Any) -> str:
    """A dashboard URL in the namespace (admin or include) the current page was served from."""
    match = request.resolver_match
    namespace = match.namespace if match is not None and match.namespace else "django_taskq"
    return reverse(f"{namespace}:{name}", args=args)


def _render(
    request: HttpRequest, template: str, title: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
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


def _queue(name: str) -> DjangoQueue:
    queue = data.queue_or_none(name)
    if queue is None:
        raise Http404("No such queue.")
    return queue


# --- pages -----------------------------------------------------------------------------------


@dashboard_view()
def overview(request: HttpRequest) -> HttpResponse:
    stats = gather()
    schedulers = {info.queue: info.holder for info in data.scheduler_status()}
    workers = data.list_workers()
    counts = data.finished_failed_per_minute()
    totals = {state: sum(getattr(queue, state) for queue in stats.queues) for state in data.STATES}
    queue_url = _url(request, "queue", "QUEUE-NAME")
    state_url = _url(request, "queue_state", "QUEUE-NAME", "STATE-NAME")
    rows = [  # built here rather than in the template: 50 queues x 7 states of links
        {
            "stats": queue,
            "url": queue_url.replace("QUEUE-NAME", queue.name),
            "scheduler": schedulers.get(queue.name, ""),
            "cells": format_html_join(
                "",
                '<td class="num"><a class="taskq-count {}" href="{}">{}</a></td>',
                (
                    (
                        f"taskq-state-{state}" if getattr(queue, state) else "zero",
                        state_url.replace("QUEUE-NAME", queue.name).replace("STATE-NAME", state),
                        getattr(queue, state),
                    )
                    for state in data.STATES
                ),
            ),
        }
        for queue in stats.queues
    ]
    return _render(
        request,
        "overview.html",
        "Queues",
        {
            "stats": stats,
            "rows": rows,
            "states": data.STATES,
            "totals": totals,
            "schedulers": schedulers,
            "workers": workers,
            "busy_workers": sum(1 for worker in workers if worker.state == "busy"),
            "scheduled_queues": sum(1 for holder in schedulers.values() if holder),
            "chart": Chart(counts["finished"], counts["failed"]),
            "finished_last_hour": sum(counts["finished"]),
            "failed_last_hour": sum(counts["failed"]),
        },
    )


def _positive_int(value: str | None, default: int, maximum: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    if number < 1 or (maximum is not None and number > maximum):
        return None
    return number


@dashboard_view()
def queue(request: HttpRequest, queue: str, state: str = "queued") -> HttpResponse:
    rq_queue = _queue(queue)
    if state not in data.STATES:
        raise Http404("No such state.")
    page = _positive_int(request.GET.get("page"), 1)
    per_page = _positive_int(request.GET.get("per_page"), data.DEFAULT_PAGE_SIZE, data.MAX_PAGE_SIZE)
    order = request.GET.get("order", "newest")
    if page is None or per_page is None or order not in ("newest", "oldest"):
        return HttpResponseBadRequest("Bad page, page size or order.")
    search = request.GET.get("job", "").strip()
    if search:
        if JOB_ID.fullmatch(search) and rq_queue.connection.exists(rq_queue.job_class.key_for(search)):
            return HttpResponseRedirect(_url(request, "job", queue, search))
        messages.warning(request, f"No job with id {search!r}.")
    function = request.GET.get("function", "").strip()[:200]
    stats = gather([queue]).queues[0]
    page_data = data.list_jobs(
        rq_queue, state, page=page, per_page=per_page, newest_first=order == "newest", function=function
    )
    count = page_data.matched if function else page_data.total
    last_page = max(1, -(-int(count or 0) // per_page))
    if page > last_page:
        raise Http404("No such page.")
    columns = _columns(state)
    job_url = _url(request, "job", queue, "JOB-ID")
    for row in page_data.rows:  # the per-row work is done here, not in the template (100 rows)
        row.url = job_url.replace("JOB-ID", row.id) if row.linkable else ""
        row.cells = [_cell(row, column) for column in columns]
    base_query = {"order": order, "per_page": per_page, **({"function": function} if function else {})}
    return _render(
        request,
        "queue.html",
        f"{queue} · {state}",
        {
            "queue": rq_queue,
            "queue_stats": stats,
            "state": state,
            "states": [(name, getattr(stats, name)) for name in data.STATES],
            "page_data": page_data,
            "page": page,
            "last_page": last_page,
            "per_page": per_page,
            "order": order,
            "function": function,
            "base_query": urlencode(base_query),
            "pages": _page_links(page, last_page),
            "selection_actions": [(a, operations.LABELS[a]) for a in operations.SELECTION_ACTIONS[state]],
            "all_actions": [(a, operations.LABELS[a]) for a in operations.ALL_ACTIONS[state]],
            "filter_window": data.FILTER_WINDOW,
            "columns": [_COLUMN_TITLES[column] for column in columns],
        },
    )


_COLUMN_TITLES = {
    "created_at": "Created",
    "enqueued_at": "Enqueued",
    "started_at": "Started",
    "ended_at": "Ended",
    "worker_name": "Worker",
    "scheduled": "Scheduled for",
    "expires": "Expires",
}


def _columns(state: str) -> list[str]:
    if state == "scheduled":
        return ["created_at", "scheduled"]
    if state in ("finished", "failed", "canceled"):
        return ["created_at", "ended_at", "expires"]
    if state == "started":
        return ["created_at", "started_at", "worker_name"]
    return ["created_at", "enqueued_at"]


def _cell(row: data.JobRow, column: str) -> tuple[str, str]:
    """(text, title) of one column of a job row."""
    if column == "worker_name":
        return row.worker_name, ""
    when = row.score if column in ("scheduled", "expires") else getattr(row, column)
    if when is None:
        return ("never" if column == "expires" else ""), ""
    title = when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    if column == "scheduled":
        return f"{title[:-4]} ({age(when)})", title
    return age(when), title


def _page_links(page: int, last: int) -> list[int | None]:
    wanted = sorted({1, 2, last - 1, last, *range(page - 2, page + 3)} & set(range(1, last + 1)))
    links: list[int | None] = []
    for number in wanted:
        if links and links[-1] is not None and number - links[-1] > 1:  # type: ignore[operator]
            links.append(None)
        links.append(number)
    return links


@dashboard_view()
def job(request: HttpRequest, queue: str, job_id: str) -> HttpResponse:
    rq_queue = _queue(queue)
    if not JOB_ID.fullmatch(job_id):
        raise Http404("Malformed job id.")
    detail = data.get_job(rq_queue, job_id)
    status = detail.status
    actions = [(a, operations.LABELS[a]) for a in operations.SELECTION_ACTIONS.get(status, ())]
    return _render(
        request,
        "job.html",
        f"Job {job_id}",
        {"queue": rq_queue, "detail": detail, "actions": actions},
        status=200 if detail.exists else 404,
    )


@dashboard_view()
def workers(request: HttpRequest) -> HttpResponse:
    return _render(request, "workers.html", "Workers", {"workers": data.list_workers()})


@dashboard_view()
def worker(request: HttpRequest, worker_name: str) -> HttpResponse:
    found = data.list_workers(worker_name)
    if not found:
        raise Http404("No such worker.")
    info = found[0]
    current = []
    for queue_name in info.queues:
        rq_queue = data.queue_or_none(queue_name)
        if rq_queue is not None and info.current_job_ids:
            current = [
                (queue_name, row)
                for row in data.fetch_rows(rq_queue, [(j, None) for j in info.current_job_ids])
            ]
            break
    return _render(request, "worker.html", f"Worker {info.name}", {"worker": info, "current": current})


@dashboard_view()
def scheduler(request: HttpRequest) -> HttpResponse:
    stats = {queue.name: queue for queue in gather().queues}
    rows = [(info, stats[info.queue]) for info in data.scheduler_status()]
    return _render(request, "scheduler.html", "Scheduler", {"rows": rows})


@dashboard_view()
def cron(request: HttpRequest) -> HttpResponse:
    try:
        from ..cron import cron_status
    except ImportError:  # pragma: no cover - cron support is part of the package
        entries: list[Any] = []
    else:
        entries = list(cron_status())
    return _render(request, "cron.html", "Cron jobs", {"entries": entries})


# --- actions ---------------------------------------------------------------------------------


def _log(request: HttpRequest, queue: str, state: str, action: str, ids: list[str], done: int) -> None:
    shown = ", ".join(ids[:100]) + (f" and {len(ids) - 100} more" if len(ids) > 100 else "")
    target = f"all {state} jobs" if action in ("empty", "requeue_all") else f"{state} jobs {shown}"
    LogEntry.objects.create(
        user_id=request.user.pk or 0,
        content_type=ContentType.objects.get_for_model(Queue, for_concrete_model=False),
        object_id=queue,
        object_repr=f"queue {queue}"[:200],
        action_flag=DELETION if action in ("delete", "empty") else CHANGE,
        change_message=(
            f"{operations.LABELS[action]} on queue {queue!r}, {target}: {done} {operations.PAST[action]}."
        ),
    )


def _act(
    request: HttpRequest,
    rq_queue: DjangoQueue,
    state: str,
    action: str,
    ids: list[str],
    back: str,
) -> HttpResponse:
    if action in operations.DESTRUCTIVE and request.POST.get("confirmed") != "yes":
        return _render(
            request,
            "confirm.html",
            "Are you sure?",
            {
                "queue": rq_queue,
                "state": state,
                "action": action,
                "label": operations.LABELS[action],
                "ids": ids,
                "shown_ids": ids[:20],
                "count": len(ids) if action not in ("empty", "requeue_all") else None,
                "total": getattr(gather([rq_queue.name]).queues[0], state),
                "back": back,
                "post_url": request.path,
            },
        )
    outcome = operations.run(rq_queue, state, action, ids)
    _log(request, rq_queue.name, state, action, ids, outcome.done)
    noun = "job" if outcome.done == 1 else "jobs"
    messages.success(request, f"{outcome.done} {noun} {operations.PAST[action]}.")
    if outcome.skipped:
        messages.warning(
            request,
            f"{outcome.skipped} of the selected jobs no longer exist or are no longer {state}; "
            "they were left alone.",
        )
    return HttpResponseRedirect(back)


@dashboard_view(manage=True)
def queue_action(request: HttpRequest, queue: str) -> HttpResponse:
    rq_queue = _queue(queue)
    state = request.POST.get("state", "")
    action = request.POST.get("action", "")
    if state not in data.STATES:
        return HttpResponseBadRequest("Unknown state.")
    allowed = operations.SELECTION_ACTIONS[state] + operations.ALL_ACTIONS[state]
    if action not in allowed:
        return HttpResponseBadRequest("Unknown action for this state.")
    back = request.POST.get("next", "")
    if not back.startswith(_url(request, "queue", queue)):
        back = _url(request, "queue_state", queue, state)
    ids: list[str] = []
    if action in operations.SELECTION_ACTIONS[state]:
        ids = list(dict.fromkeys(request.POST.getlist("job_ids")))
        if not ids:
            messages.warning(request, "No job was selected: nothing was done.")
            return HttpResponseRedirect(back)
        if len(ids) > data.MAX_PAGE_SIZE or not all(JOB_ID.fullmatch(job_id) for job_id in ids):
            return HttpResponseBadRequest("Bad selection of jobs.")
    return _act(request, rq_queue, state, action, ids, back)


@dashboard_view(manage=True)
def job_action(request: HttpRequest, queue: str, job_id: str) -> HttpResponse:
    rq_queue = _queue(queue)
    if not JOB_ID.fullmatch(job_id):
        raise Http404("Malformed job id.")
    action = request.POST.get("action", "")
    if action not in {name for names in operations.SELECTION_ACTIONS.values() for name in names}:
        return HttpResponseBadRequest("Unknown action.")
    status = rq_queue.connection.hget(rq_queue.job_class.key_for(job_id), "status")
    if status is None:
        raise Http404("No such job.")
    state = status.decode() if isinstance(status, bytes) else str(status)
    back = _url(request, "job", queue, job_id)
    if action not in operations.SELECTION_ACTIONS.get(state, ()):
        messages.warning(request, f"This job is {state}: it cannot be {operations.PAST[action]}.")
        return HttpResponseRedirect(back)
    if action == "delete":
        back = _url(request, "queue_state", queue, state)
    return _act(request, rq_queue, state, action, [job_id], back)


__all__ = ["cron", "job", "job_action", "overview", "queue", "queue_action", "scheduler", "worker", "workers"]
