"""Proposals from outcomes: an explainable integer-points scorecard in the agreement's own format.

From the leads created between two dates whose outcome is known, a regularised logistic regression
(scikit-learn) learns which attribute values and activities went with conversion: choice values
one-hot, numbers in quantile bins, each activity kind as a capped count within the behaviour
window, every lead judged as of its 14th day like the Evidence panel (``backtest.as_of``). The
coefficients become integer points (10 points per doubling of the odds, like the suggestions);
values whose points are close are grouped into one rule, values no different from an unknown one
get no rule, and the strongest rules (at most ``max_rules``) are fitted again on their own so that
their points hold together. The threshold meets marketing's monthly MQL quota (or a target
conversion rate); grade bands cut the fit points into A–D.

The model card says how good the proposal is without flattering it: its AUC is cross-validated
(k folds, the whole procedure — binning, grouping, choice of rules, rounding — repeated on each
training part and scored on the held-out part), never the in-sample figure. Deterministic for a
given seed.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.db import models as m
from django.db.models import Count, Exists, F, OuterRef, Q, Value
from django.db.models.functions import Least
from django.utils import timezone
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from alignment import spec as vocab
from alignment.dictionary import Dictionary, load_dictionary
from alignment.validation import validate_spec
from leads.models import Activity, Stage, Transition
from leads.scoring.backtest import AS_OF_DAYS, as_of, run_side_by_side
from leads.scoring.evidence import CURVE_POINTS, DAYS_PER_MONTH, MIN_SPAN_DAYS, Window, window_leads
from leads.scoring.lift import attributes, quantile_edges
from leads.scoring.outcomes import Outcome, converted_condition
from leads.scoring.scorer import annotate_scores

__all__ = [
    "FOLDS",
    "OUTCOME_DAYS",
    "MAX_RULES",
    "MIN_CONVERSIONS",
    "MIN_LEADS",
    "Candidate",
    "NotEnoughData",
    "Proposal",
    "ProposalRequest",
    "candidates",
    "population",
    "propose",
    "rule_scores",
]

MIN_LEADS = 500
MIN_CONVERSIONS = 50
MAX_RULES = 15
FOLDS = 5
POINTS_PER_DOUBLING = 10
FACTOR = POINTS_PER_DOUBLING / math.log(2)  # points per unit of log-odds
WINDOW_DAYS = 90  # the behaviour rules' window, counted back from each lead's 14th day
OUTCOME_DAYS = 90  # an open lead younger than this has no known outcome yet
MIN_KNOWN = 30  # leads with a known value (or who had the activity) before an attribute is fitted
MIN_LEVEL = 20  # leads a value needs for points of its own; rarer values share "other"
GROUP_TOLERANCE = 4  # values whose points differ by at most this share one rule
MIN_Z = 2.0  # a rule's difference from the unknown/baseline must be this many standard errors
MAX_PER_OCCURRENCE = 5  # the most occurrences of one activity kind a rule counts (its cap)
REGULARISATION = 1.0  # scikit-learn's C: inverse strength of the L2 penalty
GRADE_SHARES = (0.15, 0.40, 0.70)  # leads at or above the A, B and C cuts of the fit points
CLOSED_STAGES = (Stage.WON, Stage.LOST, Stage.REJECTED, Stage.DISQUALIFIED)
PROPOSAL_SECTIONS = ("fit_rules", "behaviour_rules", "knockouts", "mql_threshold", "grade_bands")
ACTIVITY_PREFIX = "activity:"
LEAKS = "filled in by sales after the first contact: it would leak the outcome"
MULTIPLE = (
    "multiple choice (a lead may hold several values): the Suggestions panel shows each value's lift, "
    "and adds has-any rules from there"
)


class NotEnoughData(ValueError):
    """Too few leads or conversions to fit anything but noise; the message says what is missing."""

    def __init__(self, message: str, *, leads: int, conversions: int):
        self.leads, self.conversions = leads, conversions
        super().__init__(message)


@dataclass(frozen=True)
class Candidate:
    """An attribute or activity kind the fit may use."""

    key: str  # attribute key, or activity:<kind>
    label: str
    kind: str  # choice, number, yes_no, activity
    before_contact: bool = True
    path: str = ""  # ORM path from Lead (attributes)
    rule_field: str = ""  # the spec's field (attributes)
    activity_kind: str = ""
    labels: dict = field(default_factory=dict, hash=False, compare=False)


def candidates(dictionary: Dictionary | None = None) -> list[Candidate]:
    """Every attribute (built-in and the organisation's own) and every live activity kind, named by
    the data dictionary."""
    dictionary = dictionary or load_dictionary()
    out = [
        Candidate(
            key=a.key,
            label=a.label,
            kind=a.kind,
            before_contact=a.before_contact,
            path=a.path,
            rule_field=a.rule_field or a.key,
            labels=a.labels,
        )
        for a in attributes(dictionary)
    ]
    out += [
        Candidate(key=f"{ACTIVITY_PREFIX}{k.key}", label=k.label, kind="activity", activity_kind=k.key)
        for k in dictionary.live_kinds()
    ]
    return out


@dataclass(frozen=True)
class ProposalRequest:
    """What to fit: the population, what converted means, what to consider, how to set the bar."""

    outcome: Outcome
    window: Window = Window()
    keys: tuple[str, ...] | None = None  # None: everything known before first contact
    max_rules: int = MAX_RULES
    quota: int | None = None  # MQLs a month marketing promised (the SLA terms)
    target_rate: float | None = None  # or: the conversion rate MQLs should reach
    seed: int = 0

    def as_json(self) -> dict:
        return {
            "outcome": self.outcome.code,
            "created_from": self.window.created_from.isoformat() if self.window.created_from else None,
            "created_to": self.window.created_to.isoformat() if self.window.created_to else None,
            "attributes": list(self.keys) if self.keys is not None else None,
            "max_rules": self.max_rules,
            "quota": self.quota,
            "target_rate": self.target_rate,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: dict) -> ProposalRequest:
        from leads.scoring.outcomes import parse_outcome

        def day(raw):
            return dt.date.fromisoformat(raw) if raw else None

        keys = data.get("attributes")
        return cls(
            outcome=parse_outcome(data.get("outcome")),
            window=Window(created_from=day(data.get("created_from")), created_to=day(data.get("created_to"))),
            keys=tuple(keys) if keys is not None else None,
            max_rules=int(data.get("max_rules") or MAX_RULES),
            quota=data.get("quota"),
            target_rate=data.get("target_rate"),
            seed=int(data.get("seed") or 0),
        )


# --- The population and its data ---------------------------------------------------------------


def population(*, window: Window, outcome: Outcome, now: dt.datetime):
    """The window's leads whose outcome is known: converted, closed, imported with their history,
    or old enough (an open lead younger than ``OUTCOME_DAYS`` may still convert)."""
    historical = Exists(Transition.objects.filter(lead_id=OuterRef("pk"), historical=True))
    known = (
        Q(converted_condition(outcome))
        | Q(stage__in=CLOSED_STAGES)
        | Q(historical)
        | Q(created_at__lte=now - dt.timedelta(days=OUTCOME_DAYS))
    )
    return window_leads(window, now=now).filter(known)


@dataclass
class Column:
    """One attribute's values over the population, as codes into its distinct values (compared
    lower-case, like the scorer) so that rules and counts work on a few values, not on every lead."""

    codes: np.ndarray  # index into the distinct values, per lead
    values: list  # a stored value for each distinct one (None: unknown)
    text: np.ndarray  # lower-case text of each distinct value ("" for unknown)
    number: np.ndarray  # per lead: the value as a number (nan when unknown or not a number)

    @property
    def known_values(self) -> np.ndarray:
        return np.array([v is not None for v in self.values], dtype=bool)

    @property
    def known(self) -> np.ndarray:
        return self.known_values[self.codes]


@dataclass
class Data:
    ids: np.ndarray
    y: np.ndarray
    created: list[dt.datetime]
    columns: dict[str, Column]  # by the spec's field name
    counts: dict[str, np.ndarray]  # activity kind → occurrences in the window as of day 14

    @property
    def span_days(self) -> int:
        if not self.created:
            return 0
        days = [timezone.localtime(c, dt.UTC).date() for c in (min(self.created), max(self.created))]
        return (days[1] - days[0]).days + 1


def _unknown(value) -> bool:
    return value is None or value == "" or value == []


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).lower()


def _as_number(value) -> float:
    if isinstance(value, bool) or _unknown(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _column(raw: list) -> Column:
    index: dict[str | None, int] = {}
    values: list = []
    codes = np.empty(len(raw), dtype=np.int32)
    for i, value in enumerate(raw):
        key = None if _unknown(value) else _as_text(value)
        code = index.get(key)
        if code is None:
            code = index[key] = len(values)
            values.append(None if key is None else value)
        codes[i] = code
    text = np.array(["" if v is None else _as_text(v) for v in values], dtype=object)
    number = np.array([_as_number(v) for v in values], dtype=float)
    return Column(codes=codes, values=values, text=text, number=number[codes] if len(values) else number)


def _lead_window(window: Window, now: dt.datetime) -> Q:
    """``window_leads``' conditions, seen from an activity."""
    return Q(lead__in=window_leads(window, now=now).values("pk"))


def _activity_counts(window: Window, kinds: list[Candidate], now: dt.datetime):
    """(lead, kind, n) for activities within the behaviour window as of each lead's 14th day (and
    after a recycle): exactly what a behaviour rule counts when the Evidence panel judges the lead."""
    judged_at = Least(
        m.ExpressionWrapper(F("lead__created_at") + Value(dt.timedelta(days=AS_OF_DAYS)), m.DateTimeField()),
        Value(now, output_field=m.DateTimeField()),
        output_field=m.DateTimeField(),
    )
    since = m.ExpressionWrapper(F("occurred_at") + Value(dt.timedelta(days=WINDOW_DAYS)), m.DateTimeField())
    # The window's leads, not the population: PostgreSQL plans a semi-join against the
    # population's OR-ed conditions badly (seconds at a few thousand leads); leads outside the
    # population are skipped when the counts are placed.
    return list(
        Activity.objects.filter(_lead_window(window, now), kind__in=[c.activity_kind for c in kinds])
        .annotate(judged_at=judged_at, since=since)
        .filter(occurred_at__lte=F("judged_at"), since__gt=F("judged_at"))
        .filter(Q(lead__recycled_at__isnull=True) | Q(occurred_at__gt=F("lead__recycled_at")))
        .values("lead_id", "kind")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("lead_id", "kind", "n")
    )


def load(
    queryset,
    fit: list[Candidate],
    kinds: list[Candidate],
    outcome: Outcome,
    now: dt.datetime,
    *,
    window: Window,
) -> Data:
    """The population's outcomes and attribute values, and its activity counts: two reads, side by side."""
    paths = [c.path for c in fit]

    def leads():
        return list(
            queryset.annotate(conv=m.ExpressionWrapper(converted_condition(outcome), output_field=m.BooleanField()))
            .order_by("pk")
            .values_list("pk", "created_at", "conv", *paths)
        )

    def activities():
        return _activity_counts(window, kinds, now) if kinds else []

    rows, counted = run_side_by_side(leads, activities)
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    data = Data(
        ids=ids,
        y=np.array([bool(r[2]) for r in rows], dtype=np.int8),
        created=[r[1] for r in rows],
        columns={c.rule_field: _column([r[3 + i] for r in rows]) for i, c in enumerate(fit)},
        counts={c.activity_kind: np.zeros(len(rows), dtype=np.int32) for c in kinds},
    )
    by_kind: dict[str, list[tuple[int, int]]] = {}
    for lead_id, kind, n in counted:
        by_kind.setdefault(kind, []).append((lead_id, n))
    for kind, pairs in by_kind.items():
        if not len(ids):
            break
        lead_ids, counts = np.array(pairs, dtype=np.int64).T
        at = np.minimum(np.searchsorted(ids, lead_ids), len(ids) - 1)
        inside = ids[at] == lead_ids
        data.counts[kind][at[inside]] = counts[inside]
    return data


# --- Rules evaluated on the columns (the scorer's semantics, vectorised) --------------------------


def rule_mask(rule: dict, column: Column) -> np.ndarray:
    """Leads a fit rule fires for (``alignment.spec`` semantics: unknown satisfies only ``unknown``)."""
    operator, values = rule["operator"], rule.get("values") or []
    known = column.known_values
    if operator == "known":
        return known[column.codes]
    if operator == "unknown":
        return ~known[column.codes]
    if operator in ("in", "not_in"):
        member = np.isin(column.text, [str(v).lower() for v in values])
        return (known & (member if operator == "in" else ~member))[column.codes]
    if operator in ("is_true", "is_false"):
        return (column.text == ("yes" if operator == "is_true" else "no"))[column.codes]
    with np.errstate(invalid="ignore"):
        if operator == "between":
            return (column.number >= values[0]) & (column.number <= values[1])
        if operator == "gte":
            return column.number >= values[0]
        if operator == "lte":
            return column.number <= values[0]
    raise ValueError(f"operator {operator!r} is not used by proposals")


def rule_scores(spec: dict, data: Data) -> tuple[np.ndarray, np.ndarray]:
    """(fit, total) points of every lead under a proposal's rules."""
    fit = np.zeros(len(data.ids), dtype=np.int64)
    for rule in spec["fit_rules"]:
        fit += rule["points"] * rule_mask(rule, data.columns[rule["field"]])
    total = fit.copy()
    for rule in spec["behaviour_rules"]:
        cap = abs(rule["cap"]) if rule.get("cap") is not None else None
        raw = rule["points"] * data.counts[rule["kind"]].astype(np.int64)
        total += np.clip(raw, -cap, cap) if cap is not None else raw
    return fit, total


# --- One fit: levels → points → grouped rules → the strongest refitted ----------------------------


@dataclass
class Level:
    label: str
    values: list  # raw values (choice), or (low, high) of a bin
    count: int
    unknown: bool = False


@dataclass
class Coding:
    candidate: Candidate
    levels: list[Level]
    codes: np.ndarray  # level index per lead (-1: a value the training part never saw)
    cap: int = 1  # activities: occurrences counted


@dataclass
class Rule:
    candidate: Candidate
    spec: dict  # the rule in the agreement's format, without id
    feature: np.ndarray  # 0/1 (fit) or capped count (behaviour) per lead
    importance: float = 0.0


def _choice_coding(cand: Candidate, column: Column, rows: np.ndarray) -> Coding | None:
    counts = np.bincount(column.codes[rows], minlength=len(column.values))
    known = column.known_values
    if counts[known].sum() < MIN_KNOWN or (counts[known] > 0).sum() < 2:
        return None
    levels: list[Level] = []
    level_of = np.full(len(column.values), -1, dtype=np.int32)
    other = []
    for code in sorted(np.flatnonzero(known & (counts > 0)), key=lambda c: (-counts[c], column.text[c])):
        if counts[code] >= MIN_LEVEL:
            level_of[code] = len(levels)
            levels.append(Level(label=str(column.values[code]), values=[column.values[code]], count=int(counts[code])))
        else:
            other.append(code)
    if other:
        level_of[other] = len(levels)
        raw = sorted((column.values[c] for c in other), key=str)
        levels.append(Level(label="other", values=raw, count=int(counts[other].sum())))
    level_of[~known] = len(levels)
    levels.append(Level(label="unknown", values=[], count=int(counts[~known].sum()), unknown=True))
    return Coding(cand, levels, level_of[column.codes])


def _number_coding(cand: Candidate, column: Column, rows: np.ndarray) -> Coding | None:
    known_rows = rows[~np.isnan(column.number[rows])]
    if len(known_rows) < MIN_KNOWN:
        return None
    values, counts = np.unique(column.number[known_rows], return_counts=True)
    if len(values) < 2:
        return None
    edges = quantile_edges(list(zip(values.tolist(), counts.tolist(), strict=True)))
    is_int = bool(np.all(np.mod(values, 1) == 0))
    levels = []
    for i, edge in enumerate(edges):
        low = float(values[0]) if i == 0 else float(values[values > edges[i - 1]][0])
        if is_int:
            low, high = int(low), int(edge)
        else:
            high = float(edge)
        n = int(counts[(values >= low) & (values <= high)].sum())
        levels.append(Level(label=f"{low}–{high}", values=[low, high], count=n))
    unknown_index = len(levels)
    levels.append(Level(label="unknown", values=[], count=int(len(rows) - len(known_rows)), unknown=True))
    codes = np.full(len(column.codes), unknown_index, dtype=np.int32)
    has = ~np.isnan(column.number)
    codes[has] = np.minimum(
        np.searchsorted(np.array(edges, dtype=float), column.number[has], side="left"), len(edges) - 1
    )
    return Coding(cand, levels, codes)


def _activity_coding(cand: Candidate, counts: np.ndarray, rows: np.ndarray) -> Coding | None:
    had = counts[rows] > 0
    if had.sum() < MIN_KNOWN or (~had).sum() < MIN_KNOWN:
        return None
    positive = counts[rows][had]
    cap = int(min(MAX_PER_OCCURRENCE, max(1, math.ceil(float(np.percentile(positive, 75))))))
    return Coding(cand, [], np.minimum(counts, cap).astype(np.int32), cap=cap)


def _design(codings: list[Coding], rows: np.ndarray) -> tuple[sparse.csr_matrix, list[tuple[int, int]]]:
    """One-hot levels and capped counts for the rows, with each coding's column span."""
    blocks, spans, start = [], [], 0
    n = len(rows)
    for coding in codings:
        if coding.levels:
            codes = coding.codes[rows]
            keep = codes >= 0
            width = len(coding.levels)
            block = sparse.csr_matrix((np.ones(int(keep.sum())), (np.flatnonzero(keep), codes[keep])), shape=(n, width))
        else:
            width = 1
            block = sparse.csr_matrix(coding.codes[rows].astype(float).reshape(-1, 1))
        blocks.append(block)
        spans.append((start, start + width))
        start += width
    return sparse.hstack(blocks, format="csr"), spans


def _logistic(x, y) -> LogisticRegression:
    model = LogisticRegression(C=REGULARISATION, max_iter=500)
    return model.fit(x, y)


def _z(mask: np.ndarray, base: np.ndarray, y: np.ndarray, diff: float) -> float:
    """The difference ``diff`` (log-odds) over its standard error, from the two groups' counts."""
    n1, c1 = int(mask.sum()), int(y[mask].sum())
    n0, c0 = int(base.sum()), int(y[base].sum())
    cells = [c1, n1 - c1, c0, n0 - c0]
    se = math.sqrt(sum(1 / (c + 0.5) for c in cells))
    return abs(diff) / se


def _groups(levels: list[Level], points: np.ndarray, ordered: bool) -> list[list[int]]:
    """Levels whose points are within ``GROUP_TOLERANCE`` of the group's first, in point order
    (choices) or in value order, adjacent bins only (numbers: a rule states a range)."""
    order = [i for i in range(len(levels)) if not levels[i].unknown]
    if not ordered:
        order.sort(key=lambda i: points[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and abs(points[i] - points[groups[-1][0]]) <= GROUP_TOLERANCE:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _fit_rules(coding: Coding, column: Column, points: np.ndarray, rows: np.ndarray, y: np.ndarray) -> list[Rule]:
    """The rules of one attribute: each group of levels that differs from the baseline."""
    cand, levels = coding.candidate, coding.levels
    unknown = next(i for i, lv in enumerate(levels) if lv.unknown)
    number = cand.kind == "number"
    groups = _groups(levels, points, ordered=number)
    known_levels = [i for i in range(len(levels)) if not levels[i].unknown]

    def weight(group):
        counts = np.array([levels[i].count for i in group], dtype=float)
        return float(np.average(points[group], weights=counts)) if counts.sum() else float(points[group[0]])

    # Unknown values get 0 points (the spec never lets them match a value); without enough of
    # them to learn from, the largest group is the baseline instead.
    if levels[unknown].count >= MIN_LEVEL:
        base_points = float(points[unknown])
        base_mask = coding.codes[rows] == unknown
    else:
        largest = max(groups, key=lambda g: sum(levels[i].count for i in g))
        base_points = weight(largest)
        base_mask = np.isin(coding.codes[rows], largest)
        groups = [g for g in groups if g is not largest]
    out = []
    for group in groups:
        diff = weight(group) - base_points
        if abs(diff) < GROUP_TOLERANCE / 2:
            continue
        if set(group) == set(known_levels):
            spec = {"field": cand.rule_field, "operator": "known", "values": []}
        elif number:
            low, high = levels[group[0]].values[0], levels[group[-1]].values[1]
            if group[0] == known_levels[0]:
                spec = {"field": cand.rule_field, "operator": "lte", "values": [high]}
            elif group[-1] == known_levels[-1]:
                spec = {"field": cand.rule_field, "operator": "gte", "values": [low]}
            else:
                spec = {"field": cand.rule_field, "operator": "between", "values": [low, high]}
        elif cand.kind == "yes_no":
            if len(group) != 1:
                continue
            value = levels[group[0]].values[0]
            spec = {"field": cand.rule_field, "operator": "is_true" if value is True else "is_false", "values": []}
        else:
            values = [v for i in group for v in levels[i].values]
            spec = {"field": cand.rule_field, "operator": "in", "values": sorted(values, key=str)}
        mask = rule_mask(spec, column)
        if _z(mask[rows], base_mask, y, diff / FACTOR) < MIN_Z:
            continue
        out.append(Rule(cand, spec, mask.astype(float)))
    return out


def _behaviour_rule(coding: Coding, beta: float, rows: np.ndarray, y: np.ndarray) -> Rule | None:
    had = coding.codes > 0
    if _z(had[rows], ~had[rows], y, beta * coding.cap) < MIN_Z:
        return None
    spec = {"kind": coding.candidate.activity_kind, "cap_occurrences": coding.cap, "window_days": WINDOW_DAYS}
    return Rule(coding.candidate, spec, coding.codes.astype(float))


def _expressible(rule: Rule, persona_ids: list[int], dictionary=None) -> str:
    """Why the agreement could not state this rule ("" when it can), from the agreement's own checks."""
    probe = vocab.default_spec()
    if "kind" in rule.spec:
        probe["behaviour_rules"] = [
            {
                "id": "b",
                "kind": rule.spec["kind"],
                "points": 1,
                "cap": None,
                "window_days": WINDOW_DAYS,
                "half_life_days": None,
            }
        ]
        probe["fit_rules"] = []
    else:
        probe["fit_rules"] = [{"id": "f", **rule.spec, "points": 1}]
    errors = validate_spec(probe, persona_ids=persona_ids, dictionary=dictionary)
    found = [msg for path, msgs in errors.items() if path.startswith(("fit_rules", "behaviour_rules")) for msg in msgs]
    return found[0] if found else ""


@dataclass
class Fit:
    rules: list[tuple[Rule, int]]  # rule and its integer points (per occurrence for behaviour)
    intercept: float
    why: dict[str, str]  # candidate key → why it has no rule


def fit_once(
    data: Data, rows: np.ndarray, considered: list[Candidate], max_rules: int, persona_ids: list[int], dictionary=None
) -> Fit:
    """The whole procedure on ``rows``: coding, the full fit, grouping, choosing, refitting, rounding."""
    y = data.y[rows]
    why: dict[str, str] = {}
    codings: list[Coding] = []
    for cand in considered:
        if cand.kind == "activity":
            coding = _activity_coding(cand, data.counts[cand.activity_kind], rows)
            if coding is None:
                why[cand.key] = f"fewer than {MIN_KNOWN} leads had it (or did not)"
        else:
            column = data.columns[cand.rule_field]
            make = _number_coding if cand.kind == "number" else _choice_coding
            coding = make(cand, column, rows)
            if coding is None:
                why[cand.key] = f"known for fewer than {MIN_KNOWN} leads, or one value for all"
        if coding is not None:
            codings.append(coding)
    if not codings:
        return Fit([], 0.0, why)
    x, spans = _design(codings, rows)
    model = _logistic(x, y)
    beta = model.coef_[0]
    found: list[Rule] = []
    for coding, (start, end) in zip(codings, spans, strict=True):
        if coding.levels:
            rules = _fit_rules(coding, data.columns[coding.candidate.rule_field], beta[start:end] * FACTOR, rows, y)
        else:
            rule = _behaviour_rule(coding, float(beta[start]), rows, y)
            rules = [rule] if rule else []
        kept = []
        for rule in rules:
            problem = _expressible(rule, persona_ids, dictionary)
            if problem:
                why[coding.candidate.key] = f"the agreement cannot state it: {problem}"
            else:
                kept.append(rule)
        if not kept:
            why.setdefault(coding.candidate.key, "no value differs from the rest clearly enough")
        found += kept
    if found:
        _rank(found, rows, y)
    found.sort(key=lambda r: -r.importance)
    for rule in found[max_rules:]:
        why.setdefault(rule.candidate.key, f"weaker than the {max_rules} rules kept")
    chosen = found[:max_rules]
    return _refit(chosen, rows, y, why)


def _rank(rules: list[Rule], rows, y) -> None:
    """How much each rule moves scores, fitted together: |log-odds| times the spread of its feature."""
    beta = _logistic(np.column_stack([r.feature[rows] for r in rules]), y).coef_[0]
    for rule, b in zip(rules, beta, strict=True):
        rule.importance = abs(float(b)) * float(np.std(rule.feature[rows]))


def _refit(chosen: list[Rule], rows, y, why: dict[str, str]) -> Fit:
    """Points of the chosen rules fitted together; rules worth 0 points are dropped and the rest refitted."""
    while chosen:
        model = _logistic(np.column_stack([r.feature[rows] for r in chosen]), y)
        points = [round(b * FACTOR) for b in model.coef_[0]]
        zero = [r for r, p in zip(chosen, points, strict=True) if p == 0]
        if not zero:
            break
        for rule in zero:
            why.setdefault(rule.candidate.key, "adds nothing once the other rules are counted")
        chosen = [r for r, p in zip(chosen, points, strict=True) if p != 0]
    if not chosen:
        return Fit([], 0.0, why)
    used = {r.candidate.key for r in chosen}
    for key in used:
        why.pop(key, None)
    return Fit(list(zip(chosen, points, strict=True)), float(model.intercept_[0]), why)


def spec_of(fit: Fit) -> dict:
    """The fitted rules in the agreement's format, with ids f1…, b1…."""
    fit_rules, behaviour = [], []
    for rule, points in fit.rules:
        if "kind" in rule.spec:
            occurrences = rule.spec["cap_occurrences"]
            behaviour.append(
                {
                    "id": f"b{len(behaviour) + 1}",
                    "kind": rule.spec["kind"],
                    "points": points,
                    "cap": abs(points) * occurrences,
                    "window_days": rule.spec["window_days"],
                    "half_life_days": None,
                }
            )
        else:
            fit_rules.append({"id": f"f{len(fit_rules) + 1}", **rule.spec, "points": points})
    return {"fit_rules": fit_rules, "behaviour_rules": behaviour, "knockouts": []}


# --- Threshold, grades, figures -------------------------------------------------------------------


def _ranking(scores: np.ndarray, y: np.ndarray) -> list[tuple[int, int, int]]:
    """(score, leads, converted) for each distinct score, highest first."""
    values, inverse = np.unique(scores, return_inverse=True)
    leads = np.bincount(inverse, minlength=len(values))
    conv = np.bincount(inverse, weights=y, minlength=len(values)).astype(int)
    return [(int(values[i]), int(leads[i]), int(conv[i])) for i in range(len(values) - 1, -1, -1)]


def curve(scores: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """(share of leads flagged, share of conversions captured), ranking leads by score."""
    n, k = len(scores), int(y.sum())
    if not n or not k:
        return []
    points, flagged, captured = [[0.0, 0.0]], 0, 0
    for _, leads, conv in _ranking(scores, y):
        flagged += leads
        captured += conv
        points.append([round(flagged / n, 4), round(captured / k, 4)])
    if len(points) > CURVE_POINTS:
        step = (len(points) - 1) / (CURVE_POINTS - 1)
        points = [points[round(i * step)] for i in range(CURVE_POINTS)]
    return points


def per_month(count: int, span_days: int) -> float | None:
    return None if span_days < MIN_SPAN_DAYS else count * DAYS_PER_MONTH / span_days


def choose_threshold(
    scores: np.ndarray, y: np.ndarray, *, span_days: int, quota: int | None, target_rate: float | None
) -> tuple[int, str]:
    """The MQL threshold and a sentence saying how it was chosen."""
    ranking = _ranking(scores, y)
    cumulative, flagged, conv = [], 0, 0
    for score, leads, c in ranking:
        flagged += leads
        conv += c
        cumulative.append((score, flagged, conv))
    n = len(scores)
    if target_rate:
        meeting = [t for t, f, c in cumulative if c / f >= target_rate]
        if meeting:
            return _at_least_one(min(meeting), f"the lowest bar at which MQLs convert at {target_rate:.0%} or more")
        best = max(cumulative, key=lambda row: row[2] / row[1])
        return _at_least_one(best[0], f"no bar reaches {target_rate:.0%}; this one converts best")
    if quota and span_days >= MIN_SPAN_DAYS:
        meeting = [t for t, f, _ in cumulative if per_month(f, span_days) >= quota]
        if meeting:
            return _at_least_one(max(meeting), f"the highest bar that still delivers {quota:,} MQLs a month")
        return _at_least_one(
            cumulative[-1][0], f"even every lead would give fewer than the quota of {quota:,} MQLs a month"
        )
    share = float(y.mean())
    closest = min(cumulative, key=lambda row: abs(row[1] / n - share))
    reason = "no monthly quota to meet" if not quota else f"the data span fewer than {MIN_SPAN_DAYS} days"
    return _at_least_one(closest[0], f"{reason}: flags about as many leads as converted ({share:.0%})")


def _at_least_one(threshold: int, why: str) -> tuple[int, str]:
    if threshold < 1:  # the agreement's threshold is at least 1
        return 1, f"{why} (raised to 1, the lowest threshold an agreement may have)"
    return threshold, why


def grade_bands(fit: np.ndarray) -> list[dict]:
    """A–D on the fit points: A for about the top 15 % of leads, B to 40 %, C to 70 %, D the rest."""
    ordered = np.sort(fit)[::-1]
    cuts = [int(ordered[max(0, math.ceil(share * len(ordered)) - 1)]) for share in GRADE_SHARES]
    for i in (1, 2):  # each band holds at least one score
        cuts[i] = min(cuts[i], cuts[i - 1] - 1)
    a, b, c = cuts
    return [
        {"grade": "A", "min": a, "max": None},
        {"grade": "B", "min": b, "max": a - 1},
        {"grade": "C", "min": c, "max": b - 1},
        {"grade": "D", "min": None, "max": c - 1},
    ]


def _grade_of(fit: np.ndarray, bands: list[dict]) -> np.ndarray:
    out = np.full(len(fit), "", dtype=object)
    for band in reversed(bands):
        low = -np.inf if band["min"] is None else band["min"]
        high = np.inf if band["max"] is None else band["max"]
        out[(fit >= low) & (fit <= high)] = band["grade"]
    return out


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    if y.min() == y.max():
        return None
    return float(roc_auc_score(y, scores))


def _percent(x: float) -> str:
    return f"{100 * x:.0f} %"


def _figures(label: str, scores, knocked, grades, threshold: int, y, span_days: int) -> dict:
    flagged = ~knocked & (scores >= threshold)
    n, k = len(y), int(y.sum())
    # Knocked-out leads are never flagged: they rank below every score.
    ranked = np.where(knocked, scores.min() - 1 if len(scores) else 0, scores)
    mqls, conv = int(flagged.sum()), int(y[flagged].sum())
    return {
        "label": label,
        "auc": _auc(y, ranked),
        "mql_threshold": threshold,
        "mqls": mqls,
        "converted": conv,
        "flagged": mqls / n if n else None,
        "captured": conv / k if k else None,
        "rate_inside": conv / mqls if mqls else None,
        "per_month": per_month(mqls, span_days),
        "curve": curve(ranked, y),
        "by_grade": [
            {
                "grade": g,
                "leads": int((grades == g).sum()),
                "actual": float(y[grades == g].mean()) if (grades == g).any() else None,
            }
            for g in vocab.GRADES
        ],
    }


def compare(spec: dict, label: str, queryset, data: Data, now: dt.datetime) -> Callable[[], dict]:
    """A pass giving an agreement's own figures on the same leads, judged as of their 14th day."""

    def work() -> dict:
        rows = list(
            annotate_scores(queryset.order_by(), spec, now=as_of(now)).values_list(
                "pk", "sc_total", "sc_knocked_out", "sc_grade"
            )
        )
        scores = np.zeros(len(data.ids), dtype=np.int64)
        knocked = np.zeros(len(data.ids), dtype=bool)
        grades = np.full(len(data.ids), "", dtype=object)
        if rows:
            at = np.searchsorted(data.ids, np.array([r[0] for r in rows], dtype=np.int64))
            scores[at] = [r[1] or 0 for r in rows]
            knocked[at] = [bool(r[2]) for r in rows]
            grades[at] = [r[3] for r in rows]
        threshold = int(spec.get("mql_threshold", 0))
        return _figures(label, scores, knocked, grades, threshold, data.y, data.span_days)

    return work


# --- The proposal --------------------------------------------------------------------------------


@dataclass
class Proposal:
    spec: dict  # fit_rules, behaviour_rules, knockouts, mql_threshold, grade_bands
    card: dict
    cv_auc: float | None
    leads: int
    conversions: int
    used: list[str]
    excluded: list[dict]

    def as_api(self) -> dict:
        return {
            "spec": self.spec,
            "cv_auc": self.cv_auc,
            "leads": self.leads,
            "conversions": self.conversions,
            "attributes_used": self.used,
            "attributes_excluded": self.excluded,
            "model_card": self.card,
        }


def _considered(request: ProposalRequest, dictionary: Dictionary) -> tuple[list[Candidate], dict[str, str], list[str]]:
    """The candidates to fit, why each other one is left out, and leakage warnings."""
    everything = candidates(dictionary)
    known = {c.key for c in everything}
    why: dict[str, str] = {}
    warnings: list[str] = []
    if request.keys is None:
        chosen = [c for c in everything if c.before_contact]
        for c in everything:
            if not c.before_contact:
                why[c.key] = LEAKS
    else:
        unknown = sorted(set(request.keys) - known)
        if unknown:
            raise ValueError(f"Unknown attribute{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
        chosen = [c for c in everything if c.key in request.keys]
        for c in everything:
            if c.key not in request.keys:
                why[c.key] = "not chosen" if c.before_contact else LEAKS
        leaky = [c.label for c in chosen if not c.before_contact]
        if leaky:
            warnings.append(
                f"{', '.join(leaky)} {'is' if len(leaky) == 1 else 'are'} filled in by sales after the first "
                "contact: rules on them describe the outcome rather than predict it, and score new leads "
                "before anyone has filled them in."
            )
    for c in chosen:
        if c.kind == "multi_choice":
            why[c.key] = MULTIPLE
    return [c for c in chosen if c.kind != "multi_choice"], why, warnings


def propose(
    request: ProposalRequest,
    *,
    draft_spec: dict | None = None,
    draft_label: str = "Draft",
    active_spec: dict | None = None,
    active_label: str = "Active",
    now: dt.datetime | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> Proposal:
    """Fit a scorecard to the population's outcomes; ``NotEnoughData`` below the minimum-data gate."""
    from alignment.models import Persona

    now = now or timezone.now()
    report = progress or (lambda pct, text: None)
    dictionary = load_dictionary()  # the labels, and the rules checked against the organisation's own vocabulary
    considered, why_out, warnings = _considered(request, dictionary)
    queryset = population(window=request.window, outcome=request.outcome, now=now)
    everyone = window_leads(request.window, now=now).count()
    fit_cands = [c for c in considered if c.kind != "activity"]
    kind_cands = [c for c in considered if c.kind == "activity"]
    report(5, "Reading the leads")
    data = load(queryset, fit_cands, kind_cands, request.outcome, now, window=request.window)
    report(25, "Read the leads and their activities")
    n, k = len(data.ids), int(data.y.sum())
    _gate(n, k)
    persona_ids = list(Persona.objects.active().values_list("pk", flat=True))
    max_rules = max(1, int(request.max_rules))

    # Cross-validation: the whole procedure on each training part, its integer scores on the rest.
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=request.seed)
    fold_auc, predicted = [], np.zeros(n)
    for i, (train, test) in enumerate(folds.split(np.zeros(n), data.y)):
        report(30 + 11 * i, f"Cross-validating: fold {i + 1} of {FOLDS}")
        fold = fit_once(data, train, considered, max_rules, persona_ids, dictionary)
        spec = spec_of(fold)
        _, total = rule_scores(spec, data)
        fold_auc.append(_auc(data.y[test], total[test]))
        predicted[test] = 1 / (1 + np.exp(-(fold.intercept + total[test] / FACTOR)))
    report(85, "Fitting the proposal on every lead")
    final = fit_once(data, np.arange(n), considered, max_rules, persona_ids, dictionary)
    spec = spec_of(final)
    fit_points, total = rule_scores(spec, data)
    quota = request.quota
    threshold, threshold_why = choose_threshold(
        total, data.y, span_days=data.span_days, quota=quota, target_rate=request.target_rate
    )
    bands = grade_bands(fit_points)
    spec.update({"mql_threshold": threshold, "grade_bands": bands})

    report(92, "Measuring the draft and the agreement in force on the same leads")
    grades = _grade_of(fit_points, bands)
    proposal_figures = _figures("Proposal", total, np.zeros(n, dtype=bool), grades, threshold, data.y, data.span_days)
    scores_known = [s for s in fold_auc if s is not None]
    cv_auc = round(float(np.mean(scores_known)), 4) if scores_known else None
    proposal_figures["auc"] = cv_auc
    for row in proposal_figures["by_grade"]:
        in_grade = grades == row["grade"]
        row["predicted"] = float(predicted[in_grade].mean()) if in_grade.any() else None
    passes = [
        compare(spec_, label, queryset, data, now)
        for spec_, label in ((draft_spec, draft_label), (active_spec, active_label))
        if spec_ is not None
    ]
    others = list(run_side_by_side(*passes)) if passes else []

    why = {**why_out, **final.why}
    labels = {c.key: c.label for c in candidates(dictionary)}
    used = sorted({rule.candidate.key for rule, _ in final.rules}, key=lambda key: list(labels).index(key))
    for key in used:
        why.pop(key, None)
    excluded = [{"attribute": key, "label": labels[key], "reason": why[key]} for key in labels if key in why]
    overall = k / n
    notes = {}
    for rule_spec, (rule, _) in zip(spec["fit_rules"] + spec["behaviour_rules"], _in_spec_order(final), strict=True):
        hit = rule.feature > 0
        hits = int(hit.sum())
        rate = float(data.y[hit].mean()) if hits else 0.0
        notes[rule_spec["id"]] = f"from data: {_percent(rate)} converted vs {_percent(overall)} overall, n = {hits:,}"
    first, last = (min(data.created), max(data.created)) if data.created else (None, None)
    card = {
        "method": (
            f"L2-regularised logistic regression (scikit-learn, C = {REGULARISATION}), {POINTS_PER_DOUBLING} "
            f"points per doubling of the odds; at most {max_rules} rules; seed {request.seed}"
        ),
        "request": request.as_json(),
        "outcome": request.outcome.code,
        "outcome_label": request.outcome.describe(),
        "window": request.window.describe(),
        "first_created": first.isoformat() if first else None,
        "last_created": last.isoformat() if last else None,
        "span_days": data.span_days,
        "leads": n,
        "conversions": k,
        "not_yet_known": everyone - n,
        "as_of_days": AS_OF_DAYS,
        "attributes_used": [{"attribute": key, "label": labels[key]} for key in used],
        "attributes_excluded": excluded,
        "cv_auc": cv_auc,
        "cv_auc_folds": [round(a, 4) if a is not None else None for a in fold_auc],
        "folds": FOLDS,
        "threshold": threshold,
        "threshold_why": threshold_why,
        "quota": quota,
        "proposal": proposal_figures,
        "compare": others,
        "rule_notes": notes,
        "warnings": warnings,
        "created_at": now.isoformat(),
    }
    report(100, "Done")
    return Proposal(
        spec={key: spec[key] for key in PROPOSAL_SECTIONS},
        card=card,
        cv_auc=cv_auc,
        leads=n,
        conversions=k,
        used=used,
        excluded=[{"attribute": e["attribute"], "reason": e["reason"]} for e in excluded],
    )


def _in_spec_order(fit: Fit) -> list[tuple[Rule, int]]:
    return [r for r in fit.rules if "kind" not in r[0].spec] + [r for r in fit.rules if "kind" in r[0].spec]


def _gate(leads: int, conversions: int) -> None:
    missing = []
    if leads < MIN_LEADS:
        missing.append(f"{MIN_LEADS - leads:,} more leads with a known outcome")
    if conversions < MIN_CONVERSIONS:
        missing.append(f"{MIN_CONVERSIONS - conversions:,} more conversions")
    if leads - conversions < MIN_CONVERSIONS:
        missing.append(f"{MIN_CONVERSIONS - (leads - conversions):,} more leads that did not convert")
    if missing:
        raise NotEnoughData(
            f"Not enough history to propose a definition: {leads:,} leads with a known outcome, of which "
            f"{conversions:,} converted. A proposal needs at least {MIN_LEADS:,} leads and {MIN_CONVERSIONS} "
            f"conversions — {' and '.join(missing)}. Widen the dates or import more history.",
            leads=leads,
            conversions=conversions,
        )


def adopted_spec(current: dict, proposal_spec: dict) -> dict:
    """``current`` with the proposal's rules, threshold and grade bands (SLA terms and reasons kept)."""
    spec = copy.deepcopy(current)
    for key in PROPOSAL_SECTIONS:
        spec[key] = copy.deepcopy(proposal_spec[key])
    return spec


def describe_rule(rule: dict, dictionary: Dictionary | None = None, persona_names: dict | None = None) -> str:
    """A proposed rule as people read it, in ``dictionary``'s labels (attributes, values, kinds)."""
    if "kind" in rule:
        return vocab.describe_behaviour(rule, dictionary)
    return vocab.describe_condition(rule, persona_names, dictionary)


def rule_texts(spec: dict, dictionary: Dictionary | None = None, persona_names: dict | None = None) -> list[dict]:
    """The fit and behaviour rules of a proposal as (id, text, points), fit rules first."""
    return [
        {"id": r["id"], "text": describe_rule(r, dictionary, persona_names), "points": r["points"]}
        for r in [*spec.get("fit_rules", []), *spec.get("behaviour_rules", [])]
    ]
