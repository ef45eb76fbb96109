"""Mount the dashboard outside the admin: ``path("django-rq/", include("django_taskq.urls"))``.

Our URL names live in the ``django_taskq`` namespace (``django_taskq:overview``...). The pages
still use the admin's login, look and permissions (the default admin site).

django-rq's URL names resolve too, with its arguments (``{% url 'django_rq:jobs' 0 %}``): in
the ``django_rq`` namespace, as ``include("django_rq.urls")`` named them, and without a
namespace as ``django_rq_<name>`` (the names of its admin integration). Those two sets only
serve ``reverse()``: the ``django_taskq`` include above them answers every one of their paths.
This module therefore has no ``app_name`` of its own: each include inside names its namespace.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from .dashboard import django_rq_urls
from .dashboard import urls as dashboard_urls

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include((dashboard_urls.urlpatterns, dashboard_urls.app_name))),
    path("", include((django_rq_urls.before() + django_rq_urls.after(), "django_rq"))),
    *django_rq_urls.before("django_rq_"),
    *django_rq_urls.after("django_rq_"),
]

__all__ = ["urlpatterns"]
