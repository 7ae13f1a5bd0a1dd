"""The live progress bar of the latest full rescore (an htmx partial the agreement page includes)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leads.models import RescoreJob
from leads.scoring.rescoring import job_progress
from portal.access import EVERYONE, role_required


@role_required(*EVERYONE)
def rescore_status(request: HttpRequest) -> HttpResponse:
    """Latest RescoreJob as a progress bar; it polls itself every second while the job runs."""
    job = RescoreJob.objects.select_related("version").order_by("-created_at", "-id").first()
    return render(
        request,
        "leads/_rescore_status.html",
        {"job": job, "progress": job_progress(job) if job else None},
    )
