"""The dashboard's POST actions (``manage_queues``): confirm, run, log in the admin history."""

from __future__ import annotations

import redis
from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect

from ..models import Queue
from ..queues import DjangoQueue
from ..rq_compat.encoding import as_text
from ..stats import gather
from . import operations
from .jobs import JOB_ID, MAX_PAGE_SIZE, STATES
from .site import dashboard_view, queue_or_404, render_page, url_for
from .unavailable import is_wrong_type


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
    skipped: int = 0,
) -> HttpResponse:
    if action in operations.DESTRUCTIVE and request.POST.get("confirmed") != "yes":
        return render_page(
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
    outcome.skipped += skipped
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
    rq_queue = queue_or_404(queue)
    state = request.POST.get("state", "")
    action = request.POST.get("action", "")
    if state not in STATES:
        return HttpResponseBadRequest("Unknown state.")
    allowed = operations.SELECTION_ACTIONS[state] + operations.ALL_ACTIONS[state]
    if action not in allowed:
        return HttpResponseBadRequest("Unknown action for this state.")
    back = request.POST.get("next", "")
    if not back.startswith(url_for(request, "queue", queue)):
        back = url_for(request, "queue_state", queue, state)
    ids: list[str] = []
    if action in operations.SELECTION_ACTIONS[state]:
        ids = list(dict.fromkeys(request.POST.getlist("job_ids")))
        if not ids:
            messages.warning(request, "No job was selected: nothing was done.")
            return HttpResponseRedirect(back)
        if len(ids) > MAX_PAGE_SIZE or not all(JOB_ID.fullmatch(job_id) for job_id in ids):
            return HttpResponseBadRequest("Bad selection of jobs.")
        selection = operations.select(rq_queue, state, ids)
        if selection.foreign:
            return HttpResponseBadRequest(
                f"{len(selection.foreign)} of the selected jobs belong to another queue: nothing was done."
            )
        if not selection.in_state:
            messages.warning(
                request, f"The selected jobs no longer exist or are no longer {state}: nothing was done."
            )
            return HttpResponseRedirect(back)
        return _act(request, rq_queue, state, action, selection.in_state, back, skipped=selection.skipped)
    return _act(request, rq_queue, state, action, ids, back)


@dashboard_view(manage=True)
def job_action(request: HttpRequest, queue: str, job_id: str) -> HttpResponse:
    rq_queue = queue_or_404(queue)
    if not JOB_ID.fullmatch(job_id):
        raise Http404("Malformed job id.")
    action = request.POST.get("action", "")
    if action not in {name for names in operations.SELECTION_ACTIONS.values() for name in names}:
        return HttpResponseBadRequest("Unknown action.")
    try:
        origin, status = rq_queue.connection.hmget(rq_queue.job_class.key_for(job_id), ["origin", "status"])
    except redis.ResponseError as error:
        if not is_wrong_type(error):
            raise
        raise Http404("No such job.") from error  # that key is no job hash
    # A job is acted on through its own queue's URL only: the action, its checks and the audit
    # log entry all name the queue of the URL.
    if status is None or origin is None or as_text(origin) != queue:
        raise Http404("No such job in this queue.")
    state = as_text(status)
    posted = request.POST.get("state", "")
    if posted and posted != state:  # it moved since the page was shown
        return HttpResponse(
            f"This job is now {state}, no longer {posted}: nothing was done.",
            status=409,
            content_type="text/plain; charset=utf-8",  # ``posted`` is the client's text
        )
    back = url_for(request, "job", queue, job_id)
    if action not in operations.SELECTION_ACTIONS.get(state, ()):
        messages.warning(request, f"This job is {state}: it cannot be {operations.PAST[action]}.")
        return HttpResponseRedirect(back)
    if action == "delete":
        back = url_for(request, "queue_state", queue, state)
    return _act(request, rq_queue, state, action, [job_id], back)


__all__ = ["job_action", "queue_action"]
