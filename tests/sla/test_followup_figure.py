"""The "Accepted leads followed up in time" figure counts logged attempts against the agreement's terms."""

from __future__ import annotations

import zoneinfo

import pytest

from leads.models import FollowUpAttempt
from sla import services
from sla.clock import current_terms
from sla.figures import Drill, DrillRows, Scope, compute, iso_week_bounds
from tests.factories import LeadFactory
from tests.sla.conftest import at, history, refreshed

LONDON = zoneinfo.ZoneInfo("Europe/London")
NOW = at("2026-03-16 12:00")  # a Monday; the leads were accepted in W10 (2–8 March)


def attempts(lead, user, *times):
    for when in times:
        FollowUpAttempt.objects.create(
            lead=lead, channel="call", outcome="no_answer", at=at(when), logged_by=user, logged_at=at(when)
        )


def accepted(sdr, team, when, *then):
    lead = LeadFactory(owner=sdr, team=team, grade="A")
    history(lead, ("new", at("2026-02-27 10:00")), ("mql", at("2026-03-02 09:00")), ("sal", at(when), sdr), *then)
    return lead


@pytest.fixture
def week(agreement, sdr, team):
    """Six leads accepted in W10 under 3 attempts within 5 business days (8.5 h a day: 42.5 h)."""
    kept = accepted(sdr, team, "2026-03-02 10:00")
    attempts(kept, sdr, "2026-03-02 11:00", "2026-03-03 10:00", "2026-03-04 10:00")
    late = accepted(sdr, team, "2026-03-02 10:00")  # due Monday 9 March 10:00
    attempts(late, sdr, "2026-03-02 11:00", "2026-03-03 10:00", "2026-03-09 11:00")
    missing = accepted(sdr, team, "2026-03-03 10:00")
    attempts(missing, sdr, "2026-03-03 11:00")
    converted = accepted(sdr, team, "2026-03-02 10:00", ("sql", at("2026-03-04 15:00"), sdr))
    attempts(converted, sdr, "2026-03-02 11:00", "2026-03-03 11:00", "2026-03-04 11:00")
    recycled = accepted(sdr, team, "2026-03-02 10:00", ("nurture", at("2026-03-03 10:00"), sdr, "too_early"))
    # Attempts after the lead left SAL do not count for the pass that ended.
    attempts(recycled, sdr, "2026-03-02 11:00", "2026-03-03 12:00", "2026-03-03 13:00")
    # Accepted Friday 16:00: the weekend uses none of the period, so the next Friday 15:00 is in time.
    weekend = accepted(sdr, team, "2026-03-06 16:00")
    attempts(weekend, sdr, "2026-03-06 16:30", "2026-03-07 10:00", "2026-03-13 15:00")
    return {"kept": kept, "late": late, "missing": missing, "converted": converted, "recycled": recycled}


def w10(team) -> Scope:
    start, end = iso_week_bounds(2026, 10, LONDON)
    return Scope(start=start, end=end, tz=LONDON, now=NOW, team_id=team.pk)


def test_the_figure_counts_attempts_within_the_business_days_after_acceptance(week, team):
    refreshed(NOW)
    f = compute(w10(team), terms=current_terms())
    assert {k: f["followup"][k] for k in ("n", "kept", "missed", "pending")} == {
        "n": 6,
        "kept": 3,  # three in time, converted after three, three across a weekend
        "missed": 3,  # third attempt late, only one attempt, recycled after one
        "pending": 0,
    }
    assert f["followup"]["attempts"] == 3 and f["followup"]["days"] == 5


def test_the_drill_down_lists_the_leads_behind_kept_and_missed(week, team):
    refreshed(NOW)
    terms = current_terms()
    kept = DrillRows(w10(team), Drill(metric="followup_kept"), terms)
    missed = DrillRows(w10(team), Drill(metric="followup_missed"), terms)
    assert kept.count() == 3 and missed.count() == 3
    missed_ids = {row["lead_id"] for row in missed[0:10]}
    assert missed_ids == {week["late"].pk, week["missing"].pk, week["recycled"].pk}


def test_the_weekly_report_counts_attempts_too(week, team):
    report = services.report_generate(team_id=team.pk, iso_year=2026, iso_week=10, now=NOW)
    assert {k: report.figures["followup"][k] for k in ("n", "kept", "missed")} == {"n": 6, "kept": 3, "missed": 3}


@pytest.mark.parametrize(("holidays", "kept"), [([], 0), (["2026-03-09"], 1)])
def test_a_holiday_extends_the_follow_up_period(agreement, sdr, team, holidays, kept):
    agreement.spec["sla"]["calendar"]["holidays"] = holidays
    agreement.save()
    lead = accepted(sdr, team, "2026-03-05 10:00")
    # Thursday 10:00 → next Friday 09:00 is 50 business hours, 41.5 with Monday 9 March off.
    attempts(lead, sdr, "2026-03-05 11:00", "2026-03-06 11:00", "2026-03-13 09:00")
    refreshed(NOW)
    f = compute(w10(team), terms=current_terms())
    assert (f["followup"]["kept"], f["followup"]["missed"]) == (kept, 1 - kept)


def test_an_open_lead_inside_its_period_is_pending_until_its_attempts_are_logged(agreement, sdr, team):
    lead = accepted(sdr, team, "2026-03-06 10:00")
    attempts(lead, sdr, "2026-03-06 11:00", "2026-03-09 11:00")
    now = at("2026-03-10 12:00")
    scope = Scope(start=w10(team).start, end=w10(team).end, tz=LONDON, now=now, team_id=team.pk)
    refreshed(now)
    f = compute(scope, terms=current_terms())
    assert (f["followup"]["kept"], f["followup"]["missed"], f["followup"]["pending"]) == (0, 0, 1)
    attempts(lead, sdr, "2026-03-10 11:00")
    f = compute(scope, terms=current_terms())  # a read: the logged attempt counts without a refresh
    assert (f["followup"]["kept"], f["followup"]["missed"], f["followup"]["pending"]) == (1, 0, 0)
