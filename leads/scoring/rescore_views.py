"""The live progress bar of the latest full rescore (an htmx partial the agreement page includes)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leads.models import RescoreJob
from leads.scoring.rescoring import job_progress
from portal.access import LEADERS, role_required


@role_required(*LEADERS)
def rescore_status(request: HttpRequest) -> HttpResponse:
    """Latest RescoreJob as a progress bar for the leaders who publish; it polls itself every second
    while the job runs. A finished run is shown once to whoever watched it (``?watching=1``, sent by
    the bar's own polls) and is otherwise not shown at all; a failed run stays until the next one."""
    job = RescoreJob.objects.select_related("version").order_by("-created_at", "-id").first()
    finished = job is None or job.status in (RescoreJob.Status.DONE, RescoreJob.Status.SUPERSEDED)
    return render(
        request,
        "leads/_rescore_status.html",
        {
            "job": job,
            "progress": job_progress(job) if job else None,
            "hidden": finished and request.GET.get("watching") != "1",
        },
    )
