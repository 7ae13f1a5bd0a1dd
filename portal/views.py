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
from portal.progress import TOKEN, progress_read


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


def _check_rescoring() -> dict:
    """Leads waiting for a rescore (how many, since when) and the running full rescore; a stuck job or
    an overdue wait is a problem. Imported here: ``portal`` only names the leads app at this one URL."""
    from leads.models import RescoreJob
    from leads.scoring.rescoring import job_problem, job_progress, pending_problem, pending_rescore

    pending = pending_rescore()
    result: dict = {
        "pending_leads": pending.leads,
        "pending_capped": pending.capped,
        "waiting_since": pending.since.isoformat() if pending.since else None,
    }
    problems = [pending_problem(pending)]
    job = RescoreJob.objects.filter(status=RescoreJob.Status.RUNNING).select_related("version").order_by("-id").first()
    if job is not None:
        problem = job_problem(job)
        result["job"] = {
            "id": job.id,
            "version": job.version.number,
            "chunks_done": job.done_chunks,
            "chunks": job.total_chunks,
            "percent": job_progress(job).percent,
            "state": "stuck" if problem else "running",
        }
        problems.append(problem)
    problems = [p for p in problems if p]
    return {"ok": not problems, **result, **({"error": " ".join(problems)} if problems else {})}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming what failed. Rescoring that lags or a
    stuck job is reported as ``"status": "degraded"`` with HTTP 200: the portal still serves."""
    db_error, broker_error = _check_database(), _check_broker()
    checks = {
        "database": {"ok": db_error is None, **({"error": db_error} if db_error else {})},
        "broker": {
            "ok": broker_error is None,
            "mode": "redis" if settings.REDIS_URL else "embedded (tasks run in the web process)",
            **({"error": broker_error} if broker_error else {}),
        },
    }
    unavailable = [name for name, result in checks.items() if not result["ok"]]
    if db_error is None:
        checks["rescoring"] = _check_rescoring()
    failed = [name for name, result in checks.items() if not result["ok"]]
    status = "unavailable" if unavailable else ("degraded" if failed else "ok")
    body = {"status": status, "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if unavailable else 200)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 with the reason the request was refused (``portal.params`` words it for people)."""
    message = str(exception) if exception is not None and str(exception) else ""
    return render(request, "400.html", {"message": message}, status=400)


@never_cache
@login_required
@require_GET
def progress_status(request: HttpRequest, token: str) -> JsonResponse:
    """``{"done", "total", "percent", "label", "seconds"}`` of the caller's long request under ``token``."""
    if not TOKEN.fullmatch(token):
        return JsonResponse({"error": "Not a progress token."}, status=400)
    return JsonResponse(progress_read(request.user.pk, token))
