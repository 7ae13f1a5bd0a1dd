"""Suggestions from outcomes: conversion rate and lift for every value of every attribute.

For each attribute the window's leads are counted by value, with how many of them converted (every
figure a count — no sampling). On PostgreSQL all attributes are counted in one pass over the leads
(each lead's values unpivoted into (attribute, value) pairs and grouped; the attributes split in two
halves read side by side), so whether a lead converted is worked out once per lead, not once per
attribute. Choice values give one row each; multiple-choice values one row per value (a lead with
two values counts in both); numbers give quantile bins with their ranges ("Employees 51–200");
activity kinds give "had it" and "did not". Unknown values get a row of their own, so the counts of
a single-valued attribute add up to the window's leads. Attributes filled in by sales are marked
``before_contact = False``: they describe what happened after the first contact and leak the
outcome, so the panel shows them apart and leaves them out of totals.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db import models as m
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from alignment.dictionary import Dictionary, load_dictionary
from leads.models import Activity, Lead
from leads.scoring.backtest import run_side_by_side
from leads.scoring.evidence import Window, window_leads
from leads.scoring.outcomes import Outcome, converted_condition
from leads.scoring.scorer import condition_matches
from leads.sql import join, query, run, sql

__all__ = [
    "SMALL_SAMPLE",
    "Attribute",
    "LiftResult",
    "LiftRow",
    "attributes",
    "lift",
    "suggested_points",
    "suggestion_rule_add",
]

SMALL_SAMPLE = 30
BINS = 5
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Attribute:
    """An attribute the panel breaks leads down by: where it is stored and how to read it."""

    key: str
    label: str
    path: str  # ORM path from Lead
    kind: str  # choice, multi_choice, number, yes_no
    before_contact: bool = True
    labels: dict = field(default_factory=dict)
    rule_field: str = ""  # the spec's field name for "add as rule" (defaults to key)


# The built-in attributes the panel breaks leads down by: key, ORM path from Lead, kind.
BUILT_IN = (
    ("industry", "account__industry", "choice"),
    ("employees", "account__employees", "number"),
    ("annual_revenue", "account__annual_revenue", "number"),
    ("country", "account__country", "choice"),
    ("seniority", "seniority", "choice"),
    ("department", "department", "choice"),
    ("source", "source", "choice"),
    ("persona", "persona_id", "choice"),
    # BANT is what an SDR learns on the first call: the dictionary marks it filled in by sales.
    ("budget", "budget", "choice"),
    ("authority", "authority", "choice"),
    ("need", "need", "choice"),
    ("timeline", "timeline", "choice"),
)
# Custom types with values to compare (dates and free text have none to break leads down by).
CUSTOM_KINDS = ("choice", "multi_choice", "number", "yes_no")


def attributes(dictionary: Dictionary | None = None) -> list[Attribute]:
    """Every attribute with values to compare, named by the data dictionary: the built-in fields,
    then the organisation's own live ones (by label)."""
    dictionary = dictionary or load_dictionary()
    out = []
    for key, path, kind in BUILT_IN:
        entry = dictionary.attributes[key]
        labels = {c.value: c.label for c in entry.choices if c.label != c.value}
        out.append(Attribute(key, entry.label, path, kind, before_contact=entry.before_contact, labels=labels))
    custom = [a for a in dictionary.custom_attributes().values() if a.type in CUSTOM_KINDS]
    for entry in sorted(custom, key=lambda a: a.label):
        prefix = "" if entry.object == "lead" else "account__"
        out.append(
            Attribute(
                entry.key,
                entry.label,
                f"{prefix}attributes__{entry.key}",
                entry.type,
                before_contact=entry.before_contact,
                labels={c.value: c.label or c.value for c in entry.choices},
            )
        )
    return out


@dataclass
class LiftRow:
    attribute: str
    attribute_label: str
    value: str
    label: str
    leads: int
    converted: int
    rate: float
    lift: float | None
    small_sample: bool
    before_contact: bool
    low: float | None = None
    high: float | None = None
    points: str = ""
    rule: dict | None = None  # a fit or behaviour rule that would score this row, for "add as rule"

    @property
    def rule_json(self) -> str:
        return json.dumps(self.rule) if self.rule else ""

    @property
    def suggested_points(self) -> int:
        return suggested_points(self.lift)

    def as_api(self) -> dict:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "leads": self.leads,
            "converted": self.converted,
            "rate": self.rate,
            "lift": self.lift,
            "small_sample": self.small_sample,
            "before_contact": self.before_contact,
        }


@dataclass
class LiftResult:
    outcome: Outcome
    window: Window
    leads: int
    converted: int
    rows: list[LiftRow]

    @property
    def overall(self) -> float | None:
        return self.converted / self.leads if self.leads else None

    @property
    def before_contact_rows(self) -> list[LiftRow]:
        return [r for r in self.rows if r.before_contact]

    @property
    def sales_rows(self) -> list[LiftRow]:
        return [r for r in self.rows if not r.before_contact]


def _histogram(base, path: str, conv) -> list[tuple[object, int, int]]:
    rows = base.values(v=F(path)).annotate(n=Count("pk"), c=Count("pk", filter=Q(conv=True))).order_by()
    return [(r["v"], r["n"], r["c"]) for r in rows]


def _histograms(base, wanted: list[Attribute]) -> list[list[tuple[object, int, int]]]:
    """The histograms of several attributes in one pass over the leads (PostgreSQL).

    Every lead's values become (attribute, value as text) pairs, grouped with the count of leads and
    of those that converted: one hash aggregate over a single scan of the window's leads, instead of
    one scan — and one "did it convert" probe per lead — for each attribute. The leads are a
    materialised CTE: inlined, PostgreSQL would run the conversion probe once per pair, not per
    lead. Values stored in the ``attributes`` JSON come back as JSON text and are decoded here.
    """
    names = {f"a{i}": F(attr.path) for i, attr in enumerate(wanted)}
    leads = query(base.values("conv", **names).order_by())
    pairs = join(", ", (sql(f"({i}, b.a{i}::text)") for i in range(len(wanted))))
    rows = run(
        sql(
            """
            WITH b AS MATERIALIZED ({leads})
            SELECT x.s, x.v, count(*), count(*) FILTER (WHERE b.conv)
            FROM b CROSS JOIN LATERAL (VALUES {pairs}) AS x(s, v)
            GROUP BY 1, 2
            """,
            leads=leads,
            pairs=pairs,
        )
    )
    out: list[list[tuple[object, int, int]]] = [[] for _ in wanted]
    for slot, value, n, c in rows:
        if value is not None and "attributes__" in wanted[slot].path:
            value = json.loads(value)
        out[slot].append((value, n, c))
    return out


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        return float(Decimal(str(value)))
    except (ArithmeticError, ValueError):
        return None


def quantile_edges(histogram: Iterable[tuple[float, int]], bins: int = BINS) -> list[float]:
    """Upper bounds (inclusive) of up to ``bins`` bins holding about equal numbers of leads."""
    values = sorted(histogram)
    total = sum(n for _, n in values)
    if not total:
        return []
    edges: list[float] = []
    seen = 0
    target = 1
    for value, n in values:
        seen += n
        while target < bins and seen >= total * target / bins:
            if not edges or edges[-1] != value:
                edges.append(value)
            target += 1
    if not edges or edges[-1] != values[-1][0]:
        edges.append(values[-1][0])
    return edges


def _fmt(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.2f}".rstrip("0").rstrip(".")


def _bins(attr: Attribute, hist) -> list[tuple[str, float | None, float | None, int, int]]:
    known = [(_number(v), n, c) for v, n, c in hist]
    numbers = [(x, n, c) for x, n, c in known if x is not None]
    unknown_n = sum(n for x, n, _ in known if x is None)
    unknown_c = sum(c for x, _, c in known if x is None)
    out = []
    edges = quantile_edges([(x, n) for x, n, _ in numbers])
    counts = [[0, 0] for _ in edges]
    for x, n, c in numbers:
        i = bisect_left(edges, x)  # the first inclusive upper bound >= x
        counts[i][0] += n
        counts[i][1] += c
    low = min((x for x, _, _ in numbers), default=None)
    for i, edge in enumerate(edges):
        lo = low if i == 0 else _next_above(numbers, edges[i - 1])
        if not counts[i][0]:
            continue
        label = f"{_fmt(lo)}–{_fmt(edge)}" if lo != edge else _fmt(edge)
        out.append((label, lo, edge, counts[i][0], counts[i][1]))
    if unknown_n:
        out.append((UNKNOWN, None, None, unknown_n, unknown_c))
    return out


def _next_above(numbers, edge: float) -> float:
    return min(x for x, _, _ in numbers if x > edge)


def _points(spec: dict | None, field_name: str, value) -> str:
    if not spec:
        return ""
    total = sum(
        r["points"] for r in spec.get("fit_rules", []) if r.get("field") == field_name and condition_matches(r, value)
    )
    return f"{total:+d}"


def lift(
    *,
    window: Window,
    outcome: Outcome,
    spec: dict | None = None,
    now: dt.datetime | None = None,
    keys=None,
    progress=None,
    dictionary: Dictionary | None = None,
) -> LiftResult:
    """Rows of every attribute value (and activity kind) of the window's leads, best lift first per
    attribute, named by ``dictionary`` (the organisation's, read here when not given);
    ``progress(done, total)`` hears of each finished pass."""
    now = now or timezone.now()
    dictionary = dictionary or load_dictionary()
    base = window_leads(window, now=now).annotate(
        conv=m.ExpressionWrapper(converted_condition(outcome), output_field=m.BooleanField())
    )
    wanted = [a for a in attributes(dictionary) if keys is None or a.key in keys]

    def totals():
        return base.aggregate(n=Count("pk"), c=Count("pk", filter=Q(conv=True)))

    def one(attr: Attribute):
        return lambda: [_histogram(base, attr.path, conv=True)]

    def several(group: list[Attribute]):
        return lambda: _histograms(base, group)

    if connection.vendor == "postgresql" and wanted:
        half = (len(wanted) + 1) // 2
        passes = [several(wanted[:half])] + ([several(wanted[half:])] if wanted[half:] else [])
    else:
        passes = [one(a) for a in wanted]

    def kinds():
        converted_ids = Lead.objects.filter(pk=OuterRef("lead_id")).filter(converted_condition(outcome))
        return list(
            Activity.objects.filter(lead__in=window_leads(window, now=now), occurred_at__lte=now)
            .values("kind")
            .annotate(
                n=Count("lead_id", distinct=True), c=Count("lead_id", distinct=True, filter=Q(Exists(converted_ids)))
            )
            .order_by()
            .values_list("kind", "n", "c")
        )

    done = run_side_by_side(totals, kinds, *passes, progress=progress)
    total, kind_rows = done[0], done[1]
    histograms = [hist for part in done[2:] for hist in part]
    n_all, c_all = total["n"] or 0, total["c"] or 0
    overall = c_all / n_all if n_all else 0.0
    persona_names = _persona_names()
    rows: list[LiftRow] = []

    def add(attr_key, attr_label, value, label, n, c, before, low=None, high=None, points="", rule=None):
        rate = c / n if n else 0.0
        rows.append(
            LiftRow(
                attribute=attr_key,
                attribute_label=attr_label,
                value=str(value),
                label=label,
                leads=n,
                converted=c,
                rate=rate,
                lift=(rate / overall) if overall else None,
                small_sample=n < SMALL_SAMPLE,
                before_contact=before,
                low=low,
                high=high,
                points=points,
                rule=rule,
            )
        )

    for attr, hist in zip(wanted, histograms, strict=True):
        rule_field = attr.rule_field or attr.key
        if attr.kind == "number":
            for label, lo, hi, n, c in _bins(attr, hist):
                rule = (
                    {"field": rule_field, "operator": "between", "values": [lo, hi], "points": 0}
                    if lo is not None
                    else None
                )
                add(attr.key, attr.label, label, f"{attr.label} {label}", n, c, attr.before_contact, lo, hi, rule=rule)
            continue
        merged: dict[str, list[int]] = {}
        for v, n, c in hist:
            if attr.kind == "multi_choice" and isinstance(v, list) and v:
                keys = {str(item) for item in v}  # a lead counts once under each of its values
            else:
                keys = {UNKNOWN if v in (None, "", []) else ("yes" if v is True else "no" if v is False else str(v))}
            for key in keys:
                slot = merged.setdefault(key, [0, 0])
                slot[0] += n
                slot[1] += c
        for value, (n, c) in merged.items():
            if value == UNKNOWN:
                label, rule = UNKNOWN, None
            elif attr.key == "persona":
                label = persona_names.get(int(value), f"Persona {value}")
                rule = {"field": "persona", "operator": "in", "values": [int(value)], "points": 0}
            elif attr.kind == "yes_no":
                label = "Yes" if value == "yes" else "No"
                rule = {
                    "field": rule_field,
                    "operator": "is_true" if value == "yes" else "is_false",
                    "values": [],
                    "points": 0,
                }
            else:
                label = attr.labels.get(value, value)
                operator = "has_any" if attr.kind == "multi_choice" else "in"
                rule = {"field": rule_field, "operator": operator, "values": [value], "points": 0}
            points = _points(spec, rule_field, int(value) if attr.key == "persona" and value != UNKNOWN else value)
            add(attr.key, attr.label, value, label, n, c, attr.before_contact, points=points, rule=rule)

    for kind, n, c in sorted(kind_rows):
        # Archived kinds keep their label: old activities still carry them.
        label = dictionary.kind_label(kind) if kind in dictionary.kinds else kind.replace("_", " ").capitalize()
        scored = [r for r in (spec or {}).get("behaviour_rules", []) if r.get("kind") == kind]
        points = ", ".join(f"{r['points']:+d} each" for r in scored) if spec else ""
        rule = {"kind": kind, "points": 0, "cap": None, "window_days": 90}
        add(f"activity:{kind}", "Activity", "had_it", f"{label}: had it", n, c, True, points=points, rule=rule)
        add(f"activity:{kind}", "Activity", "did_not", f"{label}: did not", n_all - n, c_all - c, True)

    order = {a.key: i for i, a in enumerate(wanted)}
    rows.sort(key=lambda r: (order.get(r.attribute, len(order)), r.small_sample, -(r.lift or 0), -r.leads))
    return LiftResult(outcome=outcome, window=window, leads=n_all, converted=c_all, rows=rows)


def _persona_names() -> dict[int, str]:
    from alignment.models import Persona

    return dict(Persona.objects.values_list("pk", "name"))


def suggested_points(row_lift: float | None) -> int:
    """A starting point for a rule from its lift: 10 points per doubling of the odds, within ±30."""
    if not row_lift or row_lift <= 0:
        return -10
    return max(-30, min(30, round(10 * math.log2(row_lift))))


def _next_rule_id(spec: dict, prefix: str) -> str:
    taken = {r.get("id") for section in ("fit_rules", "behaviour_rules", "knockouts") for r in spec.get(section, [])}
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def suggestion_rule_add(*, version, user, rule: dict, points: int, note: str = ""):
    """Append ``rule`` (from a suggestion row) with ``points`` to the open draft ``version``.

    Goes through the agreement's own save, so validation, revisions, merge and the voiding of
    signatures apply as to any edit; ``note`` (the row's evidence) is kept on the revision.
    """
    from alignment.services import draft_save

    spec = copy.deepcopy(version.spec)
    new = {k: v for k, v in rule.items() if k not in ("id", "points")}
    if "kind" in new:
        new = {"kind": new["kind"], "cap": new.get("cap"), "window_days": new.get("window_days") or 90}
        new.update({"id": _next_rule_id(spec, "b"), "points": points, "half_life_days": None})
        spec.setdefault("behaviour_rules", []).append(new)
    else:
        new = {"id": _next_rule_id(spec, "f"), **new, "points": points}
        spec.setdefault("fit_rules", []).append(new)
    return draft_save(version=version, user=user, spec=spec, base_revision=version.revision, note=note)
