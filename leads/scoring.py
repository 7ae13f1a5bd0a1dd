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

from alignment import spec as vocab

# Lead facts a rule can look at: spec field → how to read it from a Lead (through its account).
FACT_PATHS: dict[str, str] = {
    "industry": "account__industry",
    "employees": "account__employees",
    "annual_revenue": "account__annual_revenue",
    "country": "account__country",
    "region": "account__region",
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
    """A lead's facts keyed by spec field (reads the account already loaded with the lead)."""
    account = lead.account
    return {
        "industry": account.industry if account else None,
        "employees": account.employees if account else None,
        "annual_revenue": account.annual_revenue if account else None,
        "country": account.country if account else None,
        "region": account.region if account else None,
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


def _known(value) -> bool:
    return value is not None and value != ""


def _norm(value) -> str:
    return str(value).lower()


def condition_matches(rule: dict, value) -> bool:
    """Does one fit rule or knock-out condition hold for this value? (alignment.spec semantics)"""
    operator = rule["operator"]
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
        return values[0] <= value <= values[1]
    if operator == "gte":
        return value >= values[0]
    if operator == "lte":
        return value <= values[0]
    raise ValueError(f"unknown operator {operator!r}")


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def behaviour_points(rule: dict, weight: float) -> int:
    """Points of one behaviour rule for ``weight`` = count (or decayed weight) of occurrences."""
    raw = rule["points"] * weight
    cap = rule.get("cap")
    if cap is not None:
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


def score_lead(facts: dict, weights: dict[str, float], spec: dict, persona_names: dict | None = None) -> ScoreResult:
    """Score one lead. ``weights`` maps behaviour rule id → occurrences (decayed) inside its window."""
    hits: list[RuleHit] = []
    fit = 0
    for rule in spec.get("fit_rules", []):
        if condition_matches(rule, facts.get(rule["field"])):
            fit += rule["points"]
            hits.append(RuleHit(rule["id"], "fit", vocab.describe_condition(rule, persona_names), rule["points"]))
    engagement = 0
    for rule in spec.get("behaviour_rules", []):
        weight = weights.get(rule["id"], 0)
        if not weight:
            continue
        points = behaviour_points(rule, weight)
        engagement += points
        shown = f"{weight:g}" if rule.get("half_life_days") else f"{int(weight)}"
        hits.append(RuleHit(rule["id"], "behaviour", vocab.describe_behaviour(rule), points, f"{shown} × in window"))
    knocked_out = False
    for rule in spec.get("knockouts", []):
        if condition_matches(rule, facts.get(rule["field"])):
            knocked_out = True
            label = rule.get("label") or vocab.describe_condition(rule, persona_names)
            hits.append(RuleHit(rule["id"], "knockout", label, 0, vocab.describe_condition(rule, persona_names)))
    fields = qualification_fields(spec)
    completeness = round(100 * sum(_known(facts.get(f)) for f in fields) / len(fields)) if fields else 100
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


def activity_weights(lead, spec: dict, now: dt.datetime) -> dict[str, float]:
    """Occurrences per behaviour rule inside its window (after ``recycled_at``), decayed when asked.

    One query: the lead's activities of the kinds the spec scores, within the widest window.
    """
    rules = spec.get("behaviour_rules", [])
    if not rules:
        return {}
    widest = max(r["window_days"] for r in rules)
    since = now - dt.timedelta(days=widest)
    rows = list(
        lead.activities.filter(kind__in={r["kind"] for r in rules}, occurred_at__gt=since).values_list(
            "kind", "occurred_at"
        )
    )
    weights: dict[str, float] = {}
    for rule in rules:
        start = now - dt.timedelta(days=rule["window_days"])
        if lead.recycled_at and lead.recycled_at > start:
            start = lead.recycled_at
        half_life = rule.get("half_life_days")
        total = 0.0
        for kind, occurred_at in rows:
            if kind != rule["kind"] or occurred_at <= start or occurred_at > now:
                continue
            if half_life:
                age_days = (now - occurred_at).total_seconds() / 86400
                total += 0.5 ** (age_days / half_life)
            else:
                total += 1
        if total:
            weights[rule["id"]] = total
    return weights


def explain(lead, spec: dict, now: dt.datetime, persona_names: dict | None = None) -> ScoreResult:
    """The "why" of one lead's score under ``spec`` at ``now``."""
    return score_lead(facts_for_lead(lead), activity_weights(lead, spec, now), spec, persona_names)


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
