"""Pages of "Propose from outcomes": the form, the proposal with its model card, adopting it.

Leaders only: a proposal is the start of a draft. The fit itself lives in ``scorecard``; jobs and
adoption in ``proposals``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from alignment.dictionary import load_dictionary
from alignment.models import AgreementVersion
from alignment.selectors import card_view
from alignment.services import AgreementError, persona_names
from alignment.validation import SpecInvalid, error_messages
from leads.models import ScorecardJob
from leads.scoring.forms import ProposalForm
from leads.scoring.outcomes import current_outcome
from leads.scoring.proposals import ProposalError, scorecard_adopt, scorecard_job_create
from leads.scoring.scorecard import MIN_CONVERSIONS, MIN_LEADS, rule_texts
from portal.access import LEADERS, role_required

RUNNING = (ScorecardJob.Status.QUEUED, ScorecardJob.Status.RUNNING)


def _version(request: HttpRequest) -> AgreementVersion | None:
    raw = request.GET.get("version") or request.POST.get("version") or ""
    return get_object_or_404(AgreementVersion, number=int(raw)) if raw.isdigit() else None


@require_http_methods(["GET", "POST"])
@role_required(*LEADERS)
def scorecard_new(request: HttpRequest) -> HttpResponse:
    """The form (GET) and asking for a proposal (POST): fitted now, or queued with a progress bar."""
    version = _version(request)
    form = ProposalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = scorecard_job_create(params=form.params(), user=request.user, version=version)
        except ValueError as exc:
            form.add_error("attributes", str(exc))
        else:
            return redirect("leads:scorecard_job", pk=job.pk)
    context = {
        "form": form,
        "version": version,
        "min_leads": MIN_LEADS,
        "min_conversions": MIN_CONVERSIONS,
        "organisation_outcome": current_outcome(),
    }
    return render(request, "leads/scorecard_new.html", context, status=422 if form.errors else 200)


def _rules(job: ScorecardJob, dictionary) -> list[dict]:
    spec, notes = job.result["spec"], job.result["model_card"]["rule_notes"]
    return [{**rule, "note": notes.get(rule["id"], "")} for rule in rule_texts(spec, dictionary, persona_names())]


@require_GET
@role_required(*LEADERS)
def scorecard_job(request: HttpRequest, pk: int) -> HttpResponse:
    """A proposal: progress while it fits, then its rules and model card, or why there is none."""
    job = get_object_or_404(ScorecardJob.objects.select_related("version"), pk=pk)
    context = {"job": job, "running": job.status in RUNNING}
    if job.status == ScorecardJob.Status.DONE:
        dictionary = load_dictionary()
        context.update(
            {
                "rules": _rules(job, dictionary),
                "card": card_view(job.result["model_card"], dictionary),
                "spec": job.result["spec"],
            }
        )
    return render(request, "leads/scorecard_job.html", context)


@require_GET
@role_required(*LEADERS)
def scorecard_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar (htmx, polled); the page reloads itself once the fit is over."""
    job = get_object_or_404(ScorecardJob, pk=pk)
    if job.status not in RUNNING:
        return HttpResponseClientRefresh()
    return render(request, "leads/_scorecard_progress.html", {"job": job, "running": True})


@require_POST
@role_required(*LEADERS)
def scorecard_adopt_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a draft from the proposal (or fill the open one), then show the draft."""
    job = get_object_or_404(ScorecardJob, pk=pk)
    try:
        result = scorecard_adopt(job=job, user=request.user)
    except SpecInvalid as exc:
        messages.error(request, "The proposal does not fit the agreement: " + "; ".join(error_messages(exc.errors)))
        return redirect("leads:scorecard_job", pk=job.pk)
    except (AgreementError, ProposalError) as exc:
        messages.error(request, str(exc))
        return redirect("leads:scorecard_job", pk=job.pk)
    version = result.version
    messages.success(
        request,
        f"Draft version {version.number} now holds the proposal (revision {version.revision}); "
        "its model card is on the draft for both signers.",
    )
    return redirect("alignment:version", number=version.number)
