"""The proposals API for BI tools: a scorecard fitted to outcomes, in the agreement's own format.

``POST /api/v1/insights/scorecard`` answers 200 with the proposal when the population is small
enough to fit inside the request, or 202 with a job; ``GET /api/v1/insights/scorecard/{id}``
returns the job, with the proposal once it is done. Scope ``insights:read``: nothing is written to
the agreement (a leader adopts a proposal on the draft page).
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError, ValidationError

from alignment.dictionary import load_dictionary
from alignment.services import open_draft, persona_names
from leads.models import ScorecardJob
from leads.scoring.insights_api import ERRORS, INSIGHTS_SCOPE, ErrorOut, require_scope, window_and_outcome
from leads.scoring.proposals import scorecard_job_create
from leads.scoring.scorecard import MAX_RULES, rule_texts

__all__ = ["router"]

router = Router(tags=["insights"])


class ScorecardIn(Schema):
    outcome: str = Field(
        "", description="won, sql (reached SQL or won) or attribute:<key>; default: the organisation's choice."
    )
    created_from: dt.date | None = Field(None, description="First creation date of the leads (inclusive).")
    created_to: dt.date | None = Field(None, description="Last creation date of the leads (inclusive).")
    attributes: list[str] | None = Field(
        None,
        description="Attribute keys and activity:<kind> to consider; default: all known before first contact.",
    )
    max_rules: int = Field(MAX_RULES, ge=1, le=50, description="The most rules the proposal may have.")
    target_rate: float | None = Field(
        None, gt=0, lt=1, description="Set the threshold for this conversion rate instead of the MQL quota."
    )
    seed: int = Field(0, ge=0, description="Seed of the cross-validation folds (same seed, same proposal).")


class ExcludedOut(Schema):
    attribute: str
    reason: str


class RuleOut(Schema):
    id: str
    text: str = Field(description="The rule in the organisation's words (the data dictionary's labels).")
    points: int


class ProposalOut(Schema):
    spec: dict = Field(description="fit_rules, behaviour_rules, knockouts, mql_threshold, grade_bands.")
    rules: list[RuleOut] = Field(description="The proposed fit and behaviour rules as people read them.")
    cv_auc: float | None = Field(description="Cross-validated AUC of the whole procedure (never in-sample).")
    leads: int
    conversions: int
    attributes_used: list[str]
    attributes_excluded: list[ExcludedOut]
    model_card: dict


class JobOut(Schema):
    id: int
    status: str = Field(description="queued, running, done or failed.")
    progress: int = Field(description="Percent done.")
    step: str
    error: str
    result: ProposalOut | None


def _proposal(result: dict | None) -> dict | None:
    """A stored proposal with its rules described in the dictionary's labels as they stand today."""
    if not result:
        return result
    return {**result, "rules": rule_texts(result["spec"], load_dictionary(), persona_names())}


def _job(job: ScorecardJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "progress": job.progress,
        "step": job.step,
        "error": job.error,
        "result": _proposal(job.result),
    }


@router.post(
    "/insights/scorecard",
    response={200: ProposalOut, 202: JobOut, 400: ErrorOut, 413: ErrorOut, **ERRORS},
    summary="Propose a definition from outcomes",
)
def scorecard_propose(request: HttpRequest, body: ScorecardIn):
    """Fit an explainable points scorecard to the outcomes of the leads created between the dates.

    200 with the proposal, or 202 with a job to poll when the population is large; 422 with what is
    missing when there are too few leads or conversions to fit anything but noise.
    """
    require_scope(request, INSIGHTS_SCOPE)
    _window, outcome = window_and_outcome(body, where="body")
    params = {
        **body.dict(),
        "outcome": outcome.code,
        "created_from": body.created_from.isoformat() if body.created_from else None,
        "created_to": body.created_to.isoformat() if body.created_to else None,
    }
    try:
        job = scorecard_job_create(params=params, version=open_draft())
    except ValueError as exc:
        raise ValidationError([{"loc": ["body", "attributes"], "msg": str(exc)}]) from None
    if job.status == ScorecardJob.Status.DONE:
        return Status(200, _proposal(job.result))
    if job.status == ScorecardJob.Status.FAILED:
        return Status(422, {"detail": job.error, "errors": {}})
    return Status(202, _job(job))


@router.get(
    "/insights/scorecard/{job_id}",
    response={200: JobOut, 404: ErrorOut, **ERRORS},
    summary="A proposal job and, once done, its result",
)
def scorecard_job(request: HttpRequest, job_id: int):
    """The job's status and progress; ``result`` holds the proposal once ``status`` is ``done``."""
    require_scope(request, INSIGHTS_SCOPE)
    job = ScorecardJob.objects.filter(pk=job_id).first()
    if job is None:
        raise HttpError(404, f"There is no proposal job {job_id}.")
    return _job(job)
