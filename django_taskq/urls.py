"""Mount the dashboard outside the admin: ``path("django-rq/", include("django_taskq.urls"))``.

The URL names live in the ``django_taskq`` namespace (``django_taskq:overview``...). The pages
still use the admin's login, look and permissions (the default admin site).
"""

from __future__ import annotations

from .dashboard.urls import app_name, urlpatterns

__all__ = ["app_name", "urlpatterns"]
