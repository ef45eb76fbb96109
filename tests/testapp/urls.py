from django.http import HttpRequest, HttpResponse
from django.urls import path

from django_taskq import enqueue, get_queue
from tests.testapp.jobs import add


def enqueue_view(request: HttpRequest) -> HttpResponse:
    job = enqueue(add, 1, 2)
    assert get_queue().job_ids == []  # not before the request has finished
    return HttpResponse(job.id)


def enqueue_then_fail(request: HttpRequest) -> HttpResponse:
    enqueue(add, 1, 2)
    raise RuntimeError("the view failed")


urlpatterns = [
    path("enqueue/", enqueue_view),
    path("enqueue-then-fail/", enqueue_then_fail),
]
