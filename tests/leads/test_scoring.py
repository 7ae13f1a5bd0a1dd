"""The pure scorer, rule by rule, and the SQL compiler agreeing with it on the same cases."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db.models import F, Value
from django.utils import timezone

from alignment.spec import default_spec
from leads.models import Lead
from leads.scoring.scorer import (
    activity_weights,
    annotate_scores,
    behaviour_points,
    condition_matches,
    explain,
    grade_for,
    next_stage,
    persona_for,
    recycle_hold,
    score_lead,
)
from tests.factories import AccountFactory, ActivityFactory, LeadFactory, PersonaFactory

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def rule(field, operator, values=None, points=10, rule_id="r1"):
    return {"id": rule_id, "field": field, "operator": operator, "values": values or [], "points": points}


def spec_with(fit=(), behaviour=(), knockouts=(), threshold=50, bands=None):
    return {
        "fit_rules": list(fit),
        "behaviour_rules": list(behaviour),
        "knockouts": list(knockouts),
        "mql_threshold": threshold,
        "grade_bands": bands
        if bands is not None
        else [
            {"grade": "A", "min": 40, "max": None},
            {"grade": "B", "min": 25, "max": 39},
            {"grade": "C", "min": 10, "max": 24},
            {"grade": "D", "min": None, "max": 9},
        ],
    }


def sql_scores(spec, now, **filters):
    """id → (fit, engagement, total, grade, knocked_out, qualifies, completeness) computed in SQL."""
    rows = annotate_scores(Lead.objects.filter(**filters), spec, now=now).values_list(
        "id", "sc_fit", "sc_engagement", "sc_total", "sc_grade", "sc_knocked_out", "sc_qualifies", "sc_completeness"
    )
    return {row[0]: row[1:] for row in rows}


def python_scores(spec, now):
    out = {}
    for lead in Lead.objects.select_related("account"):
        r = explain(lead, spec, now)
        out[lead.id] = (r.fit, r.engagement, r.total, r.grade, r.knocked_out, r.qualifies, r.completeness)
    return out


# --- operators -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "values", "value", "expected"),
    [
        ("in", ["Software", "Retail"], "software", True),  # case-insensitive
        ("in", ["Software"], "Retail", False),
        ("in", ["Software"], "", False),  # unknown never satisfies in
        ("in", ["Software"], None, False),
        ("not_in", ["Software"], "Retail", True),
        ("not_in", ["Software"], "SOFTWARE", False),
        ("not_in", ["Software"], "", False),  # unknown never satisfies not_in either
        ("contains", ["market", "revenue"], "Head of Marketing", True),
        ("contains", ["market"], "CTO", False),
        ("contains", ["market"], None, False),
        ("known", [], "x", True),
        ("known", [], "", False),
        ("known", [], 0, True),  # zero employees is a known number
        ("unknown", [], None, True),
        ("unknown", [], "", True),
        ("unknown", [], "x", False),
        ("between", [200, 5000], 200, True),  # inclusive
        ("between", [200, 5000], 5000, True),
        ("between", [200, 5000], 5001, False),
        ("between", [200, 5000], None, False),
        ("gte", [100], 100, True),
        ("gte", [100], 99, False),
        ("lte", [20], 20, True),
        ("lte", [20], 21, False),
        ("lte", [20], None, False),
    ],
)
def test_condition_operators(operator, values, value, expected):
    assert condition_matches({"operator": operator, "values": values}, value) is expected


def test_fit_rules_add_their_points_and_negative_points_subtract():
    spec = spec_with(
        fit=[
            rule("industry", "in", ["Software"], 15, "f1"),
            rule("employees", "lte", [20], -10, "f2"),
            rule("seniority", "in", ["vp"], 10, "f3"),
        ]
    )
    result = score_lead({"industry": "Software", "employees": 12, "seniority": "director"}, {}, spec)
    assert result.fit == 5
    assert [h.rule_id for h in result.breakdown] == ["f1", "f2"]
    assert [h.points for h in result.breakdown] == [15, -10]


def test_grade_is_the_first_band_containing_the_fit_score():
    bands = [{"grade": "A", "min": 40, "max": None}, {"grade": "B", "min": 10, "max": 39}]
    assert grade_for(40, bands) == "A"
    assert grade_for(39, bands) == "B"
    assert grade_for(9, bands) == ""  # no band → no grade
    assert grade_for(-5, [{"grade": "D", "min": None, "max": None}]) == "D"


def test_knockout_blocks_qualification_but_keeps_the_score():
    spec = spec_with(
        fit=[rule("industry", "in", ["Software"], 60)],
        knockouts=[{"id": "k1", "field": "email_domain", "operator": "in", "values": ["gmail.com"], "label": "Free"}],
    )
    result = score_lead({"industry": "Software", "email_domain": "GMAIL.com"}, {}, spec)
    assert result.total == 60
    assert result.knocked_out
    assert not result.qualifies
    assert result.breakdown[-1].section == "knockout"
    assert result.breakdown[-1].label == "Free"


def test_qualifies_at_exactly_the_threshold():
    spec = spec_with(fit=[rule("industry", "in", ["Software"], 50)], threshold=50)
    assert score_lead({"industry": "Software"}, {}, spec).qualifies
    assert not score_lead({"industry": "Retail"}, {}, spec).qualifies


@pytest.mark.parametrize(
    ("points", "cap", "weight", "expected"),
    [
        (10, 30, 2, 20),
        (10, 30, 5, 30),  # capped
        (-20, 20, 3, -20),  # negative points are capped from below
        (7, None, 3, 21),  # no cap
        (1, 10, 2.5, 3),  # decayed weights round half up
        (1, 10, 2.49, 2),
        (-1, None, 2.5, -2),  # floor(x + 0.5): -2.5 → -2
    ],
)
def test_behaviour_points(points, cap, weight, expected):
    assert behaviour_points({"points": points, "cap": cap}, weight) == expected


def test_completeness_rounds_half_up():
    fields = ["industry", "employees", "country", "region", "job_title", "seniority", "department", "budget"]
    spec = spec_with(fit=[rule(f, "known", points=1, rule_id=f"f{i}") for i, f in enumerate(fields)])
    assert score_lead({"industry": "Software"}, {}, spec).completeness == 13  # 12.5 → 13
    assert score_lead({}, {}, spec_with()).completeness == 100  # nothing to know


def test_top_reasons_are_the_biggest_positive_contributions():
    spec = spec_with(
        fit=[rule("industry", "known", points=5, rule_id="a"), rule("country", "known", points=-3, rule_id="b")],
        behaviour=[{"id": "b1", "kind": "demo_request", "points": 30, "cap": None, "window_days": 30}],
    )
    result = score_lead({"industry": "x", "country": "GB"}, {"b1": 1}, spec)
    assert [h.rule_id for h in result.top_reasons()] == ["b1", "a"]


def test_breakdown_says_how_often_each_behaviour_counted():
    spec = spec_with(
        behaviour=[
            {"id": "b1", "kind": "demo_request", "points": 30, "cap": None, "window_days": 30},
            {"id": "b2", "kind": "web_visit", "points": 1, "cap": 10, "window_days": 30, "half_life_days": 14},
        ],
    )
    result = score_lead({}, {"b1": 2, "b2": 2.99381}, spec)
    assert {h.rule_id: h.detail for h in result.breakdown} == {"b1": "2 × in window", "b2": "2.99 after decay"}


def stage(current, *, qualifies=False, knocked_out=False, worked=False, new_version=True, held=False):
    return next_stage(
        current, qualifies=qualifies, knocked_out=knocked_out, worked=worked, new_version=new_version, held=held
    )


def test_next_stage_rule():
    assert stage("new", qualifies=True) == "mql"
    assert stage("nurture", qualifies=True) == "mql"
    assert stage("nurture", qualifies=True, new_version=False) == "mql"
    assert stage("new") == "new"
    assert stage("mql") == "nurture"
    assert stage("mql", worked=True) == "mql"
    assert stage("mql", knocked_out=True, worked=True) == "disqualified"
    for kept in ("sal", "sql", "won", "lost", "rejected", "disqualified"):
        assert stage(kept, knocked_out=True, worked=True) == kept
        assert stage(kept, qualifies=True) == kept


def test_an_unworked_mql_goes_back_to_nurture_only_under_a_new_version():
    assert stage("mql", new_version=True) == "nurture"
    # The same version again (activity batch, nightly decay): the lead stays in the SDR's queue.
    assert stage("mql", new_version=False) == "mql"


@pytest.mark.parametrize("current", ["new", "nurture", "mql"])
def test_knock_outs_disqualify_on_any_rescore(current):
    for new_version in (True, False):
        for held in (True, False):
            assert stage(current, knocked_out=True, new_version=new_version, held=held) == "disqualified"


def test_a_held_recycled_lead_stays_in_nurture_even_when_it_qualifies():
    assert stage("nurture", qualifies=True, held=True) == "nurture"
    assert stage("nurture", qualifies=True, held=False) == "mql"


def hold(*, revisit_on, engagement=0, stage="nurture", recycled=True, now=NOW):
    recycled_at = NOW - dt.timedelta(days=3) if recycled else None
    return recycle_hold(stage=stage, recycled_at=recycled_at, revisit_on=revisit_on, engagement=engagement, now=now)


def test_a_recycled_lead_is_held_until_its_revisit_date_unless_it_engages_again():
    today = NOW.date()
    assert hold(revisit_on=today + dt.timedelta(days=1))
    assert not hold(revisit_on=today + dt.timedelta(days=1), engagement=5)  # new engagement after the recycle
    assert hold(revisit_on=today + dt.timedelta(days=1), engagement=-20)  # an unsubscribe is no engagement
    assert not hold(revisit_on=today)  # the revisit date itself: the normal rule
    assert not hold(revisit_on=today - dt.timedelta(days=1))
    assert not hold(revisit_on=None)
    assert not hold(revisit_on=today + dt.timedelta(days=1), recycled=False)  # never recycled
    assert not hold(revisit_on=today + dt.timedelta(days=1), stage="new")


def test_the_revisit_date_is_compared_with_the_date_in_utc():
    revisit = dt.date(2026, 3, 11)
    berlin_just_after_midnight = dt.datetime(2026, 3, 11, 0, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert hold(revisit_on=revisit, now=berlin_just_after_midnight)  # still 10 March in UTC
    assert not hold(revisit_on=revisit, now=dt.datetime(2026, 3, 11, 0, 30, tzinfo=dt.UTC))


def test_persona_for_takes_the_first_matching_persona_by_id():
    class P:
        def __init__(self, id, kw, sen, dep):
            self.id, self.title_keywords, self.seniorities, self.departments = id, kw, sen, dep

    personas = [P(3, ["marketing"], [], []), P(2, ["Marketing"], ["vp"], []), P(1, [], [], [])]
    assert persona_for("VP Marketing", "vp", "marketing", personas) == 2
    assert persona_for("Marketing Ops", "manager", "", personas) == 3
    assert persona_for("CTO", "c_level", "it", personas) is None  # empty persona matches nobody


# --- activities: windows, decay, recycling ---------------------------------------------------------


@pytest.mark.django_db
def test_activity_weights_count_inside_the_window_only():
    lead = LeadFactory()
    rules = [
        {"id": "b1", "kind": "demo_request", "points": 30, "cap": None, "window_days": 30},
        {"id": "b2", "kind": "web_visit", "points": 1, "cap": 10, "window_days": 30, "half_life_days": 10},
    ]
    for days in (1, 29.9, 30, 31):
        ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=days))
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW + dt.timedelta(hours=1))  # future: ignored
    ActivityFactory(lead=lead, kind="web_visit", occurred_at=NOW - dt.timedelta(days=10))
    ActivityFactory(lead=lead, kind="web_visit", occurred_at=NOW)
    weights = activity_weights(lead, spec_with(behaviour=rules), NOW)
    assert weights == {"b1": 2, "b2": 1.5}  # 30 days ago is outside (strictly after now - window)


@pytest.mark.django_db
def test_recycled_lead_counts_only_activities_after_recycling():
    lead = LeadFactory(recycled_at=NOW - dt.timedelta(days=5))
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=6))
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=5))  # at recycling: out
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=4))
    spec = spec_with(behaviour=[{"id": "b1", "kind": "demo_request", "points": 10, "cap": None, "window_days": 90}])
    assert explain(lead, spec, NOW).engagement == 10
    assert sql_scores(spec, NOW)[lead.id][1] == 10


# --- the compiler agrees with the pure function --------------------------------------------------


@pytest.mark.django_db
def test_compiled_default_spec_matches_the_pure_function():
    spec = default_spec()
    leads = [
        LeadFactory(),
        LeadFactory(account=None, job_title="", seniority="", department=""),
        LeadFactory(account=AccountFactory(industry="", employees=None, region=""), budget="planned"),
        LeadFactory(email="x@leadforge.io", email_domain="leadforge.io"),
        LeadFactory(seniority="student", job_title="Revenue intern"),
        LeadFactory(account=AccountFactory(employees=10, industry="RETAIL", region="APAC")),
    ]
    kinds = ["demo_request", "pricing_page_visit", "web_visit", "email_click", "unsubscribe", "webinar_attended"]
    for i, lead in enumerate(leads):
        for j in range(i * 3):
            ActivityFactory(lead=lead, kind=kinds[j % len(kinds)], occurred_at=NOW - dt.timedelta(days=j * 7.3))
    assert sql_scores(spec, NOW) == python_scores(spec, NOW)


@pytest.mark.django_db
def test_compiled_operators_match_the_pure_function():
    spec = spec_with(
        fit=[
            rule("industry", "not_in", ["Retail"], 3, "f1"),
            rule("job_title", "contains", ["100%", "ops_"], 5, "f2"),  # LIKE wildcards are literal
            rule("annual_revenue", "between", [1_000_000, 50_000_000], 7, "f3"),
            rule("employees", "gte", [500], 11, "f4"),
            rule("country", "unknown", [], -4, "f5"),
            rule("timeline", "known", [], 2, "f6"),
            rule("region", "in", ["emea"], 1, "f7"),
        ],
        knockouts=[{"id": "k1", "field": "job_title", "operator": "contains", "values": ["Student"], "label": "S"}],
        bands=[{"grade": "B", "min": 10, "max": 20}, {"grade": "A", "min": 15, "max": None}],
    )
    LeadFactory(job_title="Gives 100% to ops", timeline="this_quarter")
    LeadFactory(job_title="Gives 1000 to opsX", account=AccountFactory(country="", annual_revenue=2_000_000))
    LeadFactory(job_title="PhD STUDENT", account=AccountFactory(industry="retail", employees=500))
    LeadFactory(account=None)
    assert sql_scores(spec, NOW) == python_scores(spec, NOW)


@pytest.mark.django_db
def test_persona_rules_compare_the_persona_id():
    persona = PersonaFactory()
    spec = spec_with(fit=[rule("persona", "in", [persona.id], 20)], threshold=20)
    matching = LeadFactory(persona=persona)
    other = LeadFactory()
    scores = sql_scores(spec, NOW)
    assert scores[matching.id][0] == 20
    assert scores[other.id][0] == 0
    assert scores == python_scores(spec, NOW)


@pytest.mark.django_db
def test_now_can_be_a_per_lead_expression():
    """The backtest scores each lead as of its own moment (here: its MQL time)."""
    spec = spec_with(
        behaviour=[
            {"id": "b1", "kind": "demo_request", "points": 10, "cap": 50, "window_days": 30},
            {"id": "b2", "kind": "web_visit", "points": 4, "cap": None, "window_days": 60, "half_life_days": 7},
        ]
    )
    early = LeadFactory(mql_at=NOW - dt.timedelta(days=40))
    late = LeadFactory(mql_at=NOW)
    for lead in (early, late):
        for days in (1, 20, 35, 45, 70):
            ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=days))
            ActivityFactory(lead=lead, kind="web_visit", occurred_at=NOW - dt.timedelta(days=days, hours=3))
    rows = dict(annotate_scores(Lead.objects.all(), spec, now=F("mql_at")).values_list("id", "sc_engagement"))
    for lead in (early, late):
        assert rows[lead.id] == explain(lead, spec, lead.mql_at).engagement
    assert rows[early.id] != rows[late.id]
    shifted = annotate_scores(Lead.objects.all(), spec, now=F("mql_at") + Value(dt.timedelta(days=1)))
    assert (
        dict(shifted.values_list("id", "sc_engagement"))[late.id]
        == explain(late, spec, NOW + dt.timedelta(days=1)).engagement
    )


def test_annotate_scores_refuses_a_naive_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        annotate_scores(Lead.objects.all(), spec_with(), now=dt.datetime(2026, 1, 1))


@pytest.mark.django_db
def test_annotate_scores_with_now_from_the_clock_scores_recent_activity():
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=timezone.now() - dt.timedelta(hours=1))
    spec = default_spec()
    assert sql_scores(spec, timezone.now())[lead.id][1] == 30
