"""URLs of benchmarks/bench_dashboard.py: the side under test mounted next to the admin."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dash/", include("django_taskq.urls" if settings.SIDE == "taskq" else "django_rq.urls")),
]
