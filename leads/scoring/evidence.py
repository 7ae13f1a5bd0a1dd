"""Evidence against outcomes: how a definition would have done on what really happened.

Works on day one: the population is every lead created in a window — live or imported history —,
each judged as of its 14th day (``backtest.as_of``) under the definition, and the truth is the
organisation's definition of *converted* (``outcomes``). No agreement in force is needed; when one
is, it is measured the same way on the same leads.

One grouped statement per definition: leads counted by (week of arrival, score, knocked out,
converted). Every figure — would-be MQLs, conversions captured, the rates inside and outside the
MQL set, the capture curve, the weekly chart — is a sum over those few thousand rows, so the
definition is evaluated once per lead whatever the number of figures. A per-month figure divides by
the span of the data actually present (first to last lead created), never by the window's length,
and is withheld below four weeks of data rather than extrapolated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import models as m
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone

from alignment.dictionary import Dictionary, load_rule_labels
from alignment.spec import describe_condition
from leads.models import Lead
from leads.scoring.backtest import as_of, run_side_by_side, week_start
from leads.scoring.outcomes import Outcome, converted_condition
from leads.scoring.scorer import annotate_scores, compile_condition

__all__ = ["DAYS_PER_MONTH", "MIN_SPAN_DAYS", "Definition", "Evidence", "Window", "evidence", "window_leads"]

DAYS_PER_MONTH = 30.44
MIN_SPAN_DAYS = 28  # below four weeks of data a monthly rate would be an extrapolation
CURVE_POINTS = 101


@dataclass(frozen=True)
class Window:
    """Leads created from ``created_from`` to ``created_to`` (dates, inclusive; None = open)."""

    created_from: dt.date | None = None
    created_to: dt.date | None = None

    @classmethod
    def last_days(cls, days: int | None, today: dt.date | None = None) -> Window:
        """The last ``days`` days up to today; ``None`` or 0 means all history."""
        if not days:
            return cls()
        today = today or timezone.localdate()
        return cls(created_from=today - dt.timedelta(days=days - 1), created_to=today)

    def describe(self) -> str:
        if self.created_from and self.created_to:
            return f"created {self.created_from:%-d %b %Y} – {self.created_to:%-d %b %Y}"
        if self.created_from:
            return f"created since {self.created_from:%-d %b %Y}"
        if self.created_to:
            return f"created up to {self.created_to:%-d %b %Y}"
        return "all history"


def _utc_day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at, dt.UTC).date()


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def window_leads(window: Window, *, now: dt.datetime):
    """The window's leads, never later than ``now``."""
    qs = Lead.objects.filter(created_at__lte=now)
    if window.created_from:
        qs = qs.filter(created_at__gte=_start_of(window.created_from))
    if window.created_to:
        qs = qs.filter(created_at__lt=_start_of(window.created_to + dt.timedelta(days=1)))
    return qs


@dataclass
class Definition:
    """One definition's figures on the window's leads."""

    label: str
    threshold: int
    leads: int = 0
    total_converted: int = 0
    mqls: int = 0
    converted: int = 0  # conversions among the would-be MQLs
    weekly: dict[dt.date, int] = field(default_factory=dict)
    # (score or None for knocked out, leads, converted), best first: the ranking the curve walks
    ranks: list[tuple[int | None, int, int]] = field(default_factory=list)

    @property
    def captured(self) -> float | None:
        """Share of all conversions that the MQL set holds."""
        return self.converted / self.total_converted if self.total_converted else None

    @property
    def flagged(self) -> float | None:
        return self.mqls / self.leads if self.leads else None

    @property
    def rate_inside(self) -> float | None:
        return self.converted / self.mqls if self.mqls else None

    @property
    def rate_outside(self) -> float | None:
        rest = self.leads - self.mqls
        return (self.total_converted - self.converted) / rest if rest else None

    @property
    def lift(self) -> float | None:
        overall = self.total_converted / self.leads if self.leads else 0
        inside = self.rate_inside
        return inside / overall if inside is not None and overall else None

    def curve(self) -> list[tuple[float, float]]:
        """(share of leads flagged, share of conversions captured), ranking leads by score."""
        if not self.leads or not self.total_converted:
            return []
        points = [(0.0, 0.0)]
        flagged = captured = 0
        for _score, n, c in self.ranks:
            flagged += n
            captured += c
            points.append((flagged / self.leads, captured / self.total_converted))
        if len(points) > CURVE_POINTS:  # keep the chart light; both ends and the shape stay
            step = (len(points) - 1) / (CURVE_POINTS - 1)
            points = [points[round(i * step)] for i in range(CURVE_POINTS)]
        return points


@dataclass
class Knockout:
    """One knock-out rule of the judged definition: whom it removes, and how they really did."""

    rule_id: str
    label: str
    leads: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.leads if self.leads else None


@dataclass
class Evidence:
    window: Window
    outcome: Outcome
    now: dt.datetime
    leads: int = 0
    converted: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    draft: Definition | None = None
    active: Definition | None = None
    knockouts: list[Knockout] = field(default_factory=list)  # the judged definition's

    def contradicted(self, knockout: Knockout) -> bool:
        """A knock-out whose leads converted at least as often as all leads: the data argues against it."""
        overall = self.overall_rate
        return bool(knockout.leads >= 5 and overall and knockout.rate is not None and knockout.rate >= overall)

    @property
    def span_days(self) -> int:
        """Days from the first to the last lead created in the window (1 for a single day)."""
        if not self.first or not self.last:
            return 0
        return (_utc_day(self.last) - _utc_day(self.first)).days + 1

    @property
    def overall_rate(self) -> float | None:
        return self.converted / self.leads if self.leads else None

    def per_month(self, count: int) -> float | None:
        """``count`` per month over the data's own span; None below four weeks of data."""
        if self.span_days < MIN_SPAN_DAYS:
            return None
        return count * DAYS_PER_MONTH / self.span_days

    def weeks(self) -> list[dt.date]:
        if not self.first or not self.last:
            return []
        day, end, out = week_start(self.first), week_start(self.last), []
        while day <= end:
            out.append(day)
            day += dt.timedelta(days=7)
        return out


def _definition_pass(base, spec: dict, outcome: Outcome, now: dt.datetime, label: str):
    def work() -> Definition:
        rows = (
            annotate_scores(base.order_by(), spec, now=as_of(now))
            .annotate(conv=m.ExpressionWrapper(converted_condition(outcome), output_field=m.BooleanField()))
            .annotate(week=TruncWeek("created_at", tzinfo=dt.UTC))
            .values("week", "sc_total", "sc_knocked_out", "conv")
            .annotate(n=Count("pk"))
            .order_by()
        )
        threshold = int(spec.get("mql_threshold", 0))
        result = Definition(label=label, threshold=threshold)
        by_rank: dict[int | None, list[int]] = {}
        for row in rows:
            n, conv = row["n"], bool(row["conv"])
            score = None if row["sc_knocked_out"] else int(row["sc_total"] or 0)
            result.leads += n
            result.total_converted += n if conv else 0
            slot = by_rank.setdefault(score, [0, 0])
            slot[0] += n
            slot[1] += n if conv else 0
            if score is not None and score >= threshold:
                result.mqls += n
                result.converted += n if conv else 0
                week = _week_of(row["week"])
                result.weekly[week] = result.weekly.get(week, 0) + n
        ranked = sorted((s for s in by_rank if s is not None), reverse=True)
        result.ranks = [(s, *by_rank[s]) for s in ranked]
        if None in by_rank:  # knocked-out leads are never flagged: they close the ranking
            result.ranks.append((None, *by_rank[None]))
        return result

    return work


def _knockout_pass(base, spec: dict, outcome: Outcome, dictionary: Dictionary):
    def work() -> list[Knockout]:
        rules = spec.get("knockouts", [])
        if not rules:
            return []
        qs = base.order_by().annotate(
            conv=m.ExpressionWrapper(converted_condition(outcome), output_field=m.BooleanField())
        )
        counts = {}
        for i, rule in enumerate(rules):
            condition = compile_condition(rule)
            counts[f"n{i}"] = Count("pk", filter=condition)
            counts[f"c{i}"] = Count("pk", filter=condition & Q(conv=True))
        row = qs.aggregate(**counts)
        return [
            Knockout(
                rule_id=str(rule.get("id", i)),
                label=rule.get("label") or describe_condition(rule, dictionary=dictionary),
                leads=row[f"n{i}"],
                converted=row[f"c{i}"],
            )
            for i, rule in enumerate(rules)
        ]

    return work


def _week_of(value) -> dt.date:
    if isinstance(value, str):  # raw SQLite rows carry the truncated instant as text
        value = dt.datetime.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def evidence(
    *,
    draft_spec: dict,
    active_spec: dict | None,
    window: Window,
    outcome: Outcome,
    now: dt.datetime | None = None,
    draft_label: str = "Draft",
    active_label: str = "Active",
    progress=None,
    dictionary: Dictionary | None = None,
) -> Evidence:
    """Both definitions (each evaluated once, side by side) against the window's outcomes;
    ``progress(done, total)`` hears of each finished pass. Rules are named in ``dictionary``'s
    labels (the labels of what the draft names, read here when not given)."""
    now = now or timezone.now()
    dictionary = dictionary or load_rule_labels(draft_spec)
    base = window_leads(window, now=now)
    result = Evidence(window=window, outcome=outcome, now=now)

    def span():
        return base.aggregate(first=Min("created_at"), last=Max("created_at"))

    passes = [
        _definition_pass(base, draft_spec, outcome, now, draft_label),
        span,
        _knockout_pass(base, draft_spec, outcome, dictionary),
    ]
    if active_spec is not None:
        passes.append(_definition_pass(base, active_spec, outcome, now, active_label))
    done = run_side_by_side(*passes, progress=progress)
    result.draft, bounds, result.knockouts = done[0], done[1], done[2]
    result.active = done[3] if active_spec is not None else None
    result.first, result.last = bounds["first"], bounds["last"]
    result.leads, result.converted = result.draft.leads, result.draft.total_converted
    return result
