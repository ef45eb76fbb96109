"""URLconf with the dashboard in the admin only (stats.json and metrics under admin/django_taskq/queue/)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
