"""The Evidence and Suggestions panels of the agreement's draft page (htmx partials).

They live in ``leads`` because they read leads' history; ``alignment`` only includes their URLs.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from alignment.models import AgreementVersion
from alignment.services import OPEN_STATUSES, AgreementError
from alignment.validation import SpecInvalid
from leads.inbox.selectors import reason_words
from leads.models import Lead
from leads.scoring.backtest import (
    AS_OF_DAYS,
    DEFAULT_DAYS,
    cached_backtest,
    example_leads,
    rejection_reasons,
)
from leads.scoring.evidence import MIN_SPAN_DAYS, Definition, Evidence, Window
from leads.scoring.evidence import evidence as evidence_for
from leads.scoring.lift import SMALL_SAMPLE as LIFT_SMALL_SAMPLE
from leads.scoring.lift import lift, suggestion_rule_add
from leads.scoring.outcomes import parse_outcome
from portal.access import EVERYONE, LEADERS, has_role, role_required
from portal.params import whole_number
from portal.progress import reporter
from portal.views import bad_request

WINDOW_DAYS = (90, 180, 365, 0)  # 0: all history
DEFAULT_WINDOW_DAYS = 365  # one default for Evidence and Suggestions


class BadParameter(ValueError):
    """A query-string value the panel cannot use; the message says which and why."""


def _date_param(request: HttpRequest, name: str) -> dt.date | None:
    raw = request.GET.get(name, "")
    if raw == "":
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadParameter(f"“{name}” must be a date written YYYY-MM-DD, not “{raw}”.") from None


def window_from(request: HttpRequest) -> tuple[Window, int | None]:
    """The window a panel shows: ``created_from``/``created_to`` dates, else ``days`` (0 = all)."""
    created_from, created_to = _date_param(request, "created_from"), _date_param(request, "created_to")
    if created_from and created_to and created_from > created_to:
        raise BadParameter("“created_from” must not be after “created_to”.")
    if created_from or created_to:
        return Window(created_from=created_from, created_to=created_to), None
    days = whole_number(request, "days", DEFAULT_WINDOW_DAYS)
    if days not in WINDOW_DAYS:
        raise BadParameter(f"“days” must be one of {', '.join(str(d) for d in WINDOW_DAYS)} (0 means all history).")
    return Window.last_days(days), days


def _bad(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The reason as plain text for the panel that asked (htmx); the portal's 400 page for a person
    who opened the address itself."""
    if request.htmx:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return bad_request(request, exc)


def _panel(request: HttpRequest, template: str, context: dict, title: str) -> HttpResponse:
    """A panel for the draft workspace that loads it in place (htmx), or as a page of its own for a
    person who opened its address (a bookmark, a link in a message)."""
    if request.htmx:
        return render(request, template, context)
    return render(request, "leads/panel_page.html", {**context, "panel_template": template, "page_title": title})


def _percent(x: float | None) -> float | None:
    return None if x is None else 100 * x


def _side(d: Definition | None, ev: Evidence) -> dict | None:
    if d is None:
        return None
    return {
        "label": d.label,
        "threshold": d.threshold,
        "mqls": d.mqls,
        "flagged_pct": _percent(d.flagged),
        "converted": d.converted,
        "captured_pct": _percent(d.captured),
        "inside_pct": _percent(d.rate_inside),
        "outside_pct": _percent(d.rate_outside),
        "lift": d.lift,
        "per_month": ev.per_month(d.mqls),
    }


def _chart(ev: Evidence) -> dict:
    sides = [s for s in (ev.draft, ev.active) if s is not None]
    weeks = ev.weeks()
    labels = [w.strftime("%-d %b %Y") for w in weeks]
    return {
        "labels": labels,
        "series": [{"label": s.label, "data": [s.weekly.get(w, 0) for w in weeks]} for s in sides],
        "rows": [
            {"week": label, "values": [s.weekly.get(w, 0) for s in sides]}
            for label, w in zip(labels, weeks, strict=True)
        ],
        "curves": [
            {
                "label": s.label,
                "points": [{"x": round(100 * x, 2), "y": round(100 * y, 2)} for x, y in s.curve()],
                "threshold": (
                    {"x": round(100 * s.flagged, 2), "y": round(100 * s.captured, 2)}
                    if s.flagged is not None and s.captured is not None
                    else None
                ),
            }
            for s in sides
        ],
    }


@require_GET
@role_required(*EVERYONE)
def evidence(request: HttpRequest) -> HttpResponse:
    """A draft (``?version=N``) against outcomes, and against the version in force when there is one."""
    try:
        number = whole_number(request, "version")
        window, days = window_from(request)
        outcome = parse_outcome(request.GET.get("outcome"))
    except (BadParameter, BadRequest, ValueError) as exc:
        return _bad(request, exc)
    if number is None:
        return _bad(request, BadParameter("“version” is required: the number of the draft to judge."))
    version = get_object_or_404(AgreementVersion, number=number)
    active = AgreementVersion.objects.active()
    compare = active is not None and active.pk != version.pk
    context = {
        "version": version,
        "active": active if compare else None,
        "days": days,
        "window": window,
        "window_days": WINDOW_DAYS,
        "as_of": AS_OF_DAYS,
        "outcome": outcome,
        "min_span": MIN_SPAN_DAYS,
    }
    try:
        ev = evidence_for(
            draft_spec=version.spec,
            active_spec=active.spec if compare else None,
            window=window,
            outcome=outcome,
            draft_label=f"Draft v{version.number}" if version.status != "active" else f"v{version.number}",
            active_label=f"Active v{active.number}" if compare else "",
            progress=reporter(request.user.pk, request.GET.get("progress"), "Evidence"),
        )
    except (KeyError, TypeError, ValueError):
        # A spec the compiler cannot run (only possible for a draft with problems): say so, no 500.
        return _panel(request, "leads/evidence_panel.html", {**context, "broken": True}, "Evidence")
    quota = version.spec.get("sla", {}).get("monthly_mql_quota") or 0
    draft = _side(ev.draft, ev)
    context.update(
        {
            "ev": ev,
            "draft": draft,
            "other": _side(ev.active, ev),
            "chart": _chart(ev),
            "quota": quota,
            "quota_pct": round(draft["per_month"] * 100 / quota) if quota and draft["per_month"] is not None else None,
            "overall_pct": _percent(ev.overall_rate),
            "older_history": ev.leads == 0 and Lead.objects.exists(),
            "contradicted": [k for k in ev.knockouts if ev.contradicted(k)],
        }
    )
    if compare and ev.leads:
        context.update(_sdr_comparison(version, active, ev))
    return _panel(request, "leads/evidence_panel.html", context, "Evidence")


def _sdr_comparison(version: AgreementVersion, active: AgreementVersion, ev: Evidence) -> dict:
    """What SDRs actually did with each definition's MQLs, over the same span (live history only)."""
    days = max(1, (ev.now.date() - ev.first.date()).days + 1) if ev.first else DEFAULT_WINDOW_DAYS
    result = cached_backtest(draft_spec=version.spec, active_spec=active.spec, days=days)
    # Past reasons read in the signed versions' words, never the draft's (leads.inbox.selectors.ReasonWords).
    labels = reason_words().labels_at(timezone.now(), set(result.draft.reasons) | set(result.active.reasons))
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
    return {
        "result": result,
        "outcome_rows": outcome_rows,
        "reasons_draft": result.draft.top_reasons(labels),
        "reasons_active": result.active.top_reasons(labels),
        "examples": example_leads(result),
    }


@require_GET
@role_required(*EVERYONE)
def evidence_suggestions(request: HttpRequest) -> HttpResponse:
    """Lift per value of every attribute and activity kind, with the draft's points and "add as rule"."""
    try:
        number = whole_number(request, "version")
        window, days = window_from(request)
        outcome = parse_outcome(request.GET.get("outcome"))
    except (BadParameter, BadRequest, ValueError) as exc:
        return _bad(request, exc)
    active = AgreementVersion.objects.active()
    version = get_object_or_404(AgreementVersion, number=number) if number is not None else active
    spec = version.spec if version is not None else None
    progress = reporter(request.user.pk, request.GET.get("progress"), "Suggestions")
    result = lift(window=window, outcome=outcome, spec=spec, progress=progress)
    can_add = version is not None and version.status in OPEN_STATUSES and has_role(request.user, *LEADERS)
    return _panel(
        request,
        "leads/evidence_suggestions.html",
        {
            "version": version,
            "active": active,
            "result": result,
            "window": window,
            "days": days,
            "window_days": WINDOW_DAYS,
            "small_sample": LIFT_SMALL_SAMPLE,
            "outcome": outcome,
            "overall_pct": _percent(result.overall),
            "can_add": can_add,
            "rejections": rejection_reasons(spec=active.spec, days=DEFAULT_DAYS) if active else [],
        },
        "Suggestions from outcomes",
    )


@require_POST
@role_required(*LEADERS)
def suggestion_add_rule(request: HttpRequest) -> HttpResponse:
    """Add the rule a suggestion row stands for to the open draft, with its evidence as the note."""
    try:
        number = _int_param_post(request, "version")
        rule = json.loads(request.POST.get("rule", ""))
        points = _int_param_post(request, "points")
    except (BadParameter, BadRequest, ValueError) as exc:
        return _bad(request, exc)
    version = get_object_or_404(AgreementVersion, number=number)
    if not isinstance(rule, dict) or ("field" not in rule and "kind" not in rule):
        return _bad(request, BadParameter("“rule” must be a fit rule (field) or a behaviour rule (kind)."))
    try:
        result = suggestion_rule_add(
            version=version, user=request.user, rule=rule, points=points, note=request.POST.get("note", "")[:200]
        )
    except (AgreementError, SpecInvalid) as exc:
        return HttpResponse(
            format_html('<div class="alert alert-danger small mb-0" role="alert">{}</div>', _error_text(exc)),
            status=409,
        )
    return HttpResponse(
        format_html(
            '<span class="text-success small" role="status"><i class="bi bi-check2 me-1" aria-hidden="true"></i>'
            "Added to draft v{} (revision {})</span>",
            result.version.number,
            result.version.revision,
        )
    )


def _int_param_post(request: HttpRequest, name: str) -> int:
    raw = request.POST.get(name, "").strip()
    if not re.fullmatch(r"-?\d{1,9}", raw):  # points may be negative
        raise BadParameter(f"“{name}” must be a whole number, not “{raw}”.")
    return int(raw)


def _error_text(exc: Exception) -> str:
    problems = getattr(exc, "problems", None) or getattr(exc, "errors", None)
    if isinstance(problems, dict):
        return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in problems.items())
    return str(exc)
