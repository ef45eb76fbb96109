"""Template helpers of the dashboard: namespaced URLs that work in every mount, the admin's
breadcrumbs markup, durations."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import django
from django import template
from django.template.base import Parser, Token
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# The admin's breadcrumbs markup, which its CSS styles: Django 6.1 made it a list
# (<ol class="breadcrumbs"> of <li>, separators drawn by CSS); before, <div class="breadcrumbs">
# of links separated by &rsaquo;.
OL_BREADCRUMBS = django.VERSION >= (6, 1)


_SAFE_ARG = re.compile(r"[A-Za-z0-9_.-]+")


@register.simple_tag(takes_context=True)
def taskq_url(context: template.Context, name: str, *args: Any, **query: Any) -> str:
    """Reverse a dashboard URL in the namespace the current page was served from.

    Pages link to many jobs, queues and workers: the URL pattern is reversed once per page
    with placeholders and filled in by substitution when the arguments need no quoting.
    """
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    namespace = match.namespace if match is not None and match.namespace else "django_taskq"
    values = [str(arg) for arg in args]
    if all(_SAFE_ARG.fullmatch(value) for value in values):
        cache: dict[tuple[str, str, int], str] = getattr(request, "_taskq_url_cache", None) or {}
        if request is not None:
            request._taskq_url_cache = cache
        key = (namespace, name, len(values))
        pattern = cache.get(key)
        if pattern is None:
            pattern = cache[key] = reverse(
                f"{namespace}:{name}", args=[f"TASKQARG{index}X" for index in range(len(values))]
            )
        url = pattern
        for index, value in enumerate(values):
            url = url.replace(f"TASKQARG{index}X", value, 1)
    else:
        url = reverse(f"{namespace}:{name}", args=values)
    query = {key: value for key, value in query.items() if value not in (None, "")}
    return url + ("?" + urlencode(query) if query else "")


class BreadcrumbsNode(template.Node):
    """``{% breadcrumbs %}...{% endbreadcrumbs %}``: the admin's breadcrumbs element around crumbs."""

    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist  # the name Django looks for {% block %} overrides in

    def render(self, context: template.Context) -> SafeString:
        with context.push(taskq_crumbs=[0]):
            inner = self.nodelist.render(context)
        if OL_BREADCRUMBS:
            return format_html('<ol class="breadcrumbs">{}</ol>', inner)
        return format_html('<div class="breadcrumbs">{}</div>', inner)


@register.tag
def breadcrumbs(parser: Parser, token: Token) -> BreadcrumbsNode:
    nodelist = parser.parse(("endbreadcrumbs",))
    parser.delete_first_token()
    return BreadcrumbsNode(nodelist)


@register.simple_tag(takes_context=True)
def crumb(
    context: template.Context, label: Any, url_name: str = "", *args: Any, href: str = ""
) -> SafeString:
    """One crumb inside ``{% breadcrumbs %}``: a link to the dashboard's ``url_name`` (with
    ``args``) or to ``href``; without either, the current page."""
    seen = context.get("taskq_crumbs") or [0]
    separator = mark_safe("" if OL_BREADCRUMBS or seen[0] == 0 else "&rsaquo; ")  # noqa: S308 - a constant
    seen[0] += 1
    if not (url_name or href):
        if OL_BREADCRUMBS:
            return format_html('<li aria-current="page">{}</li>', label)
        return format_html("{}{}\n", separator, label)
    url = href or taskq_url(context, url_name, *args)
    if OL_BREADCRUMBS:
        return format_html('<li><a href="{}">{}</a></li>', url, label)
    return format_html('{}<a href="{}">{}</a>\n', separator, url, label)


@register.filter
def seconds(value: Any) -> str:
    """A duration in seconds as "2 h 5 min", "3 min 4 s" or "1.25 s"."""
    try:
        total = float(value)
    except (TypeError, ValueError):
        return "—"
    if total < 60:
        return f"{total:.2f} s" if total < 10 else f"{total:.0f} s"
    minutes, secs = divmod(int(total), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


@register.filter
def age(value: datetime | None) -> str:
    """How long ago (or in how long) a moment is, e.g. "5 min ago", "in 2 h 1 min"."""
    if value is None:
        return ""
    delta = (datetime.now(timezone.utc) - value).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"{seconds(delta)} ago" if delta > 0 else f"in {seconds(-delta)}"


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` or ``getattr(mapping, key)`` (None when absent)."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return getattr(mapping, str(key), None)


@register.filter
def last_line(text: str) -> str:
    """The last non-empty line of a traceback: the exception itself."""
    from ..dashboard.jobs import last_line as _last_line

    return _last_line(str(text or ""))


@register.filter
def run_time(job: Any) -> float | None:
    """Seconds between a job's start and end."""
    started, ended = getattr(job, "started_at", None), getattr(job, "ended_at", None)
    if started is None or ended is None:
        return None
    return float((ended - started).total_seconds())


@register.filter
def iso(value: datetime | None) -> str:
    """ISO 8601 in UTC, for title attributes (cheaper than ``|date:'c'`` on long lists)."""
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else ""


@register.filter
def stamp(value: datetime | None) -> str:
    """``2026-01-31 12:00:00 UTC`` (dashboard times are shown in UTC, like the workers' logs)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""
