"""Scoring: one definition (the agreement's spec), two executions that must always agree.

1. ``score_lead`` — a pure function over a lead's facts and its activity weights per behaviour
   rule. It explains itself: every rule that fired, with its points. Used for one lead, the
   "why" panel, the API and the tests.
2. The set-based compiler (below, in the scoring issue) — the same rules as Django ORM
   expressions for rescoring whole id ranges with a few ``UPDATE`` statements.

The rule semantics are written down once, in ``alignment.spec``'s module docstring.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models as _m
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.expressions import Combinable, Expression, Func, ResolvedOuterRef
from django.db.models.functions import Cast, Coalesce, Greatest, Least, Lower, NullIf
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from alignment import spec as vocab
from leads.lifecycle import KNOCK_OUT, QUALIFY, REINSTATE, WITHDRAW

# Lead facts a rule can look at: spec field → how to read it from a Lead (through its account).
FACT_PATHS: dict[str, str] = {
    "industry": "account__industry",
    "employees": "account__employees",
    "annual_revenue": "account__annual_revenue",
    "country": "country",  # the lead's, else the account's (``_field_ref``)
    "region": "region",
    "job_title": "job_title",
    "seniority": "seniority",
    "department": "department",
    "persona": "persona_id",
    "budget": "budget",
    "authority": "authority",
    "need": "need",
    "timeline": "timeline",
    "source": "source",
    "email_domain": "email_domain",
}


# Company facts kept in the lead's ``attributes`` when it has no account (a free-mail address).
ACCOUNT_FACTS_ON_LEAD = ("industry", "employees", "annual_revenue")


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    section: str  # "fit" | "behaviour" | "knockout"
    label: str
    points: int
    detail: str = ""


@dataclass(frozen=True)
class ScoreResult:
    fit: int
    engagement: int
    grade: str
    knocked_out: bool
    qualifies: bool
    completeness: int
    breakdown: tuple[RuleHit, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return self.fit + self.engagement

    def top_reasons(self, n: int = 3) -> list[RuleHit]:
        """The rules that contributed most (positive points first) — "why it qualified"."""
        scoring = [h for h in self.breakdown if h.section != "knockout" and h.points > 0]
        return sorted(scoring, key=lambda h: -h.points)[:n]


def facts_for_lead(lead) -> dict:
    """A lead's facts keyed by attribute (reads the account already loaded with the lead).

    Custom attributes come from the ``attributes`` JSON of the account and of the lead; country
    and region are the lead's own, else its account's.
    """
    account = lead.account
    facts = {**((account.attributes or {}) if account else {}), **(lead.attributes or {})}
    facts.update(
        {
            # Without an account (free mail) the company facts a client sent stay on the lead.
            **{
                name: getattr(account, name) if account else (lead.attributes or {}).get(name)
                for name in ACCOUNT_FACTS_ON_LEAD
            },
            "country": lead.country or (account.country if account else None),
            "region": lead.region or (account.region if account else None),
            "job_title": lead.job_title,
            "seniority": lead.seniority,
            "department": lead.department,
            "persona": lead.persona_id,
            "budget": lead.budget,
            "authority": lead.authority,
            "need": lead.need,
            "timeline": lead.timeline,
            "source": lead.source,
            "email_domain": lead.email_domain,
        }
    )
    return facts


def _known(value) -> bool:
    return value is not None and value != "" and value != []


def _norm(value) -> str:
    return str(value).lower()


def _decimal(value) -> Decimal:
    # Through the shortest text of the number: what the database stores and compares exactly.
    return Decimal(str(value))


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def utc_day(now: dt.datetime) -> dt.date:
    """The calendar day "within the last N days" counts back from: ``now``'s date in UTC."""
    return now.astimezone(dt.UTC).date()


def condition_matches(rule: dict, value, now: dt.datetime | None = None) -> bool:
    """Does one fit rule or knock-out condition hold for this value? (alignment.spec semantics)

    ``now`` anchors ``within_days`` (default: the current time).
    """
    operator = vocab.canonical_operator(rule["operator"])
    if operator == "known":
        return _known(value)
    if operator == "unknown":
        return not _known(value)
    if not _known(value):
        return False
    values = rule.get("values") or []
    if operator == "in":
        return _norm(value) in {_norm(v) for v in values}
    if operator == "not_in":
        return _norm(value) not in {_norm(v) for v in values}
    if operator == "contains":
        text = _norm(value)
        return any(_norm(v) in text for v in values if _known(v))
    if operator == "between":
        return _decimal(values[0]) <= _decimal(value) <= _decimal(values[1])
    if operator == "gte":
        return _decimal(value) >= _decimal(values[0])
    if operator == "lte":
        return _decimal(value) <= _decimal(values[0])
    if operator in ("has_any", "has_all", "has_none"):
        # Stored multi-choice values are lower case; they are compared as stored (like the SQL).
        held = {str(v) for v in value} if isinstance(value, list) else {str(value)}
        wanted = {_norm(v) for v in values}
        if operator == "has_all":
            return wanted <= held
        return bool(held & wanted) == (operator == "has_any")
    if operator in ("is_true", "is_false"):
        return value is (operator == "is_true")
    if operator == "within_days":
        today = utc_day(now or timezone.now())
        return today - dt.timedelta(days=int(values[0])) <= _day(value) <= today
    if operator == "before":
        return _day(value) < _day(values[0])
    if operator == "after":
        return _day(value) > _day(values[0])
    raise ValueError(f"unknown operator {operator!r}")


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def behaviour_points(rule: dict, weight: float) -> int:
    """Points of one behaviour rule for ``weight`` = count (or decayed weight) of occurrences."""
    raw = rule["points"] * weight
    cap = rule.get("cap")
    if cap is not None:
        cap = abs(cap)  # a cap limits the points in either direction
        raw = max(-cap, min(cap, raw))
    return round_half_up(raw)


def grade_for(fit: int, bands: list[dict]) -> str:
    for band in bands:
        low, high = band.get("min"), band.get("max")
        if (low is None or fit >= low) and (high is None or fit <= high):
            return band["grade"]
    return ""


def qualification_fields(spec: dict) -> list[str]:
    """Fields the definition looks at (fit rules): what "completeness" is measured against."""
    seen: list[str] = []
    for rule in spec.get("fit_rules", []):
        if rule["field"] not in seen:
            seen.append(rule["field"])
    return seen


def occurrences_shown(rule: dict, weight: float) -> str:
    """How often a behaviour rule counted, as people read it: decayed weights are fractions, two
    decimals say enough ("2.99"); plain counts are whole ("3")."""
    return f"{weight:.2f}" if rule.get("half_life_days") else f"{int(weight)}"


def score_lead(
    facts: dict,
    weights: dict[str, float],
    spec: dict,
    persona_names: dict | None = None,
    *,
    now: dt.datetime | None = None,
    dictionary=None,
) -> ScoreResult:
    """Score one lead. ``weights`` maps behaviour rule id → occurrences (decayed) inside its window.

    ``now`` anchors date rules ("within the last N days"); ``dictionary`` (an
    ``alignment.dictionary.Dictionary``) gives the breakdown the organisation's labels.
    """
    now = now or timezone.now()
    hits: list[RuleHit] = []
    fit = 0
    for rule in spec.get("fit_rules", []):
        if condition_matches(rule, facts.get(rule["field"]), now):
            fit += rule["points"]
            label = vocab.describe_condition(rule, persona_names, dictionary)
            hits.append(RuleHit(rule["id"], "fit", label, rule["points"]))
    engagement = 0
    for rule in spec.get("behaviour_rules", []):
        weight = weights.get(rule["id"], 0)
        if not weight:
            continue
        points = behaviour_points(rule, weight)
        engagement += points
        shown = occurrences_shown(rule, weight)
        detail = f"{shown} after decay" if rule.get("half_life_days") else f"{shown} × in window"
        hits.append(RuleHit(rule["id"], "behaviour", vocab.describe_behaviour(rule, dictionary), points, detail))
    knocked_out = False
    for rule in spec.get("knockouts", []):
        if condition_matches(rule, facts.get(rule["field"]), now):
            knocked_out = True
            sentence = vocab.describe_condition(rule, persona_names, dictionary)
            hits.append(RuleHit(rule["id"], "knockout", rule.get("label") or sentence, 0, sentence))
    fields = qualification_fields(spec)
    # Half up like behaviour points (Python's round() is half-to-even: 12.5 would give 12).
    completeness = round_half_up(100 * sum(_known(facts.get(f)) for f in fields) / len(fields)) if fields else 100
    total = fit + engagement
    return ScoreResult(
        fit=fit,
        engagement=engagement,
        grade=grade_for(fit, spec.get("grade_bands", [])),
        knocked_out=knocked_out,
        qualifies=not knocked_out and total >= spec.get("mql_threshold", 0),
        completeness=completeness,
        breakdown=tuple(hits),
    )


def weights_from_times(
    times_by_kind: dict[str, list[dt.datetime]], rules: list[dict], now: dt.datetime, recycled_at=None
) -> dict[str, float]:
    """Occurrences per behaviour rule inside its window (after ``recycled_at``), decayed when asked.

    ``times_by_kind`` holds each kind's ``occurred_at`` values oldest first: decayed weights are
    summed in the order PostgreSQL's index scan adds them, so both executions agree to the bit.
    """
    weights: dict[str, float] = {}
    for rule in rules:
        times = times_by_kind.get(rule["kind"])
        if not times:
            continue
        start = now - dt.timedelta(days=rule["window_days"])
        if recycled_at and recycled_at > start:
            start = recycled_at
        half_life = rule.get("half_life_days")
        total = 0.0
        for occurred_at in times:
            if start < occurred_at <= now:
                total += 0.5 ** ((now - occurred_at).total_seconds() / 86400 / half_life) if half_life else 1
        if total:
            weights[rule["id"]] = total
    return weights


def weights_for_leads(leads, spec: dict, now: dt.datetime) -> dict[int, dict[str, float]]:
    """Behaviour-rule weights of many leads from ONE query: their activities of the scored kinds
    within the widest window, oldest first, through ``weights_from_times`` per lead."""
    from leads.models import Activity  # the models import this module

    rules = spec.get("behaviour_rules", [])
    if not rules or not leads:
        return {lead.id: {} for lead in leads}
    since = now - dt.timedelta(days=max(r["window_days"] for r in rules))
    by_lead: dict[int, dict[str, list[dt.datetime]]] = {}
    rows = (
        Activity.objects.filter(
            lead_id__in=[lead.id for lead in leads],
            kind__in={r["kind"] for r in rules},
            occurred_at__gt=since,
            occurred_at__lte=now,
        )
        .order_by("occurred_at", "id")
        .values_list("lead_id", "kind", "occurred_at")
    )
    for lead_id, kind, occurred_at in rows:
        by_lead.setdefault(lead_id, {}).setdefault(kind, []).append(occurred_at)
    return {lead.id: weights_from_times(by_lead.get(lead.id, {}), rules, now, lead.recycled_at) for lead in leads}


def activity_weights(lead, spec: dict, now: dt.datetime) -> dict[str, float]:
    """Behaviour-rule weights of one lead (one query)."""
    return weights_for_leads([lead], spec, now)[lead.id]


def explain(lead, spec: dict, now: dt.datetime, persona_names: dict | None = None, dictionary=None) -> ScoreResult:
    """The "why" of one lead's score under ``spec`` at ``now``."""
    weights = activity_weights(lead, spec, now)
    return score_lead(facts_for_lead(lead), weights, spec, persona_names, now=now, dictionary=dictionary)


def persona_for(job_title: str, seniority: str, department: str, personas) -> int | None:
    """Id of the first persona (by id) the lead matches, or None.

    A persona with criteria matches when every non-empty criterion holds: any title keyword is
    contained in the job title (case-insensitive), the seniority is listed, the department is
    listed. A persona with no criteria at all matches nobody.
    """
    title = (job_title or "").lower()
    for persona in sorted(personas, key=lambda p: p.id):
        keywords = [k.lower() for k in persona.title_keywords if k]
        if not (keywords or persona.seniorities or persona.departments):
            continue
        if keywords and not any(k in title for k in keywords):
            continue
        if persona.seniorities and seniority not in persona.seniorities:
            continue
        if persona.departments and department not in persona.departments:
            continue
        return persona.id
    return None


# --- Stage rule (shared by both executions) ---------------------------------------------------


# Stages scoring may move a lead out of; sales-worked and closed stages keep theirs.
def next_stage(
    stage: str,
    *,
    qualifies: bool,
    knocked_out: bool,
    worked: bool,
    new_version: bool,
    held: bool,
    knocked_out_before: bool = False,
) -> str:
    """The stage scoring leaves a lead in (the SQL rescore applies the same rule set-based).

    ``worked``: an SDR has already acted on the MQL (``first_action_at`` is set).
    ``new_version``: this is the lead's first scoring under the version being applied (its
    ``scored_version`` is another one, or none).
    ``held``: a recycled lead waiting for its revisit date without new engagement (``recycle_hold``).
    ``knocked_out_before``: the lead is disqualified because a knock-out fired (its latest
    transition is the system's knock-out), not because a person disqualified it.

    The moves are the lifecycle's (``leads.lifecycle``): knock-outs disqualify new, nurture and
    MQL leads on any rescore. New/nurture leads that qualify become MQLs, except a held one: an
    SDR's recycle is not undone by the lead's fit alone. An MQL nobody has touched goes back to
    nurture only when a *new version* no longer qualifies it: the queue changes when the
    definition changes, never because old activities aged out or decayed between two rescores
    under the same version (activity batches, the nightly job). Other stages never move.
    """
    if knocked_out and KNOCK_OUT.allows(stage):
        return KNOCK_OUT.to_stage
    if not knocked_out and knocked_out_before and REINSTATE.allows(stage):
        return REINSTATE.to_stage
    if qualifies and not held and QUALIFY.allows(stage):
        return QUALIFY.to_stage
    if not qualifies and not worked and new_version and WITHDRAW.allows(stage):
        return WITHDRAW.to_stage
    return stage


def recycle_hold(
    *, stage: str, recycled_at: dt.datetime | None, revisit_on: dt.date | None, engagement: int, now: dt.datetime
) -> bool:
    """Is this recycled lead still waiting for its revisit date?

    A lead an SDR recycled (nurture, ``recycled_at`` set) re-enters the MQL queue before its
    ``revisit_on`` date only if it engaged again (engagement counts only activities after the
    recycle, so ``engagement > 0`` means new positive engagement). From the revisit date on (a
    date in the portal's time zone, ``TIME_ZONE``: the zone the SDR picked it in and the nightly
    job runs in) it follows the normal rule: the nightly rescore brings it back that night if it
    still qualifies.
    """
    return (
        stage == "nurture"
        and recycled_at is not None
        and revisit_on is not None
        and revisit_on > timezone.localdate(now)
        and engagement <= 0
    )


def knocked_out_by_scoring(lead) -> bool:
    """Is ``lead`` disqualified because a knock-out fired (the system's move), not by a person?"""
    if lead.stage not in REINSTATE.from_stages:
        return False
    latest = lead.transitions.order_by("-at", "-id").values_list("reason_code", "actor_id").first()
    return latest is not None and latest[0] == "knocked_out" and latest[1] is None


def stage_after(lead, result: ScoreResult, *, version_id: int, now: dt.datetime) -> str:
    """``next_stage`` for ``lead`` (as it is before the pass) scored ``result`` under ``version_id`` at ``now``."""
    return next_stage(
        lead.stage,
        qualifies=result.qualifies,
        knocked_out=result.knocked_out,
        worked=lead.first_action_at is not None,
        new_version=lead.scored_version_id != version_id,
        knocked_out_before=knocked_out_by_scoring(lead),
        held=recycle_hold(
            stage=lead.stage,
            recycled_at=lead.recycled_at,
            revisit_on=lead.revisit_on,
            engagement=result.engagement,
            now=now,
        ),
    )


# --- The set-based compiler ---------------------------------------------------------------------
#
# ``annotate_scores`` turns a spec into ORM expressions over the Lead table: fit and knock-outs
# are CASE expressions on the lead's (and its account's) columns; engagement is ONE correlated
# subquery per lead that aggregates every scored activity kind at once (conditional aggregation
# with FILTER, caps and rounding inside), so PostgreSQL walks the (lead, kind, occurred_at) index
# once per lead. ``now`` may be a datetime or an expression (``F("mql_at")``, ``OuterRef(...)``),
# which lets the backtest score each lead as of its own moment.

NEVER = Q(pk__in=[])  # compiles to a condition no row meets


class _DecayWeight(Func):
    """Weight of one activity at ``now``: ``0.5 ** (age_days / half_life)``, in float8.

    The age is computed exactly like the pure function (exact microseconds between the two
    instants, then two float divisions), so decayed weights agree to the last bit.
    """

    output_field = _m.FloatField()
    arity = 2

    def __init__(self, now, occurred_at, *, half_life: float):
        self.half_life = float(half_life)
        super().__init__(now, occurred_at)

    def as_sql(self, compiler, connection, **extra):
        now_sql, now_params = compiler.compile(self.source_expressions[0])
        at_sql, at_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            age = f"(CAST(EXTRACT(EPOCH FROM ({now_sql} - {at_sql})) AS double precision) / 86400::float8)"
            sql = f"POWER(0.5::float8, {age} / CAST(%s AS double precision))"
        else:  # SQLite: Django's helper returns the difference in whole microseconds
            age = f"((CAST(django_timestamp_diff({now_sql}, {at_sql}) AS REAL) / 1000000.0) / 86400.0)"
            sql = f"POWER(0.5, {age} / CAST(%s AS REAL))"
        return sql, (*now_params, *at_params, self.half_life)


class _SimpleCase(Func):
    """``CASE expr WHEN k THEN v … ELSE default END``: evaluates ``expr`` once (Django's Case repeats it)."""

    def __init__(self, expression, mapping: dict[int, int], default: int, output_field):
        self.mapping, self.default = mapping, default
        super().__init__(expression, output_field=output_field)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        whens = " ".join(f"WHEN {int(k)} THEN {int(v)}" for k, v in self.mapping.items())
        return f"CASE {sql} {whens} ELSE {int(self.default)} END", params


class _DecayedPoints(Func):
    """``floor(clamp(points * weight) + 0.5)`` for a decayed (float) weight, as an integer."""

    output_field = _m.IntegerField()

    def __init__(self, weight, *, points: int, cap: int | None):
        self.points, self.cap = points, cap
        super().__init__(weight)

    def as_sql(self, compiler, connection, **extra):
        weight_sql, params = compiler.compile(self.source_expressions[0])
        pg = connection.vendor == "postgresql"
        least, greatest = ("LEAST", "GREATEST") if pg else ("MIN", "MAX")
        floatcast = "::float8" if pg else " * 1.0"
        raw = f"({int(self.points)}{floatcast} * COALESCE({weight_sql}, 0{floatcast}))"
        if self.cap is not None:
            cap = abs(int(self.cap))
            raw = f"{greatest}({least}({raw}, {cap}{floatcast}), -{cap}{floatcast})"
        return f"CAST(FLOOR({raw} + 0.5) AS integer)", params


def _deeper(expr):
    """The same ``now`` one subquery level down: F(x) → OuterRef(x), OuterRef(x) → OuterRef(OuterRef(x))."""
    if isinstance(expr, OuterRef | ResolvedOuterRef):
        return OuterRef(expr)
    if isinstance(expr, F):
        return OuterRef(expr.name)
    if isinstance(expr, Expression):
        clone = expr.copy()
        clone.set_source_expressions([_deeper(e) for e in expr.get_source_expressions()])
        return clone
    return expr


def _check_now(now) -> None:
    if not isinstance(now, dt.datetime | Combinable):
        raise TypeError("now must be a datetime or a Django expression")
    if isinstance(now, dt.datetime) and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


class _JsonFact(Func):
    """One custom attribute read from an ``attributes`` JSON column, on PostgreSQL and SQLite alike.

    ``mode`` says what to read: ``text`` (the value as text, NULL when absent), ``ge``/``le``
    (the number compared with ``bound``, exactly: as numeric), ``between`` (``bound`` to ``upper``,
    both included), ``date``, ``known`` (present and
    neither null, "" nor []), ``true``/``false`` (the JSON booleans), ``any``/``all`` (a
    multi-choice list holds any/all of ``needles``).
    Conditions are COALESCEd to false: an absent key or account never satisfies one.
    """

    def __init__(self, column, key: str, mode: str, needles: tuple[str, ...] = (), bound=None, upper=None):
        self.key, self.mode, self.needles = key, mode, tuple(needles)
        self.bound = None if bound is None else str(_decimal(bound))
        self.upper = None if upper is None else str(_decimal(upper))
        output = {"text": _m.TextField(), "date": _m.DateField(), "int": _m.BigIntegerField()}.get(
            mode, _m.BooleanField()
        )
        super().__init__(column, output_field=output)

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        params = list(params)
        if connection.vendor == "postgresql":
            return self._postgresql(column, params)
        return self._sqlite(column, params)

    def _postgresql(self, column: str, params: list):
        mode, key = self.mode, self.key
        if mode == "text":
            return f"({column} ->> %s)", [*params, key]
        if mode == "int":
            return f"CAST(({column} ->> %s) AS bigint)", [*params, key]
        if mode in ("ge", "le"):
            sign = ">=" if mode == "ge" else "<="
            return f"COALESCE(CAST(({column} ->> %s) AS numeric) {sign} CAST(%s AS numeric), false)", [
                *params,
                key,
                self.bound,
            ]
        if mode == "between":
            bounds = "CAST(%s AS numeric) AND CAST(%s AS numeric)"
            sql = f"COALESCE(CAST(({column} ->> %s) AS numeric) BETWEEN {bounds}, false)"
            return sql, [*params, key, self.bound, self.upper]
        if mode == "date":
            return f"CAST(({column} ->> %s) AS date)", [*params, key]
        if mode == "known":
            sql = f"COALESCE(({column} -> %s) NOT IN ('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb), false)"
            return sql, [*params, key]
        if mode in ("true", "false"):
            return f"COALESCE(({column} -> %s) = '{mode}'::jsonb, false)", [*params, key]
        # ``?|`` / ``?&``: membership in a JSON array (or equality with a JSON string).
        operator = "?|" if mode == "any" else "?&"
        return f"COALESCE(({column} -> %s) {operator} %s::text[], false)", [*params, key, list(self.needles)]

    def _sqlite(self, column: str, params: list):
        mode = self.mode
        path = '$."' + self.key + '"'  # keys are slugs
        value = f"json_extract({column}, %s)"
        kind = f"json_type({column}, %s)"
        if mode in ("ge", "le"):
            sign = ">=" if mode == "ge" else "<="
            return f"COALESCE(CAST({value} AS REAL) {sign} CAST(%s AS REAL), 0)", [*params, path, self.bound]
        if mode == "between":
            sql = f"COALESCE(CAST({value} AS REAL) BETWEEN CAST(%s AS REAL) AND CAST(%s AS REAL), 0)"
            return sql, [*params, path, self.bound, self.upper]
        if mode == "int":
            return f"CAST({value} AS INTEGER)", [*params, path]
        if mode in ("text", "date"):
            cast = "TEXT"
            # JSON booleans read as their words, like PostgreSQL's ->>.
            sql = f"(CASE {kind} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST({value} AS {cast}) END)"
            return sql, [*params, path, *params, path]
        if mode == "known":
            sql = (
                f"COALESCE({kind} NOT IN ('null') AND NOT ({kind} = 'text' AND {value} = '')"
                f" AND NOT ({kind} = 'array' AND json_array_length({column}, %s) = 0), 0)"
            )
            return sql, [*params, path, *params, path, *params, path, *params, path, *params, path]
        if mode in ("true", "false"):
            return f"COALESCE({kind} = '{mode}', 0)", [*params, path]
        marks = ", ".join(["%s"] * len(self.needles))
        # ``column`` is the compiled column of a JSON field; the path and needles are bound parameters.
        found = f"SELECT COUNT(DISTINCT value) FROM json_each({column}, %s) WHERE value IN ({marks})"  # noqa: S608
        wanted = 1 if mode == "any" else len(set(self.needles))
        return f"(({found}) >= {wanted})", [*params, path, *self.needles]


class _DaysAgo(Func):
    """The UTC calendar date of ``now`` minus ``days`` (``within_days``; ``now`` may be a column)."""

    output_field = _m.DateField()

    def __init__(self, now, days: int):
        self.days = int(days)
        super().__init__(now)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f"(CAST(({sql}) AT TIME ZONE 'UTC' AS date) - {self.days})", params
        return f"date({sql}, '-{self.days} days')", params


def _field_ref(field: str, persona_expr, dictionary=None) -> tuple[object, str]:
    """(expression, kind) of a spec field on the annotated Lead queryset.

    Built-in fields read their columns (``kind`` "number" or "text"); a custom attribute answers
    ``(column, "custom")`` with the JSON column of the lead or of its account.
    """
    if field == "persona":
        return (persona_expr if persona_expr is not None else F("persona_id")), "number"
    if field in FACT_PATHS:
        kind = vocab.FIELDS[field].kind
        if field in ("country", "region"):
            # The lead's own country (and its region), else its account's.
            return Coalesce(NullIf(F(field), Value("")), F(f"account__{field}")), "text"
        kind = "number" if kind == "number" else "text"
        if field in ACCOUNT_FACTS_ON_LEAD:
            # The account's, or for a lead without one the fact it came with (``facts_for_lead``).
            own = _JsonFact(F("attributes"), field, "int" if kind == "number" else "text")
            output = _m.BigIntegerField() if kind == "number" else _m.TextField()
            value = Case(When(Q(account_id__isnull=True), then=own), default=F(FACT_PATHS[field]), output_field=output)
            return value, kind
        # A direct path: the account is LEFT joined, and only when a rule reads one of its fields.
        return F(FACT_PATHS[field]), kind
    if dictionary is None:
        from alignment.dictionary import load_dictionary

        dictionary = load_dictionary()
    where = dictionary.custom_object(field)
    if where is None:
        raise ValueError(f"unknown field {field!r}")
    return F("attributes" if where == "lead" else "account__attributes"), "custom"


# What an unknown custom value ("" or []) reads as through ``->>`` (absent and null read NULL).
_UNKNOWN_TEXTS = frozenset({"", "[]"})


def _compile_custom(column, field: str, operator: str, values: list, now) -> Q:
    known = Q(_JsonFact(column, field, "known"))
    if operator == "known":
        return known
    if operator == "unknown":
        return ~known
    if operator in ("in", "not_in", "contains"):
        text = Lower(_JsonFact(column, field, "text"))
        if operator == "contains":
            needles = sorted({str(v).lower() for v in values if _known(v)})
            anyof = Q()
            for needle in needles:
                anyof |= Q(Contains(text, needle))
            return known & anyof if needles else NEVER
        lowered = {str(v).lower() for v in values}
        member = Q(In(text, sorted(lowered))) if values else NEVER
        if operator == "in" and not lowered & _UNKNOWN_TEXTS:
            # No unknown value reads as one of these (absent or null read NULL), so the membership
            # alone is exact: one extraction per row instead of two and three JSON comparisons.
            return member
        return known & member if operator == "in" else known & ~member
    if operator in ("between", "gte", "lte"):
        if operator == "between":  # one extraction and one cast per row for both bounds
            return Q(_JsonFact(column, field, "between", bound=values[0], upper=values[1]))
        return Q(_JsonFact(column, field, "ge" if operator == "gte" else "le", bound=values[0]))
    if operator in ("has_any", "has_all", "has_none"):
        needles = tuple(sorted({str(v).lower() for v in values}))
        held = Q(_JsonFact(column, field, "all" if operator == "has_all" else "any", needles))
        if operator != "has_none" and needles and "" not in needles:
            # Absent, null and [] hold no needle, and "" holds only "": the test alone is exact.
            return held
        return known & (~held if operator == "has_none" else held)
    if operator in ("is_true", "is_false"):
        return Q(_JsonFact(column, field, "true" if operator == "is_true" else "false"))
    day = _JsonFact(column, field, "date")
    if operator == "within_days":
        if isinstance(now, dt.datetime):
            today = utc_day(now)
            low, high = today - dt.timedelta(days=int(values[0])), today
        else:
            low, high = _DaysAgo(now, int(values[0])), _DaysAgo(now, 0)
        return known & Q(GreaterThanOrEqual(day, low)) & Q(LessThanOrEqual(day, high))
    if operator in ("before", "after"):
        bound = _day(values[0])
        return known & Q((LessThan if operator == "before" else GreaterThan)(day, bound))
    raise ValueError(f"unknown operator {operator!r}")


def compile_condition(rule: dict, persona_expr=None, *, dictionary=None, now=None) -> Q:
    """A fit rule or knock-out as a Q over the annotated queryset (``alignment.spec`` semantics).

    ``dictionary`` locates custom attributes (loaded when needed); ``now`` (a datetime or an
    expression, default the current time) anchors ``within_days``.
    """
    expr, kind = _field_ref(rule["field"], persona_expr, dictionary)
    operator = vocab.canonical_operator(rule["operator"])
    values = rule.get("values") or []
    if kind == "custom":
        return _compile_custom(expr, rule["field"], operator, values, now if now is not None else timezone.now())
    known = Q(IsNull(expr, False))
    if kind == "text":
        known &= ~Q(Exact(expr, Value("")))
    if operator == "known":
        return known
    if operator == "unknown":
        return ~known
    # Text comparisons are case-insensitive; numbers compare as their text (str(800) == '800').
    text = Lower(expr if kind == "text" else Cast(expr, _m.CharField()))
    if operator in ("in", "not_in"):
        lowered = sorted({str(v).lower() for v in values})
        if not lowered:
            return NEVER if operator == "in" else known
        member = Q(In(text, lowered))
        return known & member if operator == "in" else known & ~member
    if operator == "contains":
        needles = sorted({str(v).lower() for v in values if _known(v)})
        if not needles:
            return NEVER
        anyof = Q()
        for needle in needles:
            anyof |= Q(Contains(text, needle))
        return known & anyof
    if operator in ("between", "gte", "lte"):
        if kind != "number":
            raise ValueError(f"{operator!r} needs a number field, not {rule['field']!r}")
        if operator == "between":
            return Q(GreaterThanOrEqual(expr, values[0])) & Q(LessThanOrEqual(expr, values[1]))
        lookup = GreaterThanOrEqual if operator == "gte" else LessThanOrEqual
        return Q(lookup(expr, values[0]))
    raise ValueError(f"unknown operator {operator!r}")


def persona_expression(personas) -> Expression:
    """``persona_for`` as SQL: the id of the first (by id) active persona the lead matches."""
    whens = []
    for persona in sorted(personas, key=lambda p: p.id):
        keywords = sorted({k.lower() for k in persona.title_keywords if k})
        if not (keywords or persona.seniorities or persona.departments):
            continue
        condition = Q()
        if keywords:
            title = Lower(Coalesce(F("job_title"), Value("")))
            anyof = Q()
            for keyword in keywords:
                anyof |= Q(Contains(title, keyword))
            condition &= anyof
        if persona.seniorities:
            condition &= Q(seniority__in=list(persona.seniorities))
        if persona.departments:
            condition &= Q(department__in=list(persona.departments))
        whens.append(When(condition, then=Value(persona.id)))
    # Typed explicitly: a bare NULL would be text to PostgreSQL when nobody can match.
    if not whens:
        return Cast(Value(None), _m.BigIntegerField())
    return Cast(Case(*whens, default=Value(None), output_field=_m.BigIntegerField()), _m.BigIntegerField())


def _int_sum(parts: list) -> Expression:
    if not parts:
        return Value(0, output_field=_m.IntegerField())
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def fit_expression(spec: dict, persona_expr=None, *, dictionary=None, now=None) -> Expression:
    return _int_sum(
        [
            Case(
                When(
                    compile_condition(rule, persona_expr, dictionary=dictionary, now=now),
                    then=Value(int(rule["points"])),
                ),
                default=Value(0),
            )
            for rule in spec.get("fit_rules", [])
        ]
    )


def knockout_condition(spec: dict, persona_expr=None, *, dictionary=None, now=None) -> Q | None:
    condition = None
    for rule in spec.get("knockouts", []):
        q = compile_condition(rule, persona_expr, dictionary=dictionary, now=now)
        condition = q if condition is None else condition | q
    return condition


def grade_expression(fit, spec: dict) -> Expression:
    """The first band (in spec order) containing the fit score; no band → ``""``."""
    whens = []
    default = ""
    for band in spec.get("grade_bands", []):
        condition = Q()
        if band.get("min") is not None:
            condition &= Q(GreaterThanOrEqual(fit, band["min"]))
        if band.get("max") is not None:
            condition &= Q(LessThanOrEqual(fit, band["max"]))
        if not condition:  # an unbounded band catches everything the earlier ones did not
            default = band["grade"]
            break
        whens.append(When(condition, then=Value(band["grade"])))
    if not whens:
        return Value(default, output_field=_m.CharField())
    return Case(*whens, default=Value(default), output_field=_m.CharField())


def completeness_expression(spec: dict, persona_expr=None, *, dictionary=None) -> Expression:
    """% of the definition's fields that are known, rounded half up (same as the pure function)."""
    fields = qualification_fields(spec)
    if not fields:
        return Value(100, output_field=_m.IntegerField())
    known = _int_sum(
        [
            Case(
                When(
                    compile_condition({"field": f, "operator": "known"}, persona_expr, dictionary=dictionary),
                    then=Value(1),
                ),
                default=Value(0),
            )
            for f in fields
        ]
    )
    # round_half_up(100 * k / n) for every k: a lookup on the count, exact on both sides.
    mapping = {k: round_half_up(100 * k / len(fields)) for k in range(len(fields) + 1)}
    return _SimpleCase(known, mapping, 0, output_field=_m.IntegerField())


def engagement_subquery(spec: dict, *, now) -> Expression:
    """Engagement of the outer lead at ``now``: one correlated, conditionally aggregated subquery."""
    # Imported here so that the pure scorer above loads without the app registry.
    from leads.models import Activity

    rules = spec.get("behaviour_rules", [])
    if not rules:
        return Value(0, output_field=_m.IntegerField())
    fixed = isinstance(now, dt.datetime)
    inner_now = Value(now, output_field=_m.DateTimeField()) if fixed else _deeper(now)
    widest = max(r["window_days"] for r in rules)

    def after(window_days: int) -> Q:
        # occurred_at > now - window (sargable when now is a constant)
        if fixed:
            return Q(occurred_at__gt=now - dt.timedelta(days=window_days))
        shifted = _m.ExpressionWrapper(
            F("occurred_at") + Value(dt.timedelta(days=window_days)), output_field=_m.DateTimeField()
        )
        return Q(GreaterThan(shifted, inner_now))

    activities = Activity.objects.filter(
        after(widest),
        lead_id=OuterRef("pk"),
        kind__in=sorted({r["kind"] for r in rules}),
        occurred_at__lte=inner_now,
    ).filter(
        # Recycled leads: only what they did after being recycled counts.
        Q(IsNull(OuterRef("recycled_at"), True)) | Q(occurred_at__gt=OuterRef("recycled_at"))
    )
    parts = []
    for rule in rules:
        in_rule = Q(kind=rule["kind"])
        if rule["window_days"] != widest:
            in_rule &= after(rule["window_days"])
        if rule.get("half_life_days"):
            weight = _m.Sum(_DecayWeight(inner_now, F("occurred_at"), half_life=rule["half_life_days"]), filter=in_rule)
            parts.append(_DecayedPoints(weight, points=rule["points"], cap=rule.get("cap")))
        else:
            raw = _m.ExpressionWrapper(
                Value(int(rule["points"])) * _m.Count("kind", filter=in_rule), output_field=_m.IntegerField()
            )
            cap = rule.get("cap")
            if cap is not None:
                cap = abs(int(cap))
                raw = Greatest(Least(raw, Value(cap)), Value(-cap), output_field=_m.IntegerField())
            parts.append(raw)
    total = _m.ExpressionWrapper(_int_sum(parts), output_field=_m.IntegerField())
    subquery = activities.order_by().values("lead_id").annotate(engagement=total).values("engagement")
    return Coalesce(Subquery(subquery, output_field=_m.IntegerField()), Value(0))


def annotate_scores(queryset, spec: dict, *, now, personas=None, dictionary=None):
    """``queryset`` (of Lead) annotated with the spec's scores computed in SQL.

    Adds ``sc_fit``, ``sc_engagement``, ``sc_total``, ``sc_grade``, ``sc_knocked_out``,
    ``sc_qualifies`` and ``sc_completeness``. ``now`` is a datetime or an expression evaluated
    per lead. With ``personas`` (the active Persona rows) the persona is recomputed as
    ``sc_persona`` and persona rules look at it; otherwise they use the stored ``persona_id``.
    Note: ``sc_total``/``sc_qualifies`` repeat the engagement subquery in SQL; for large sets
    that need several of them, ``score_rows`` evaluates it once per lead. ``dictionary`` locates
    custom attributes (loaded once when a rule names one and none is given).
    """
    _check_now(now)
    if dictionary is None and any(
        rule.get("field") not in FACT_PATHS for rule in (*spec.get("fit_rules", []), *spec.get("knockouts", []))
    ):
        from alignment.dictionary import load_dictionary

        dictionary = load_dictionary()
    persona_expr = None
    if personas is not None:
        queryset = queryset.annotate(sc_persona=persona_expression(personas))
        persona_expr = F("sc_persona")
    knockout = knockout_condition(spec, persona_expr, dictionary=dictionary, now=now)
    knocked_out = (
        Case(When(knockout, then=Value(True)), default=Value(False), output_field=_m.BooleanField())
        if knockout is not None
        else Value(False, output_field=_m.BooleanField())
    )
    queryset = queryset.annotate(
        sc_fit=_m.ExpressionWrapper(
            fit_expression(spec, persona_expr, dictionary=dictionary, now=now), output_field=_m.IntegerField()
        ),
        sc_engagement=engagement_subquery(spec, now=now),
        sc_knocked_out=knocked_out,
        sc_completeness=completeness_expression(spec, persona_expr, dictionary=dictionary),
    )
    queryset = queryset.annotate(
        sc_total=_m.ExpressionWrapper(F("sc_fit") + F("sc_engagement"), output_field=_m.IntegerField()),
        sc_grade=grade_expression(F("sc_fit"), spec),
    )
    threshold = spec.get("mql_threshold", 0)
    return queryset.annotate(
        sc_qualifies=Case(
            When(Q(sc_knocked_out=False) & Q(GreaterThanOrEqual(F("sc_total"), threshold)), then=Value(True)),
            default=Value(False),
            output_field=_m.BooleanField(),
        )
    )
