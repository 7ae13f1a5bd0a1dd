"""The insights API for BI tools: lift per attribute value, and a definition's evidence.

``GET /api/v1/insights/lift`` and ``GET /api/v1/insights/evidence`` return the figures of the
Suggestions and Evidence panels, computed the same way (``lift``, ``evidence``), for a token with
the ``insights:read`` scope.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError, ValidationError

from alignment.models import AgreementVersion
from leads.scoring.evidence import Definition, Evidence, Window, evidence
from leads.scoring.lift import lift
from leads.scoring.outcomes import outcome_api_fields, parse_outcome

__all__ = ["ERRORS", "INSIGHTS_SCOPE", "ErrorOut", "InvalidOut", "require_scope", "router"]

INSIGHTS_SCOPE = "insights:read"

router = Router(tags=["insights"])


def require_scope(request: HttpRequest, scope: str) -> None:
    """403 unless the request's token carries ``scope``."""
    token = getattr(request, "auth", None)
    if token is None or not token.allows(scope):
        raise HttpError(403, f"This API token lacks the “{scope}” scope.")


class ErrorOut(Schema):
    detail: str


class InvalidOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(
        default_factory=dict, description="Messages per field; empty when the data, not the request, falls short."
    )


ERRORS = {401: ErrorOut, 403: ErrorOut, 422: InvalidOut}


class InsightQuery(Schema):
    outcome: str = Field(
        "", description="won, sql (reached SQL or won) or attribute:<key>; default: the organisation's choice."
    )
    created_from: dt.date | None = Field(None, description="First creation date of the leads (inclusive).")
    created_to: dt.date | None = Field(None, description="Last creation date of the leads (inclusive).")


class EvidenceQuery(InsightQuery):
    version: int | None = Field(None, description="The agreement version to judge; default: the active one.")


def window_and_outcome(request, *, where: str = "query"):
    """The population and outcome a request names (``where``: query or body); 422 naming each bad field."""
    errors = []
    try:
        outcome = parse_outcome(request.outcome)
    except ValueError as exc:
        errors.append({"loc": [where, "outcome"], "msg": str(exc)})
        outcome = None
    if request.created_from and request.created_to and request.created_from > request.created_to:
        errors.append({"loc": [where, "created_to"], "msg": "created_to must not be before created_from."})
    if errors:
        raise ValidationError(errors)
    return Window(created_from=request.created_from, created_to=request.created_to), outcome


class LiftRowOut(Schema):
    attribute: str
    value: str
    low: float | None
    high: float | None
    leads: int
    converted: int
    rate: float
    lift: float | None
    small_sample: bool
    before_contact: bool


class OutcomeOut(Schema):
    outcome: str = Field(description="The outcome code the figures used: sql, won or attribute:<key>.")
    outcome_definition: str = Field(description="That definition in words, e.g. “converted = won”.")
    outcome_defined_at: str = Field(description="The Data page, where leaders choose the organisation's definition.")


class LiftOut(OutcomeOut):
    leads: int
    converted: int
    rows: list[LiftRowOut]


@router.get("/insights/lift", response={200: LiftOut, **ERRORS}, summary="Conversion rate and lift per attribute value")
def insights_lift(request: HttpRequest, query: Query[InsightQuery]):
    """Every value (or number bin, or activity kind had / did not) of every attribute, with its counts.

    Rows of attributes filled in by sales carry ``"before_contact": false``: they leak the outcome.
    """
    require_scope(request, INSIGHTS_SCOPE)
    window, outcome = window_and_outcome(query)
    result = lift(window=window, outcome=outcome)
    return {
        **outcome_api_fields(outcome, request),
        "leads": result.leads,
        "converted": result.converted,
        "rows": [row.as_api() for row in result.rows],
    }


class DefinitionOut(Schema):
    label: str
    mql_threshold: int
    mqls: int
    converted: int
    flagged: float | None = Field(description="Share of the leads that would be MQLs.")
    captured: float | None = Field(description="Share of all conversions among the would-be MQLs.")
    rate_inside: float | None
    rate_outside: float | None
    lift: float | None
    per_month: float | None = Field(description="MQLs per month over the data's span; null below four weeks.")
    curve: list[list[float]] = Field(description="Capture curve: [share flagged, share of conversions captured].")


class WeekOut(Schema):
    week: dt.date
    draft: int
    active: int | None


class EvidenceOut(OutcomeOut):
    version: int
    active_version: int | None
    created_from: dt.date | None
    created_to: dt.date | None
    leads: int
    converted: int
    first_created: dt.datetime | None
    last_created: dt.datetime | None
    span_days: int
    draft: DefinitionOut
    active: DefinitionOut | None
    weeks: list[WeekOut]


def _definition(d: Definition | None, ev: Evidence) -> dict | None:
    if d is None:
        return None
    return {
        "label": d.label,
        "mql_threshold": d.threshold,
        "mqls": d.mqls,
        "converted": d.converted,
        "flagged": d.flagged,
        "captured": d.captured,
        "rate_inside": d.rate_inside,
        "rate_outside": d.rate_outside,
        "lift": d.lift,
        "per_month": ev.per_month(d.mqls),
        "curve": [[x, y] for x, y in d.curve()],
    }


@router.get(
    "/insights/evidence",
    response={200: EvidenceOut, 404: ErrorOut, **ERRORS},
    summary="How a definition would have done on outcomes",
)
def insights_evidence(request: HttpRequest, query: Query[EvidenceQuery]):
    """The Evidence panel's figures for version ``version`` (and the active version, when another)."""
    require_scope(request, INSIGHTS_SCOPE)
    window, outcome = window_and_outcome(query)
    active = AgreementVersion.objects.active()
    if query.version is None:
        if active is None:
            raise ValidationError([{"loc": ["query", "version"], "msg": "No agreement is in force: name a version."}])
        version = active
    else:
        version = AgreementVersion.objects.filter(number=query.version).first()
        if version is None:
            raise HttpError(404, f"There is no agreement version {query.version}.")
    other = active if active is not None and active.pk != version.pk else None
    ev = evidence(
        draft_spec=version.spec,
        active_spec=other.spec if other else None,
        window=window,
        outcome=outcome,
        draft_label=f"v{version.number}",
        active_label=f"v{other.number}" if other else "",
    )
    return {
        "version": version.number,
        "active_version": other.number if other else None,
        **outcome_api_fields(outcome, request),
        "created_from": window.created_from,
        "created_to": window.created_to,
        "leads": ev.leads,
        "converted": ev.converted,
        "first_created": ev.first,
        "last_created": ev.last,
        "span_days": ev.span_days,
        "draft": _definition(ev.draft, ev),
        "active": _definition(ev.active, ev),
        "weeks": [
            {"week": w, "draft": ev.draft.weekly.get(w, 0), "active": ev.active.weekly.get(w, 0) if ev.active else None}
            for w in ev.weeks()
        ],
    }
