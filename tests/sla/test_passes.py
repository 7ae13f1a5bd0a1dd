"""The pass table follows the log and the leads without anyone calling it: triggers queue, refresh catches up."""

from __future__ import annotations

import zoneinfo

from leads.models import Lead, Team
from sla.clock import current_terms
from sla.figures import Scope, compute
from sla.models import DirtyLead, Pass
from sla.passes import refresh
from tests.sla.conftest import at

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
