from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from django_taskq import enqueue_in
from django_taskq.dashboard.unavailable import per_connection
from django_taskq.stats import gather

from . import jobs


@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        kind = request.POST.get("job", "")
        with transaction.atomic():  # jobs are written to Redis when this commits
            if kind == "sum":
                job = jobs.sum_digits.delay(request.POST.get("text", "") or "2026-11-23")
            elif kind == "slow":
                job = jobs.flaky_report.delay(2.0)
            elif kind == "email":
                job = jobs.send_welcome_email.delay(request.POST.get("email", "") or "newcomer@example.com")
            elif kind == "later":  # the worker's scheduler (--with-scheduler) moves it to the queue
                job = enqueue_in(timedelta(seconds=10), jobs.heartbeat)
            elif kind == "task" and settings.HAS_TASKS:
                from .tasks import count_words

                result = count_words.enqueue(request.POST.get("text", "") or "a Django task on RQ")
                messages.success(request, f"Enqueued the Django task {count_words.name} as {result.id}.")
                return redirect("demo:home")
            else:
                messages.error(request, "Unknown job.")
                return redirect("demo:home")
            messages.success(request, f"Enqueued {job.func_name} as job {job.id} on {job.origin}.")
        return redirect("demo:home")
    # Each Redis server read on its own: one that is down is named (never with its password),
    # the others' queues still show; 503 when none answers.
    parts, failures = per_connection(lambda group: gather(list(group.names)))
    queues = [queue for part in parts for queue in part.queues]
    context = {"queues": queues, "failures": failures, "has_tasks": settings.HAS_TASKS}
    return render(request, "demo/home.html", context, status=503 if failures and not parts else 200)
