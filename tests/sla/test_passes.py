"""The pass table follows the log and the leads without anyone calling it: triggers queue, refresh catches up."""

from __future__ import annotations

import zoneinfo

from leads.inbox.services import lead_accept, lead_reject, lead_undo
from leads.models import Lead, Team, Transition
from sla.clock import current_terms
from sla.figures import Drill, DrillRows, Scope, compute
from sla.models import DirtyLead, Pass
from sla.passes import refresh
from tests.sla.conftest import at
from tests.sla.reference import brute_force

NOW = at("2026-03-04 12:00")


def scope(**kw):
    return Scope(start=at("2026-03-01 00:00"), end=at("2026-03-05 00:00"), tz=zoneinfo.ZoneInfo("UTC"), now=NOW, **kw)


def test_new_transitions_and_lead_changes_mark_the_lead_dirty(agreement, sdr, sdr2, make_mql):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    assert DirtyLead.objects.filter(lead_id=lead.pk).exists()
    refresh(terms=current_terms(), now=NOW)
    assert not DirtyLead.objects.exists()
    assert Pass.objects.get(lead=lead, stage="mql").owner_id == sdr.pk
    Lead.objects.filter(pk=lead.pk).update(owner=sdr2)  # a manager reassigns: no transition
    assert DirtyLead.objects.filter(lead_id=lead.pk).exists()
    Lead.objects.filter(pk=lead.pk).update(fit_score=42)  # rescoring columns do not queue anything
    assert DirtyLead.objects.count() == 1


def figures(**kw) -> dict:
    refresh(terms=current_terms(), now=NOW)  # the task's job after every change
    return compute(scope(**kw))


def test_figures_follow_a_reassigned_open_mql_and_a_team_change(agreement, sdr, sdr2, team, make_mql):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    assert figures(sdr_id=sdr.pk)["open_now"]["open"] == 1
    Lead.objects.filter(pk=lead.pk).update(owner=sdr2)
    assert figures(sdr_id=sdr.pk)["open_now"]["open"] == 0
    assert figures(sdr_id=sdr2.pk)["open_now"]["open"] == 1
    other = Team.objects.create(name="Field Sales")
    Lead.objects.filter(pk=lead.pk).update(team=other)
    assert figures(team_id=team.pk)["mql"]["delivered"] == 0
    assert figures(team_id=other.pk)["mql"]["delivered"] == 1


def test_a_changed_calendar_rebuilds_every_pass(agreement, sdr, make_mql):
    make_mql(sdr, at("2026-03-02 09:00"))
    refresh(terms=current_terms(), now=NOW)
    old_key = Pass.objects.get(stage="mql").calendar_key
    agreement.spec["sla"]["calendar"]["start"] = "08:00"
    agreement.save()
    assert refresh(terms=current_terms(), now=NOW) == -1
    assert Pass.objects.get(stage="mql").calendar_key != old_key
    assert compute(scope())["open_now"]["overdue"] == 1  # 08:00 opening: more business time used


def test_an_accept_undone_within_seconds_is_no_acceptance_anywhere(agreement, sdr, make_mql):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    refresh(terms=current_terms(), now=NOW)
    accepted = lead_accept(lead_id=lead.pk, user=sdr, now=at("2026-03-03 10:00"))
    refresh(terms=current_terms(), now=NOW)  # the accept's own refresh: the SAL pass is stored
    assert compute(scope())["decisions"]["accepted"] == 1
    last = Transition.objects.filter(lead=accepted).latest("at", "id")
    lead_undo(lead_id=lead.pk, user=sdr, transition_id=last.pk, now=at("2026-03-03 10:00:05"))
    f = figures()
    assert f["decisions"]["accepted"] == 0
    assert f["decisions"]["open"] == 1
    assert f["mql"]["delivered"] == 1  # the undo does not hand the lead over a second time
    assert f["open_now"]["open"] == 1
    assert {s["stage"]: s["count"] for s in f["funnel"]}["sal"] == 0
    assert not Pass.objects.filter(lead=lead, stage="sal").exists()
    assert list(DrillRows(scope(), Drill(metric="accepted"), current_terms())[:10]) == []
    assert [r["lead_id"] for r in DrillRows(scope(), Drill(metric="open"), current_terms())[:10]] == [lead.pk]
    leads = {lead.pk: Lead.objects.get(pk=lead.pk)}
    expected = brute_force(list(Transition.objects.all()), leads, scope(), current_terms())
    assert expected["kinds"].get("accepted", 0) == 0
    assert expected["delivered"] == f["mql"]["delivered"]
    assert expected["open_now"] == f["open_now"]


def test_a_rejection_undone_is_no_rejection_and_the_later_accept_counts(agreement, sdr, make_mql):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    lead_reject(lead_id=lead.pk, user=sdr, reason_code="bad_fit", note="Wrong industry", now=at("2026-03-02 09:30"))
    last = Transition.objects.filter(lead=lead).latest("at", "id")
    lead_undo(lead_id=lead.pk, user=sdr, transition_id=last.pk, now=at("2026-03-02 09:30:10"))
    lead_accept(lead_id=lead.pk, user=sdr, now=at("2026-03-02 11:00"))
    f = figures()
    assert f["decisions"]["rejected"] == 0
    assert f["decisions"]["accepted"] == 1
    assert f["mql"]["delivered"] == 1
    assert f["response"]["median_hours"] == 2.0  # measured to the accept, not to the undone rejection
