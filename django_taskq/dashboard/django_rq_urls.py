"""django-rq 4.2's dashboard URLs and URL names, kept working by redirects to our pages.

django-rq addresses a queue by its position in ``RQ_QUEUES`` sorted by name
(``/django-rq/queues/0/failed/``); we address it by name. Each of its routes answers GET with
a redirect (302: the position moves when the settings change) to the page showing the same
thing, after the same login and permission as that page. Its action URLs redirect to the page
holding the action's button: an action itself is only ever a POST to our own URLs, with our
CSRF and ``manage_queues`` checks, so a POST to one of django-rq's URLs answers 405.

Every django-rq URL name resolves: ``django_taskq:<name>`` and ``django_rq:<name>`` (as
``include("django_rq.urls")`` named them), and ``django_rq_<name>`` without a namespace (as its
admin integration named them), all with django-rq's arguments. See ``django_taskq.urls``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, re_path, register_converter

from ..conf import taskq_settings
from ..rq_compat.storage import worker_name
from . import api, views
from .site import dashboard_view, url_for

Target = Callable[[HttpRequest, dict[str, Any]], str]


class QueueIndexConverter:
    """django-rq's queue index; the digits of a queue that is named so are left to our routes."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        if value in taskq_settings.QUEUES:  # a queue named "7": /queues/7/ is its by-name page
            raise ValueError(value)
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(QueueIndexConverter, "django_rq_index")


def queue_at(index: int) -> str:
    """The queue django-rq numbers ``index``: its position in ``RQ_QUEUES`` sorted by name."""
    names = sorted(taskq_settings.QUEUES)
    if index >= len(names):
        raise Http404("No queue at this django-rq index (RQ_QUEUES sorted by name).")
    return names[index]


def _redirect(target: Target | None) -> Callable[..., HttpResponse]:
    """A view answering GET with a redirect to ``target(request, kwargs)``; None: GET is 405 too."""

    @dashboard_view()
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        if target is None or request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"] if target else [])
        return HttpResponseRedirect(target(request, kwargs))

    return view


def _queue(state: str = "") -> Target:
    def target(request: HttpRequest, kwargs: dict[str, Any]) -> str:
        name = queue_at(kwargs["queue_index"])
        return url_for(request, "queue_state", name, state) if state else url_for(request, "queue", name)

    return target


def _job(fragment: str = "") -> Target:
    def target(request: HttpRequest, kwargs: dict[str, Any]) -> str:
        return url_for(request, "job", queue_at(kwargs["queue_index"]), kwargs["job_id"]) + fragment

    return target


def _page(name: str) -> Target:
    return lambda request, kwargs: url_for(request, name)


def _worker(request: HttpRequest, kwargs: dict[str, Any]) -> str:
    queue_at(kwargs["queue_index"])  # 404 for an index past the queues, as django-rq
    return url_for(request, "worker", worker_name(kwargs["key"]))


# Routes that must come before ours: ours would take the index for a queue or worker name.
_QUEUE = "queues/<django_rq_index:queue_index>/"
_BEFORE: list[tuple[str, str, Target | None]] = [
    (_QUEUE, "jobs", _queue()),
    (_QUEUE + "details/", "queue_details", _queue()),
    (_QUEUE + "finished/", "finished_jobs", _queue("finished")),
    (_QUEUE + "failed/", "failed_jobs", _queue("failed")),
    (_QUEUE + "failed/clear/", "delete_failed_jobs", _queue("failed")),
    (_QUEUE + "scheduled/", "scheduled_jobs", _queue("scheduled")),
    (_QUEUE + "started/", "started_jobs", _queue("started")),
    (_QUEUE + "deferred/", "deferred_jobs", _queue("deferred")),
    (_QUEUE + "empty/", "clear", _queue()),
    (_QUEUE + "requeue-all/", "requeue_all", _queue("failed")),
    (_QUEUE + "<str:job_id>/", "job_detail", _job()),
    (_QUEUE + "<str:job_id>/results/<str:result_id>/", "result_detail", _job("#results")),
    (_QUEUE + "<str:job_id>/delete/", "delete_job", _job()),
    (_QUEUE + "<str:job_id>/requeue/", "requeue_job", _job()),
    (_QUEUE + "<str:job_id>/enqueue/", "enqueue_job", _job()),
    (_QUEUE + "<str:job_id>/stop/", "stop_job", None),  # POST only in django-rq too
    ("queues/confirm-action/<django_rq_index:queue_index>/", "confirm_action", _queue()),
    ("queues/actions/<django_rq_index:queue_index>/", "actions", _queue()),
    ("workers/<django_rq_index:queue_index>/<str:key>/", "worker_details", _worker),
    ("schedulers/<int:scheduler_index>/", "scheduler_jobs", _page("scheduler")),
    ("cron-schedulers/<int:connection_index>/<str:scheduler_name>/", "cron_scheduler_detail", _page("cron")),
    (
        "cron-schedulers/<int:connection_index>/<str:scheduler_name>/jobs/<path:cron_job_name>/",
        "cron_job_detail",
        _page("cron"),
    ),
]


def before(prefix: str = "") -> list[URLPattern]:
    """django-rq's index routes, named ``prefix + <its name>``: they go before ours."""
    return [path(route, _redirect(target), name=prefix + name) for route, name, target in _BEFORE]


def after(prefix: str = "") -> list[URLPattern]:
    """django-rq's other routes, after ours: where a path is ours too, ours answers it.

    ``workers/<index>/`` reaches our worker page, which sends a name that is no live worker's
    but a queue index to the worker list (django-rq's workers of that queue).
    """
    return [
        path("", views.overview, name=prefix + "home"),
        re_path(r"^stats\.json/?$", api.stats_json, name=prefix + "home_json"),
        # django-rq's token is \w+; any token without a slash works here.
        re_path(r"^stats\.json/(?P<token>[^/]+)/?$", api.stats_json, name=prefix + "home_json"),
        re_path(r"^metrics/?$", api.metrics, name=prefix + "metrics"),
        path("workers/<int:queue_index>/", _redirect(_page("workers")), name=prefix + "workers"),
    ]
