"""The rescore status on the agreement page (an htmx partial): the latest full rescore's progress,
the leads waiting for a rescore, and either as a problem when it has stopped moving."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from leads.models import RescoreJob
from leads.scoring.job_result import job_result
from leads.scoring.rescoring import job_problem, job_progress, pending_problem, pending_rescore
from portal.access import LEADERS, role_required

RESULT_SHOWN_FOR = dt.timedelta(days=1)


@role_required(*LEADERS)
def rescore_status(request: HttpRequest) -> HttpResponse:
    """Latest RescoreJob as a progress bar for the leaders who publish, and the leads waiting for a
        rescore; it polls itself every second while either lasts. A finished run is shown once, as one
        line, to whoever watched it (``?watching=1``, sent by the bar's own polls) and is otherwise not
        shown at all, unless its publish made new MQLs: then the line says how many were routed and how
    many wait, for a day. A failed or stuck run stays until the next one."""
    now = timezone.now()
    job = RescoreJob.objects.select_related("version").order_by("-created_at", "-id").first()
    progress = job_progress(job, now) if job else None
    pending = pending_rescore()
    problem = job_problem(job, now) if progress and progress.running else None
    finished = job is None or job.status in (RescoreJob.Status.DONE, RescoreJob.Status.SUPERSEDED)
    # What a publish did to the inbox stays on the page for a day: new MQLs, routed, waiting and why.
    result = job_result(job) if job and job.trigger == RescoreJob.Trigger.PUBLISH else None
    recent = result is not None and result.new_mqls > 0 and job.finished_at > now - RESULT_SHOWN_FOR
    return render(
        request,
        "leads/_rescore_status.html",
        {
            "job": job,
            "progress": progress,
            "problem": problem,
            "pending": pending,
            "pending_problem": pending_problem(pending, now),
            "polling": bool((progress and progress.running) or pending.leads),
            "result": result,
            "hidden": finished and not recent and not pending.leads and request.GET.get("watching") != "1",
        },
    )
