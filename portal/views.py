from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from portal.navigation import home_url_for


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its page: leaders → agreement, SDR → inbox, manager → SLA dashboard."""
    return redirect(home_url_for(request.user))


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _check_broker() -> str | None:
    if not settings.REDIS_URL:
        return None  # embedded mode: tasks run in-process, there is no broker to reach
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu/redis raise many kinds; any of them means "not reachable"
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming what failed."""
    db_error, broker_error = _check_database(), _check_broker()
    checks = {
        "database": {"ok": db_error is None, **({"error": db_error} if db_error else {})},
        "broker": {
            "ok": broker_error is None,
            "mode": "redis" if settings.REDIS_URL else "embedded (tasks run in the web process)",
            **({"error": broker_error} if broker_error else {}),
        },
    }
    failed = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 with the reason the request was refused (``portal.params`` words it for people)."""
    message = str(exception) if exception is not None and str(exception) else ""
    return render(request, "400.html", {"message": message}, status=400)
