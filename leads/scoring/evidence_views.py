"""The Evidence and Suggestions panels of the agreement's draft page (htmx partials).

They live in ``leads`` because they read leads' history; ``alignment`` only includes their URLs.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from alignment.models import AgreementVersion
from alignment.spec import reason_choices
from leads.scoring.backtest import (
    AS_OF_DAYS,
    DAY_CHOICES,
    DEFAULT_DAYS,
    SMALL_SAMPLE,
    cached_backtest,
    example_leads,
    rejection_reasons,
    suggestions,
)
from portal.access import EVERYONE, role_required
from portal.params import whole_number

SUGGESTION_DAYS = (90, 180, 365)


@require_GET
@role_required(*EVERYONE)
def evidence(request: HttpRequest) -> HttpResponse:
    """Draft (``?version=N``) against the active version over the last ``?days=`` days of leads."""
    number = whole_number(request, "version", minimum=1)
    if number is None:
        raise BadRequest("Say which version to test: ?version=3.")
    version = get_object_or_404(AgreementVersion, number=number)
    days = whole_number(request, "days", DEFAULT_DAYS, choices=DAY_CHOICES)
    active = AgreementVersion.objects.active()
    context = {"version": version, "active": active, "days": days, "day_choices": DAY_CHOICES, "as_of": AS_OF_DAYS}
    if active is None or active.pk == version.pk:
        return render(request, "leads/evidence_panel.html", {**context, "result": None})
    try:
        result = cached_backtest(draft_spec=version.spec, active_spec=active.spec, days=days)
    except (KeyError, TypeError, ValueError):
        # A spec the compiler cannot run (only possible for a draft with problems): say so, no 500.
        return render(request, "leads/evidence_panel.html", {**context, "result": None, "broken": True})
    quota = version.spec.get("sla", {}).get("monthly_mql_quota") or 0
    chart = {
        "labels": [w["week"].strftime("%-d %b") for w in result.weeks],
        "draft": [w["draft"] for w in result.weeks],
        "active": [w["active"] for w in result.weeks],
        "draftLabel": f"Draft v{version.number}",
        "activeLabel": f"Active v{active.number}",
    }
    labels = {**dict(reason_choices(version.spec, "reject")), **dict(reason_choices(active.spec, "reject"))}
    outcome_rows = [
        {
            "label": label,
            "draft": getattr(result.draft, key),
            "active": getattr(result.active, key),
            "draft_rate": result.draft.rate(key),
            "active_rate": result.active.rate(key),
        }
        for key, label in (
            ("accepted", "Accepted by an SDR (SAL)"),
            ("recycled", "Recycled to nurture"),
            ("rejected", "Rejected"),
            ("sql", "Became SQL"),
            ("won", "Won"),
        )
    ]
    return render(
        request,
        "leads/evidence_panel.html",
        {
            **context,
            "result": result,
            "chart": chart,
            "outcome_rows": outcome_rows,
            "reasons_draft": result.draft.top_reasons(labels),
            "reasons_active": result.active.top_reasons(labels),
            "examples": example_leads(result),
            "quota": quota,
            "draft_per_month": result.per_month(result.draft.mql),
            "active_per_month": result.per_month(result.active.mql),
            "quota_pct": round(100 * result.per_month(result.draft.mql) / quota) if quota else None,
        },
    )


@require_GET
@role_required(*EVERYONE)
def evidence_suggestions(request: HttpRequest) -> HttpResponse:
    """Lift per attribute value and activity kind, with the active definition's points, and top rejections."""
    active = AgreementVersion.objects.active()
    days = whole_number(request, "days", 180, choices=SUGGESTION_DAYS)
    if active is None:
        return render(request, "leads/evidence_suggestions.html", {"active": None})
    data = suggestions(spec=active.spec, days=days)
    return render(
        request,
        "leads/evidence_suggestions.html",
        {
            "active": active,
            "days": days,
            "day_choices": SUGGESTION_DAYS,
            "small_sample": SMALL_SAMPLE,
            "as_of": AS_OF_DAYS,
            "rejections": rejection_reasons(spec=active.spec, days=DEFAULT_DAYS),
            "overall_pct": 100 * data["overall"],
            **data,
        },
    )
