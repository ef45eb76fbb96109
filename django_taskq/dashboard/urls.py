"""URLs of the dashboard, relative to where it is mounted (the admin or ``django_taskq.urls``).

django-rq's URLs and names are here too (``django_rq_urls``): its index routes before ours,
the rest after, so that where a path is both theirs and ours, ours answers.
"""

from __future__ import annotations

from django.urls import path

from . import actions, api, django_rq_urls, views

app_name = "django_taskq"

urlpatterns = [
    *django_rq_urls.before(),
    path("", views.overview, name="overview"),
    path("workers/", views.workers, name="workers"),
    path("workers/<path:worker_name>/", views.worker, name="worker"),
    path("scheduler/", views.scheduler, name="scheduler"),
    path("cron/", views.cron, name="cron"),
    path("queues/<str:queue>/", views.queue, name="queue"),
    path("queues/<str:queue>/action/", actions.queue_action, name="queue_action"),
    path("queues/<str:queue>/job/<str:job_id>/", views.job, name="job"),
    path("queues/<str:queue>/job/<str:job_id>/action/", actions.job_action, name="job_action"),
    path("queues/<str:queue>/<str:state>/", views.queue, name="queue_state"),
    path("stats.json", api.stats_json, name="stats_json"),
    path("metrics", api.metrics, name="metrics"),
    path("metrics/", api.metrics),  # django-rq's spelling: scrape configs written for it keep working
    *django_rq_urls.after(),
]
