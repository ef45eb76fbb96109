"""URLconf of the stats.json/metrics tests: the admin and the dashboard mounted on its own."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("taskq/", include("django_taskq.urls")),
]
