"""The shape of an agreement's ``spec``: the vocabulary both sides sign and the scoring engine executes.

``alignment`` owns the vocabulary (fields, operators, activity kinds, reason codes) because the
agreement is written in it; ``leads.scoring.scorer`` executes it and imports it from here
(dependency direction ``sla → leads → alignment``).

A spec is a JSON object::

    {
      "fit_rules": [
        {"id": "f1", "field": "industry", "operator": "in", "values": ["Software"], "points": 15}
      ],
      "knockouts": [
        {"id": "k1", "field": "email_domain", "operator": "in", "values": ["gmail.com"],
         "label": "Free e-mail domain"}
      ],
      "behaviour_rules": [
        {"id": "b1", "kind": "pricing_page_visit", "points": 10, "cap": 30,
         "window_days": 90, "half_life_days": null}
      ],
      "mql_threshold": 60,
      "grade_bands": [{"grade": "A", "min": 40, "max": null}, … {"grade": "D", "min": null, "max": 9}],
      "sla": {
        "response_hours": {"A": 4, "B": 8, "C": 16, "D": 24},
        "calendar": {"time_zone": "Europe/London", "working_days": [0, 1, 2, 3, 4],
                     "start": "09:00", "end": "17:30", "holidays": ["2026-12-25"]},
        "followup": {"attempts": 3, "days": 5},
        "monthly_mql_quota": 400
      },
      "reject_reasons": [{"code": "bad_fit", "label": "…", "description": "…"}],
      "recycle_reasons": [{"code": "no_budget", "label": "…", "description": "…"}]
    }

Rule semantics (the pure function and the SQL compiler in ``leads.scoring.scorer`` both follow these):

* Text comparisons are case-insensitive. ``in``/``not_in`` compare whole values, ``contains``
  matches when any value is a substring. An unknown (NULL or empty) value never satisfies
  ``in``, ``not_in``, ``between``, ``gte``, ``lte`` or ``contains``; only ``known``/``unknown``
  look at presence.
* ``between`` takes ``values: [low, high]`` inclusive; ``gte``/``lte`` take ``values: [n]``.
* ``persona`` values are persona ids; a lead matches through ``Lead.persona``.
* Fit score = sum of the points of fit rules that fire. Grade = the band containing the fit
  score (``min``/``max`` inclusive, ``null`` = unbounded); no band → grade ``""``.
* Behaviour rule: ``n`` = activities of ``kind`` with ``occurred_at > now - window_days`` and,
  for a recycled lead, ``occurred_at > recycled_at``. With ``half_life_days`` each activity
  weighs ``0.5 ** (age_days / half_life_days)`` instead of 1. Contribution =
  ``points * n`` clamped to ``[-cap, cap]`` when ``cap`` is set, then rounded half up
  (``floor(x + 0.5)``). Engagement = sum of contributions.
* Score = fit + engagement. A lead qualifies (MQL) when no knock-out fires and
  score >= ``mql_threshold``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

# --- Vocabulary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    kind: str  # "choice" | "number" | "text"
    choices: tuple[tuple[str, str], ...] = ()


INDUSTRIES = (
    "Software",
    "Financial Services",
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Education",
    "Telecommunications",
    "Logistics",
    "Energy",
    "Media",
    "Government",
    "Hospitality",
    "Construction",
    "Automotive",
    "Pharmaceuticals",
    "Insurance",
    "Real Estate",
    "Agriculture",
    "Professional Services",
    "Non-profit",
)

# ISO 3166-1 alpha-2 → (name, region). Regions are what fit rules on "region" compare.
COUNTRIES: dict[str, tuple[str, str]] = {
    "US": ("United States", "North America"),
    "CA": ("Canada", "North America"),
    "MX": ("Mexico", "Latin America"),
    "BR": ("Brazil", "Latin America"),
    "AR": ("Argentina", "Latin America"),
    "CL": ("Chile", "Latin America"),
    "CO": ("Colombia", "Latin America"),
    "GB": ("United Kingdom", "EMEA"),
    "IE": ("Ireland", "EMEA"),
    "DE": ("Germany", "EMEA"),
    "FR": ("France", "EMEA"),
    "NL": ("Netherlands", "EMEA"),
    "BE": ("Belgium", "EMEA"),
    "ES": ("Spain", "EMEA"),
    "IT": ("Italy", "EMEA"),
    "PT": ("Portugal", "EMEA"),
    "SE": ("Sweden", "EMEA"),
    "NO": ("Norway", "EMEA"),
    "DK": ("Denmark", "EMEA"),
    "FI": ("Finland", "EMEA"),
    "PL": ("Poland", "EMEA"),
    "CH": ("Switzerland", "EMEA"),
    "AT": ("Austria", "EMEA"),
    "AE": ("United Arab Emirates", "EMEA"),
    "ZA": ("South Africa", "EMEA"),
    "IN": ("India", "APAC"),
    "JP": ("Japan", "APAC"),
    "SG": ("Singapore", "APAC"),
    "AU": ("Australia", "APAC"),
    "NZ": ("New Zealand", "APAC"),
    "KR": ("South Korea", "APAC"),
}
REGIONS = ("North America", "Latin America", "EMEA", "APAC")


def region_for_country(code: str) -> str:
    return COUNTRIES.get((code or "").upper(), ("", ""))[1]


SENIORITIES = (
    ("c_level", "C-level"),
    ("vp", "VP"),
    ("director", "Director"),
    ("manager", "Manager"),
    ("individual", "Individual contributor"),
    ("student", "Student"),
)
DEPARTMENTS = (
    ("executive", "Executive"),
    ("marketing", "Marketing"),
    ("sales", "Sales"),
    ("it", "IT"),
    ("engineering", "Engineering"),
    ("finance", "Finance"),
    ("operations", "Operations"),
    ("hr", "Human resources"),
    ("other", "Other"),
)
SOURCES = (
    ("website", "Website"),
    ("paid_search", "Paid search"),
    ("social", "Social"),
    ("event", "Event"),
    ("webinar", "Webinar"),
    ("referral", "Referral"),
    ("partner", "Partner"),
    ("content", "Content syndication"),
    ("outbound", "Outbound"),
    ("import", "List import"),
)
BUDGET = (("confirmed", "Confirmed"), ("planned", "Planned"), ("none", "No budget"))
AUTHORITY = (("decision_maker", "Decision maker"), ("influencer", "Influencer"), ("none", "No authority"))
NEED = (("urgent", "Urgent"), ("identified", "Identified"), ("none", "No need"))
TIMELINE = (
    ("this_quarter", "This quarter"),
    ("next_quarter", "Next quarter"),
    ("this_year", "This year"),
    ("none", "No timeline"),
)

ACTIVITY_KINDS = (
    ("form_fill", "Form fill"),
    ("demo_request", "Demo request"),
    ("pricing_page_visit", "Pricing page visit"),
    ("whitepaper_download", "Whitepaper download"),
    ("case_study_download", "Case study download"),
    ("web_visit", "Web visit"),
    ("email_open", "E-mail open"),
    ("email_click", "E-mail click"),
    ("webinar_attended", "Webinar attended"),
    ("tradeshow_scan", "Trade-show badge scan"),
    ("free_trial_signup", "Free trial sign-up"),
    ("contact_sales", "Contact-sales request"),
    ("unsubscribe", "Unsubscribe"),
)
ACTIVITY_KIND_KEYS = tuple(k for k, _ in ACTIVITY_KINDS)

FIELDS: dict[str, FieldDef] = {
    f.key: f
    for f in (
        FieldDef("industry", "Industry", "choice", tuple((i, i) for i in INDUSTRIES)),
        FieldDef("employees", "Employee count", "number"),
        FieldDef("annual_revenue", "Annual revenue (USD)", "number"),
        FieldDef("country", "Country", "choice", tuple((c, n) for c, (n, _) in COUNTRIES.items())),
        FieldDef("region", "Region", "choice", tuple((r, r) for r in REGIONS)),
        FieldDef("job_title", "Job title", "text"),
        FieldDef("seniority", "Seniority", "choice", SENIORITIES),
        FieldDef("department", "Department", "choice", DEPARTMENTS),
        FieldDef("persona", "Persona", "choice"),  # choices are the organisation's personas
        FieldDef("budget", "Budget (BANT)", "choice", BUDGET),
        FieldDef("authority", "Authority (BANT)", "choice", AUTHORITY),
        FieldDef("need", "Need (BANT)", "choice", NEED),
        FieldDef("timeline", "Timeline (BANT)", "choice", TIMELINE),
        FieldDef("source", "Lead source", "choice", SOURCES),
        FieldDef("email_domain", "E-mail domain", "text"),
    )
}

OPERATORS = (
    ("in", "is one of"),
    ("not_in", "is not one of"),
    ("between", "is between"),
    ("gte", "is at least"),
    ("lte", "is at most"),
    ("contains", "contains"),
    ("known", "is known"),
    ("unknown", "is unknown"),
    ("has_any", "has any of"),
    ("has_all", "has all of"),
    ("has_none", "has none of"),
    ("is_true", "is yes"),
    ("is_false", "is no"),
    ("within_days", "is within the last"),
    ("before", "is before"),
    ("after", "is after"),
)
OPERATOR_LABELS = dict(OPERATORS)
# Other names an operator is written with (the API's words for number bounds).
OPERATOR_SYNONYMS = {"at_least": "gte", "at_most": "lte"}
# Which operators make sense for which type of attribute.
OPERATORS_FOR_KIND = {
    "choice": ("in", "not_in", "known", "unknown"),
    "multi_choice": ("has_any", "has_all", "has_none", "known", "unknown"),
    "number": ("between", "gte", "lte", "known", "unknown"),
    "yes_no": ("is_true", "is_false", "known", "unknown"),
    "date": ("within_days", "before", "after", "known", "unknown"),
    "text": ("in", "not_in", "contains", "known", "unknown"),
}


def canonical_operator(operator):
    return OPERATOR_SYNONYMS.get(operator, operator)


GRADES = ("A", "B", "C", "D")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

FREE_EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "gmx.de")
COMPETITOR_DOMAINS = ("leadforge.io", "pipelinely.com")


def default_spec() -> dict:
    """The first agreement of a new organisation (and of the demo): a sensible B2B starting point."""
    return copy.deepcopy(_DEFAULT_SPEC)


_DEFAULT_SPEC: dict = {
    "fit_rules": [
        {
            "id": "f1",
            "field": "industry",
            "operator": "in",
            "values": ["Software", "Financial Services", "Manufacturing", "Telecommunications"],
            "points": 15,
        },
        {"id": "f2", "field": "employees", "operator": "between", "values": [200, 5000], "points": 15},
        {"id": "f3", "field": "employees", "operator": "lte", "values": [20], "points": -10},
        {"id": "f4", "field": "seniority", "operator": "in", "values": ["c_level", "vp", "director"], "points": 10},
        {"id": "f5", "field": "region", "operator": "in", "values": ["North America", "EMEA"], "points": 5},
        {"id": "f6", "field": "budget", "operator": "in", "values": ["confirmed", "planned"], "points": 10},
        {"id": "f7", "field": "job_title", "operator": "contains", "values": ["marketing", "revenue"], "points": 5},
    ],
    "knockouts": [
        {
            "id": "k1",
            "field": "email_domain",
            "operator": "in",
            "values": list(COMPETITOR_DOMAINS),
            "label": "Competitor",
        },
        {"id": "k2", "field": "seniority", "operator": "in", "values": ["student"], "label": "Student"},
    ],
    "behaviour_rules": [
        {"id": "b1", "kind": "demo_request", "points": 30, "cap": 30, "window_days": 90, "half_life_days": None},
        {"id": "b2", "kind": "contact_sales", "points": 25, "cap": 25, "window_days": 90, "half_life_days": None},
        {
            "id": "b3",
            "kind": "pricing_page_visit",
            "points": 10,
            "cap": 30,
            "window_days": 60,
            "half_life_days": None,
        },
        {"id": "b4", "kind": "free_trial_signup", "points": 20, "cap": 20, "window_days": 90, "half_life_days": None},
        {"id": "b5", "kind": "webinar_attended", "points": 10, "cap": 20, "window_days": 90, "half_life_days": None},
        {
            "id": "b6",
            "kind": "whitepaper_download",
            "points": 5,
            "cap": 15,
            "window_days": 90,
            "half_life_days": None,
        },
        {
            "id": "b7",
            "kind": "case_study_download",
            "points": 5,
            "cap": 15,
            "window_days": 90,
            "half_life_days": None,
        },
        {"id": "b8", "kind": "email_click", "points": 2, "cap": 10, "window_days": 30, "half_life_days": None},
        {"id": "b9", "kind": "web_visit", "points": 1, "cap": 10, "window_days": 30, "half_life_days": 14},
        {"id": "b10", "kind": "tradeshow_scan", "points": 8, "cap": 16, "window_days": 120, "half_life_days": None},
        {"id": "b11", "kind": "unsubscribe", "points": -20, "cap": 20, "window_days": 365, "half_life_days": None},
    ],
    "mql_threshold": 60,
    "grade_bands": [
        {"grade": "A", "min": 40, "max": None},
        {"grade": "B", "min": 25, "max": 39},
        {"grade": "C", "min": 10, "max": 24},
        {"grade": "D", "min": None, "max": 9},
    ],
    "sla": {
        "response_hours": {"A": 4, "B": 8, "C": 16, "D": 24},
        "calendar": {
            "time_zone": "Europe/London",
            "working_days": [0, 1, 2, 3, 4],
            "start": "09:00",
            "end": "17:30",
            "holidays": ["2026-12-25", "2026-12-28", "2027-01-01"],
        },
        "followup": {"attempts": 3, "days": 5},
        "monthly_mql_quota": 400,
    },
    "reject_reasons": [
        {"code": "bad_fit", "label": "Not our ideal customer", "description": "Industry, size or role outside ICP."},
        {"code": "bad_data", "label": "Bad contact data", "description": "Wrong or fake e-mail, phone or name."},
        {"code": "no_intent", "label": "No buying intent", "description": "Research or student interest only."},
        {"code": "existing_customer", "label": "Existing customer", "description": "Belongs to account management."},
        {"code": "duplicate", "label": "Duplicate", "description": "Already being worked as another lead."},
    ],
    "recycle_reasons": [
        {"code": "no_budget", "label": "No budget this quarter", "description": "Interested; revisit next quarter."},
        {"code": "bad_timing", "label": "Bad timing", "description": "Project planned but not started."},
        {"code": "no_response", "label": "No response", "description": "Follow-up attempts unanswered."},
        {"code": "too_early", "label": "Too early", "description": "Still researching; keep nurturing."},
    ],
}


# What "grade" and "score" mean, in the words every page that shows them uses (column headers,
# the lead page, the user guide): the grade is fit only, the score adds engagement.
SCORING_HELP = {
    "grade": "Grade = fit only: the band (A best) of the fit score, i.e. how closely the lead matches "
    "the agreement's ideal customer. What the lead did does not change it.",
    "score": "Score = fit + engagement: fit for who the lead is, engagement for what they did recently. "
    "At the agreement's threshold the lead becomes an MQL.",
}


def reason_choices(spec: dict, kind: str) -> list[tuple[str, str]]:
    """Reason codes of an agreement as form choices; ``kind`` is ``"reject"`` or ``"recycle"``."""
    return [(r["code"], r["label"]) for r in spec.get(f"{kind}_reasons", [])]


def value_label(field: str, value, persona_names: dict | None = None, dictionary=None) -> str:
    """One value a rule on ``field`` names, as people read it (a persona's name, a choice's label)."""
    if field == "persona" and persona_names is not None:
        return persona_names.get(int(value), f"persona #{value}") if str(value).isdigit() else str(value)
    if dictionary is not None:
        return dictionary.value_label(field, value)
    choices = dict(FIELDS[field].choices) if field in FIELDS else {}
    return str(choices.get(value, value))


def _field_label(field: str, dictionary=None) -> str:
    if dictionary is not None and field in dictionary.attributes:
        return dictionary.label(field)
    return FIELDS[field].label if field in FIELDS else field or "?"


def describe_condition(rule: dict, persona_names: dict | None = None, dictionary=None) -> str:
    """A fit rule or knock-out as a sentence: "Industry is one of Software, Retail".

    ``dictionary`` (an ``alignment.dictionary.Dictionary``) supplies the organisation's labels.
    """
    label = _field_label(rule.get("field", ""), dictionary)
    operator = canonical_operator(rule.get("operator", ""))
    values = rule.get("values") or []
    words = OPERATOR_LABELS.get(operator, operator)
    if operator in ("known", "unknown", "is_true", "is_false"):
        return f"{label} {words}"
    if operator == "between" and len(values) == 2:
        return f"{label} is between {values[0]:,} and {values[1]:,}"
    if operator in ("gte", "lte") and values:
        return f"{label} {words} {values[0]:,}"
    if operator == "within_days" and values:
        return f"{label} {words} {values[0]:,} days"
    if operator in ("before", "after") and values:
        return f"{label} {words} {values[0]}"
    shown = ", ".join(value_label(rule.get("field", ""), v, persona_names, dictionary) for v in values)
    return f"{label} {words} {shown}"


def describe_behaviour(rule: dict, dictionary=None) -> str:
    """A behaviour rule as a sentence: "Pricing page visit +10 per occurrence, cap 30, 60 days"."""
    if dictionary is not None and rule.get("kind") in dictionary.kinds:
        kind = dictionary.kind_label(rule["kind"])
    else:
        kind = dict(ACTIVITY_KINDS).get(rule.get("kind"), rule.get("kind", "?"))
    parts = [f"{kind} {rule.get('points', 0):+d} per occurrence"]
    if rule.get("cap") is not None:
        parts.append(f"cap {rule['cap']}")
    parts.append(f"{rule.get('window_days')} days")
    if rule.get("half_life_days"):
        parts.append(f"half-life {rule['half_life_days']} days")
    return ", ".join(parts)
