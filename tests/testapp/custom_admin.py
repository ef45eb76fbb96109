"""A URLconf with a custom admin site that registers the dashboard itself."""

from django.contrib.admin import AdminSite
from django.urls import path

from django_taskq.admin import QueueAdmin
from django_taskq.models import Queue


class OpsSite(AdminSite):
    site_header = "Operations console"
    site_title = "Ops"


site = OpsSite(name="ops")
site.register(Queue, QueueAdmin)

urlpatterns = [path("ops/", site.urls)]
