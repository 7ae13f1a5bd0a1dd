"""The inbox row's shortcuts give exactly what the reference functions give.

A row shows the top three reasons from ``ReasonRules`` (not a full ``score_lead`` per row) and an
SLA clock from ``BusinessClock`` (running totals, not a day-by-day walk): both are checked here
against ``score_lead(...).top_reasons(3)`` and ``BusinessCalendar.hours_between``.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from alignment import spec as vocab
from alignment.calendar import BusinessCalendar
from leads.inbox.selectors import BusinessClock, ReasonRules, sla_clock
from leads.models import Lead
from leads.scoring.scorer import score_lead

NAMES = {1: "Demand-gen leader", 2: "IT buyer"}
TEXT = st.sampled_from(["", "Software", "software", "Retail", "Marketing Director", "vp", "EMEA", "confirmed"])
RULE_IDS = [r["id"] for r in vocab.default_spec()["behaviour_rules"]]


@st.composite
def facts(draw):
    return {
        "industry": draw(st.one_of(st.none(), st.sampled_from(vocab.INDUSTRIES), TEXT)),
        "employees": draw(st.one_of(st.none(), st.integers(0, 8000))),
        "annual_revenue": draw(st.one_of(st.none(), st.integers(0, 10**9))),
        "country": draw(st.one_of(st.none(), st.sampled_from(list(vocab.COUNTRIES)))),
        "region": draw(st.one_of(st.none(), st.sampled_from(["EMEA", "North America", "APAC", ""]))),
        "job_title": draw(TEXT),
        "seniority": draw(st.sampled_from([s for s, _ in vocab.SENIORITIES] + [""])),
        "department": draw(TEXT),
        "persona": draw(st.sampled_from([None, 1, 2, 3])),
        "budget": draw(st.sampled_from(["", "confirmed", "planned", "none", "CONFIRMED"])),
        "authority": draw(TEXT),
        "need": draw(TEXT),
        "timeline": draw(TEXT),
        "source": draw(st.sampled_from([s for s, _ in vocab.SOURCES] + [""])),
        "email_domain": draw(TEXT),
    }


@st.composite
def specs(draw):
    spec = vocab.default_spec()
    extra = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "field": st.sampled_from(["industry", "job_title", "seniority", "budget", "persona", "employees"]),
                    "operator": st.sampled_from(["in", "not_in", "contains", "known", "unknown"]),
                    "points": st.sampled_from([-10, 0, 5, 10, 15, 30]),
                }
            ),
            max_size=4,
        )
    )
    for i, rule in enumerate(extra):
        if rule["field"] == "employees":
            rule.update(operator="between", values=[100, 1000])
        elif rule["field"] == "persona":
            rule["values"] = [1, 3] if rule["operator"] in ("in", "not_in", "contains") else []
        else:
            rule["values"] = ["software", "VP", "Confirmed"] if rule["operator"] not in ("known", "unknown") else []
        spec["fit_rules"].append({**rule, "id": f"x{i}"})
    if draw(st.booleans()):
        spec["behaviour_rules"][0]["half_life_days"] = 7
    return spec


@settings(max_examples=300, deadline=None)
@given(
    spec=specs(),
    lead=facts(),
    weights=st.dictionaries(st.sampled_from(RULE_IDS), st.sampled_from([0, 1, 2, 3, 0.4, 1.7, 12])),
)
def test_row_reasons_are_score_leads_top_three(spec, lead, weights):
    expected = score_lead(lead, weights, spec, NAMES).top_reasons(3)
    rules = ReasonRules(spec, NAMES)

    reasons = rules.reasons(lead, weights)

    assert [(r.points, r.full) for r in reasons] == [(h.points, h.label) for h in expected]
    assert [rule["id"] for rule, *_ in rules.hits(lead, weights)] == [h.rule_id for h in expected]
    for reason, hit in zip(reasons, expected, strict=True):
        if hit.section == "behaviour":
            assert reason.short.endswith(f"×{hit.detail.split(' ')[0]}")


def test_a_behaviour_chip_counts_occurrences_and_a_fit_chip_names_the_fact():
    spec = vocab.default_spec()
    lead = {"industry": "Software", "employees": 800, "seniority": "vp", "budget": "confirmed", "persona": 1}

    reasons = ReasonRules(spec, NAMES).reasons(lead, {"b1": 2})

    assert reasons[0].short == "Demo request ×2" and reasons[0].points == 30
    assert {r.short for r in reasons[1:]} <= {"Industry: Software", "Employee count: 800"}


LONDON = BusinessCalendar.from_spec(
    {
        "time_zone": "Europe/London",
        "working_days": [0, 1, 2, 3, 4],
        "start": "09:00",
        "end": "17:30",
        "holidays": ["2026-03-30", "2026-12-25"],
    }
)
# Two weeks around the spring clock change (Sunday 29 March 2026), with a holiday the day after.
ORIGIN = dt.datetime(2026, 3, 20, tzinfo=dt.UTC)
INSTANT = st.integers(0, 21 * 86400 * 10**6).map(lambda us: ORIGIN + dt.timedelta(microseconds=us))


@settings(max_examples=500, deadline=None)
@given(a=INSTANT, b=INSTANT, c=INSTANT, d=INSTANT)
def test_business_clock_equals_the_calendar_to_the_microsecond(a, b, c, d):
    clock = BusinessClock(LONDON, min(a, b), max(a, b))

    # Inside the covered days and (for c, d) possibly outside them: the calendar answers those.
    assert clock.hours_between(a, b) == LONDON.hours_between(a, b)
    assert clock.hours_between(b, a) == LONDON.hours_between(b, a)
    assert clock.hours_between(c, d) == LONDON.hours_between(c, d)
    assert clock.hours_between(min(a, b), c) == LONDON.hours_between(min(a, b), c)


def test_business_clock_for_a_page_covers_overdue_and_future_leads():
    now = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
    leads = [
        Lead(mql_at=now - dt.timedelta(days=40), sla_due_at=now - dt.timedelta(days=39)),
        Lead(mql_at=now - dt.timedelta(hours=2), sla_due_at=now + dt.timedelta(days=3)),
        Lead(mql_at=now - dt.timedelta(hours=5), first_action_at=now - dt.timedelta(hours=1), sla_due_at=now),
    ]
    clock = BusinessClock.for_leads(LONDON, leads, now)

    assert clock.first == dt.date(2026, 2, 19) and clock.last == dt.date(2026, 4, 3)
    for lead in leads:
        assert sla_clock(lead, clock, now) == sla_clock(lead, LONDON, now)
