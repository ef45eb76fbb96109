"""Machine-readable endpoints: ``stats.json`` and Prometheus ``metrics``.

Both answer GET only (405 otherwise) to either

- a staff session whose user may see the dashboard (``django_taskq.view_queues`` or
  ``django_taskq.manage_queues``, as for the pages), or
- ``Authorization: Bearer <RQ_API_TOKEN>`` (compared in constant time; token auth is off while
  ``RQ_API_TOKEN`` is unset), or for ``stats.json`` the token in django-rq's URL form
  ``stats.json/<token>/``.

A request with neither gets 401 (``WWW-Authenticate: Bearer``); a staff session without the
permission gets 403, like the dashboard pages. A Bearer token that is sent is judged on its
own: a wrong one is a 401 even from a logged-in browser.
"""

from __future__ import annotations

import hmac

import redis
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ..conf import taskq_settings
from ..connections import fail_fast
from ..models import MANAGE_PERMISSION, VIEW_PERMISSION
from ..stats import gather

_REDIS_ERRORS = (redis.RedisError, OSError)


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(given.encode(), expected.encode())


def authorize(request: HttpRequest, url_token: str | None = None) -> HttpResponse | None:
    """None when ``request`` may read the statistics, else the 401 or 403 response to send.

    ``url_token``: the token of django-rq's ``stats.json/<token>/`` URL, judged like a Bearer
    token when no Authorization header is sent.
    """
    header = request.headers.get("Authorization", "").strip()
    if header or url_token is not None:
        expected = taskq_settings.API_TOKEN
        given = bearer_token(request) if header else url_token
        if isinstance(expected, str) and given is not None and token_matches(given, expected):
            return None
        return _unauthorized(request, invalid_token=given is not None)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return _unauthorized(request, invalid_token=False)
    if not (user.has_perm(VIEW_PERMISSION) or user.has_perm(MANAGE_PERMISSION)):
        return _text(f"Forbidden: the {VIEW_PERMISSION} permission is needed.\n", 403)
    return None


def _unauthorized(request: HttpRequest, *, invalid_token: bool) -> HttpResponse:
    response = _text("Unauthorized: log in as staff or send Authorization: Bearer <RQ_API_TOKEN>.\n", 401)
    challenge = 'Bearer realm="django-taskq"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    response["WWW-Authenticate"] = challenge
    return response


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _private(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ("Authorization", "Cookie"))
    return response


@require_GET
@never_cache
def stats_json(request: HttpRequest, token: str | None = None) -> HttpResponse:
    """The same document as ``rqstats --json``: ``django_taskq.stats.gather().as_dict()``.

    ``token``: django-rq's ``stats.json/<token>/`` (the header is better: URLs get logged).
    """
    denied = authorize(request, token)
    if denied is not None:
        return _private(denied)
    try:
        with fail_fast():  # answers within one socket timeout, like the pages
            stats = gather()
    except _REDIS_ERRORS as exc:
        # The exception text may name hosts; the type is enough and never leaks a secret.
        return _private(JsonResponse({"error": f"Redis unreachable ({type(exc).__name__})."}, status=503))
    return _private(JsonResponse(stats.as_dict()))


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of the queues (needs prometheus-client: 501 without it).

    ``?name[]=rq_jobs&name[]=...`` keeps only those metrics, as django-rq's endpoint does.
    """
    denied = authorize(request)
    if denied is not None:
        return _private(denied)
    from ..contrib import prometheus

    if not prometheus.is_available():
        return _private(_text(f"Metrics are not available: prometheus-client is not installed. "
                              f"{prometheus.INSTALL_HINT}\n", 501))  # fmt: skip
    try:
        with fail_fast():  # a scrape fails within one socket timeout, not ten
            body, content_type = prometheus.render(
                request.headers.get("Accept", ""), request.GET.getlist("name[]")
            )
    except _REDIS_ERRORS as exc:
        return _private(_text(f"Redis unreachable ({type(exc).__name__}).\n", 503))
    return _private(HttpResponse(body, content_type=content_type))
