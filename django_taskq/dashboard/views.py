"""The dashboard's read-only pages (``view_queues``); the POST actions are in ``actions``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html_join

from ..conf import taskq_settings
from ..connections import ConnectionGroup
from ..outbox.status import outbox_status
from ..stats import Stats, gather
from ..templatetags.taskq_dashboard import age
from . import operations
from .chart import Chart, finished_failed_per_minute
from .job_detail import get_job
from .jobs import (
    DEFAULT_PAGE_SIZE,
    FILTER_WINDOW,
    JOB_ID,
    MAX_PAGE_SIZE,
    STATES,
    JobRow,
    fetch_rows,
    list_jobs,
    queue_or_none,
)
from .site import dashboard_view, queue_or_404, render_page, render_unavailable, url_for
from .unavailable import per_connection
from .workers import SchedulerInfo, WorkerInfo, list_workers, scheduler_status, worker_is_live

# --- pages -----------------------------------------------------------------------------------


def _read_connection(group: ConnectionGroup) -> _ConnectionView:
    """What the overview shows of one connection's queues (a fixed number of round trips)."""
    return _ConnectionView(
        gather(list(group.names)), scheduler_status([group]), list_workers(groups=[group]),
        finished_failed_per_minute(groups=[group]),
    )  # fmt: skip


@dataclass
class _ConnectionView:
    stats: Stats
    schedulers: list[SchedulerInfo]
    workers: list[WorkerInfo]
    counts: dict[str, list[int]]


@dashboard_view()
def overview(request: HttpRequest) -> HttpResponse:
    parts, failures = per_connection(_read_connection)
    if failures and not parts:
        return render_unavailable(request, failures)
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    stats = Stats(
        queues=sorted((q for part in parts for q in part.stats.queues), key=lambda q: order[q.name]),
        connections=[c for part in parts for c in part.stats.connections],
    )
    schedulers = {info.queue: info.holder for part in parts for info in part.schedulers}
    workers = [worker for part in parts for worker in part.workers]
    counts = {
        outcome: [sum(column) for column in zip(*(part.counts[outcome] for part in parts), strict=True)]
        for outcome in ("finished", "failed")
    }
    totals = {state: sum(getattr(queue, state) for queue in stats.queues) for state in STATES}
    queue_url = url_for(request, "queue", "QUEUE-NAME")
    state_url = url_for(request, "queue_state", "QUEUE-NAME", "STATE-NAME")
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
                    for state in STATES
                ),
            ),
        }
        for queue in stats.queues
    ]
    return render_page(
        request,
        "overview.html",
        "Queues",
        {
            "stats": stats,
            "rows": rows,
            "states": STATES,
            "totals": totals,
            "schedulers": schedulers,
            "workers": workers,
            "busy_workers": sum(1 for worker in workers if worker.state == "busy"),
            "scheduled_queues": sum(1 for holder in schedulers.values() if holder),
            "chart": Chart(counts["finished"], counts["failed"]),
            "finished_last_hour": sum(counts["finished"]),
            "failed_last_hour": sum(counts["failed"]),
            "failures": failures,
            "outbox": outbox_status(),  # jobs committed and not in Redis yet: the relay pushes them
        },
    )


# A Redis list or sorted set holds fewer elements: a page or scan offset past it is no page (and
# would make LRANGE/ZRANGE fail on an index out of range).
MAX_ENTRIES = 2**32


def _positive_int(
    value: str | None, default: int, maximum: int | None = None, minimum: int = 1
) -> int | None:
    if value in (None, ""):
        return default
    try:
        number = int(str(value)) if len(str(value)) <= 30 else None
    except ValueError:
        return None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        return None
    return number


@dashboard_view()
def queue(request: HttpRequest, queue: str, state: str = "queued") -> HttpResponse:
    rq_queue = queue_or_404(queue)
    if state not in STATES:
        raise Http404("No such state.")
    page = _positive_int(request.GET.get("page"), 1)
    per_page = _positive_int(request.GET.get("per_page"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    order = request.GET.get("order", "newest")
    scan = _positive_int(request.GET.get("scan"), 0, minimum=0)
    if page is None or per_page is None or scan is None or order not in ("newest", "oldest"):
        return HttpResponseBadRequest("Bad page, page size, scan offset or order.")
    if (page - 1) * per_page >= MAX_ENTRIES or scan >= MAX_ENTRIES:
        raise Http404("No such page.")
    search = request.GET.get("job", "").strip()
    if search:
        if JOB_ID.fullmatch(search) and rq_queue.connection.exists(rq_queue.job_class.key_for(search)):
            return HttpResponseRedirect(url_for(request, "job", queue, search))
        messages.warning(request, f"No job with id {search!r}.")
    function = request.GET.get("function", "").strip()[:200]
    stats = gather([queue]).queues[0]
    page_data = list_jobs(
        rq_queue,
        state,
        page=page,
        per_page=per_page,
        newest_first=order == "newest",
        function=function,
        scan=scan,
    )
    count = page_data.matched if function else page_data.total
    last_page = max(1, -(-int(count or 0) // per_page))
    if page > last_page:
        raise Http404("No such page.")
    columns = _columns(state)
    job_url = url_for(request, "job", queue, "JOB-ID")
    for row in page_data.rows:  # the per-row work is done here, not in the template (100 rows)
        row.url = job_url.replace("JOB-ID", row.id) if row.linkable else ""
        row.cells = [_cell(row, column) for column in columns]
    filtered = {"function": function, "scan": scan} if function else {}
    base_query = {"order": order, "per_page": per_page, **filtered}
    scan_query = {"order": order, "per_page": per_page, "function": function}
    window_end = scan + (page_data.window or 0)
    return render_page(
        request,
        "queue.html",
        f"{queue} · {state}",
        {
            "queue": rq_queue,
            "queue_stats": stats,
            "state": state,
            "states": [(name, getattr(stats, name)) for name in STATES],
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
            "filter_window": FILTER_WINDOW,
            "window_end": window_end,
            "next_scan": urlencode({**scan_query, "scan": window_end})
            if window_end < page_data.total
            else "",
            "previous_scan": urlencode({**scan_query, "scan": max(0, scan - FILTER_WINDOW)}) if scan else "",
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


def _cell(row: JobRow, column: str) -> tuple[str, str]:
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
    rq_queue = queue_or_404(queue)
    if not JOB_ID.fullmatch(job_id):
        raise Http404("Malformed job id.")
    detail = get_job(rq_queue, job_id)
    status = detail.status
    actions = [(a, operations.LABELS[a]) for a in operations.SELECTION_ACTIONS.get(status, ())]
    worker_name = detail.job.worker_name if detail.job is not None else None
    # A gone worker's page is a 404. The worker of a job of this queue uses the queue's Redis.
    worker_live = worker_is_live(rq_queue.connection, worker_name) if worker_name else False
    return render_page(
        request,
        "job.html",
        f"Job {job_id}",
        {"queue": rq_queue, "detail": detail, "actions": actions, "worker_live": worker_live},
        status=200 if detail.exists else 404,
    )


@dashboard_view()
def workers(request: HttpRequest) -> HttpResponse:
    found, failures = per_connection(lambda group: list_workers(groups=[group]))
    if failures and not found:
        return render_unavailable(request, failures)
    listed = [worker for part in found for worker in part]
    return render_page(request, "workers.html", "Workers", {"workers": listed, "failures": failures})


@dashboard_view()
def worker(request: HttpRequest, worker_name: str) -> HttpResponse:
    parts, failures = per_connection(lambda group: list_workers(worker_name, groups=[group]))
    found = [worker for part in parts for worker in part]
    if not found and failures:  # it may be on the server that failed
        return render_unavailable(request, failures)
    if not found:
        if worker_name.isdigit():  # django-rq's workers/<queue index>/ (its workers of a queue)
            return HttpResponseRedirect(url_for(request, "workers"))
        raise Http404("No such worker.")
    info = found[0]
    current = []
    for queue_name in info.queues:
        rq_queue = queue_or_none(queue_name)
        if rq_queue is not None and info.current_job_ids:
            current = [
                (queue_name, row) for row in fetch_rows(rq_queue, [(j, None) for j in info.current_job_ids])
            ]
            break
    return render_page(request, "worker.html", f"Worker {info.name}", {"worker": info, "current": current})


@dashboard_view()
def scheduler(request: HttpRequest) -> HttpResponse:
    parts, failures = per_connection(lambda group: (gather(list(group.names)), scheduler_status([group])))
    if failures and not parts:
        return render_unavailable(request, failures)
    stats = {queue.name: queue for part, _infos in parts for queue in part.queues}
    order = {name: index for index, name in enumerate(taskq_settings.QUEUES)}
    infos = sorted((info for _part, part_infos in parts for info in part_infos), key=lambda i: order[i.queue])
    rows = [(info, stats[info.queue]) for info in infos]
    return render_page(request, "scheduler.html", "Scheduler", {"rows": rows, "failures": failures})


@dashboard_view()
def cron(request: HttpRequest) -> HttpResponse:
    """The RQ_CRON entries and the Schedule rows, with their next and recent runs."""
    from ..cron import cron_status, schedule_status

    schedules: list[Any] = []
    schedules_error = None
    try:
        schedules = schedule_status()
    except DatabaseError as exc:  # e.g. migrations not applied: the RQ_CRON part still shows
        schedules_error = f"The Schedule table cannot be read ({type(exc).__name__})."
    links: dict[int, str] = {}
    if schedules and request.user.has_perm("django_taskq.view_schedule"):
        site = request.taskq_site  # type: ignore[attr-defined]
        with contextlib.suppress(NoReverseMatch):  # the Schedule admin is not on this site
            links = {
                status.pk: reverse(f"{site.name}:django_taskq_schedule_change", args=[status.pk])
                for status in schedules
            }
    context = {
        "entries": cron_status(),
        "schedules": [(status, links.get(status.pk)) for status in schedules],
        "schedules_error": schedules_error,
    }
    return render_page(request, "cron.html", "Cron jobs", context)


__all__ = ["cron", "job", "overview", "queue", "scheduler", "worker", "workers"]
