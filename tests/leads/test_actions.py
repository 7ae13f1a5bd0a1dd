"""Lifecycle actions of the inbox (leads.inbox.services): one transition each, clear errors, no double writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from leads.inbox.routing import route_mqls
from leads.inbox.services import (
    LeadError,
    lead_accept,
    lead_bulk_accept,
    lead_bulk_reject,
    lead_claim,
    lead_claim_next,
    lead_convert,
    lead_disqualify,
    lead_mark_lost,
    lead_mark_won,
    lead_reassign,
    lead_recycle,
    lead_reject,
    member_set_away,
    note_add,
)
from leads.models import Assignment, Lead, Stage, Team, TeamMember, Transition
from portal.access import Role
from tests.factories import AgreementVersionFactory, MqlFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


@pytest.fixture
def version(db):
    return AgreementVersionFactory()


def _moves(lead):
    return list(Transition.objects.filter(lead=lead).exclude(to_stage=Stage.MQL).values_list("from_stage", "to_stage"))


def test_accepting_an_own_mql_makes_it_a_sal_with_one_transition(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    lead_accept(lead_id=lead.id, user=sdr)

    lead.refresh_from_db()
    assert lead.stage == Stage.SAL
    assert lead.first_action_at is not None
    t = Transition.objects.get(lead=lead, to_stage=Stage.SAL)
    assert (t.from_stage, t.actor, t.owner, t.agreement_version) == (Stage.MQL, sdr, sdr, version)
    assert (t.score, t.grade) == (75, "A")


def test_accepting_twice_gives_one_transition_and_a_readable_error(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)

    with pytest.raises(LeadError, match="You already accepted"):
        lead_accept(lead_id=lead.id, user=sdr)

    assert _moves(lead) == [(Stage.MQL, Stage.SAL)]


def test_sdr_cannot_act_on_another_sdrs_lead(version, team, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr2)

    with pytest.raises(LeadError, match="belongs to"):
        lead_accept(lead_id=lead.id, user=sdr)
    with pytest.raises(LeadError, match="belongs to"):
        lead_reject(lead_id=lead.id, user=sdr, reason_code="bad_fit", note="x")

    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, sdr2)
    assert _moves(lead) == []


def test_acting_on_an_unassigned_mql_claims_it(version, team, sdr):
    lead = MqlFactory(team=team, owner=None)

    lead_accept(lead_id=lead.id, user=sdr)

    lead.refresh_from_db()
    assert lead.owner == sdr
    a = Assignment.objects.get(lead=lead)
    assert (a.from_owner, a.to_owner, a.reason, a.actor) == (None, sdr, Assignment.Reason.CLAIMED, sdr)


def test_manager_cannot_accept_an_unassigned_lead_but_can_assign_it(version, team, manager, sdr):
    lead = MqlFactory(team=team, owner=None)

    with pytest.raises(LeadError, match="unassigned"):
        lead_accept(lead_id=lead.id, user=manager)

    lead_reassign(lead_id=lead.id, user=manager, to_user_id=sdr.id)
    lead.refresh_from_db()
    assert lead.owner == sdr
    a = Assignment.objects.get(lead=lead)
    assert (a.from_owner, a.to_owner, a.reason, a.actor) == (None, sdr, Assignment.Reason.REASSIGNED, manager)


def test_recycle_needs_an_agreement_reason_and_a_future_date(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    with pytest.raises(LeadError, match="recycle reasons"):
        lead_recycle(lead_id=lead.id, user=sdr, reason_code="made_up", revisit_on=TOMORROW)
    with pytest.raises(LeadError, match="future"):
        lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=timezone.localdate())

    assert _moves(lead) == []


def test_recycle_sends_the_lead_to_nurture_and_restarts_engagement(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=TOMORROW, note="Q3 budget")

    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE
    assert lead.owner is None
    assert lead.recycled_at is not None and lead.revisit_on == TOMORROW
    assert lead.engagement_score == 0 and lead.score == lead.fit_score
    t = Transition.objects.get(lead=lead, to_stage=Stage.NURTURE)
    assert (t.reason_code, t.note, t.owner, t.score) == ("no_budget", "Q3 budget", sdr, 75)
    released = Assignment.objects.get(lead=lead)
    assert (released.from_owner, released.to_owner, released.reason) == (sdr, None, Assignment.Reason.RELEASED)


def test_reject_needs_an_agreement_reason_and_a_note(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    with pytest.raises(LeadError, match="reject reasons"):
        lead_reject(lead_id=lead.id, user=sdr, reason_code="no_budget", note="x")
    with pytest.raises(LeadError, match="note"):
        lead_reject(lead_id=lead.id, user=sdr, reason_code="bad_fit", note="  ")

    lead_reject(lead_id=lead.id, user=sdr, reason_code="bad_fit", note="Agency, not a buyer")
    lead.refresh_from_db()
    assert lead.stage == Stage.REJECTED
    assert Transition.objects.get(lead=lead, to_stage=Stage.REJECTED).reason_code == "bad_fit"


def test_disqualify_from_mql(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    lead_disqualify(lead_id=lead.id, user=sdr, note="Fake e-mail")

    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED
    assert _moves(lead) == [(Stage.MQL, Stage.DISQUALIFIED)]


def test_sal_converts_to_sql_with_a_positive_amount_then_wins(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)

    with pytest.raises(LeadError, match="more than zero"):
        lead_convert(lead_id=lead.id, user=sdr, amount=Decimal("0"))
    lead_convert(lead_id=lead.id, user=sdr, amount=Decimal("25000"))
    lead_mark_won(lead_id=lead.id, user=sdr)

    lead.refresh_from_db()
    assert lead.stage == Stage.WON
    assert lead.opportunity_amount == Decimal("25000")
    assert _moves(lead) == [(Stage.MQL, Stage.SAL), (Stage.SAL, Stage.SQL), (Stage.SQL, Stage.WON)]


def test_lost_needs_a_note_and_only_comes_from_sql(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)

    with pytest.raises(LeadError, match="can no longer be marked as lost"):
        lead_mark_lost(lead_id=lead.id, user=sdr, note="x")
    lead_accept(lead_id=lead.id, user=sdr)
    lead_convert(lead_id=lead.id, user=sdr, amount=Decimal("10"))
    with pytest.raises(LeadError, match="note"):
        lead_mark_lost(lead_id=lead.id, user=sdr, note="")
    lead_mark_lost(lead_id=lead.id, user=sdr, note="Went with a competitor")

    assert Lead.objects.get(pk=lead.pk).stage == Stage.LOST


def test_first_action_stops_the_sla_clock_once(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    first = timezone.now()
    lead_accept(lead_id=lead.id, user=sdr, now=first)
    lead_convert(lead_id=lead.id, user=sdr, amount=Decimal("5"), now=first + dt.timedelta(hours=2))

    lead.refresh_from_db()
    assert lead.first_action_at == first


def test_claim_next_takes_the_most_urgent_unassigned_mql(version, team, sdr):
    now = timezone.now()
    later = MqlFactory(team=team, sla_due_at=now + dt.timedelta(hours=5))
    urgent = MqlFactory(team=team, sla_due_at=now + dt.timedelta(hours=1))
    MqlFactory(team=team, owner=sdr, sla_due_at=now)  # already owned

    claimed = lead_claim_next(user=sdr)

    assert claimed.pk == urgent.pk
    assert Lead.objects.get(pk=urgent.pk).owner == sdr
    assert Lead.objects.get(pk=later.pk).owner is None
    assert Assignment.objects.get(lead=urgent).reason == Assignment.Reason.CLAIMED


def test_claim_next_on_an_empty_queue_says_so(version, team, sdr):
    with pytest.raises(LeadError, match="queue is empty"):
        lead_claim_next(user=sdr)


def test_claim_respects_capacity_and_out_of_office(version, team, sdr):
    TeamMember.objects.filter(user=sdr).update(capacity=1)
    MqlFactory(team=team, owner=sdr)
    free = MqlFactory(team=team)

    with pytest.raises(LeadError, match="capacity"):
        lead_claim(lead_id=free.id, user=sdr)

    TeamMember.objects.filter(user=sdr).update(capacity=5, away_until=timezone.now() + dt.timedelta(days=1))
    with pytest.raises(LeadError, match="out of office"):
        lead_claim_next(user=sdr)


def test_claiming_a_lead_someone_else_took_names_them(version, team, sdr, sdr2):
    lead = MqlFactory(team=team)
    lead_claim(lead_id=lead.id, user=sdr2)

    with pytest.raises(LeadError, match="already taken"):
        lead_claim(lead_id=lead.id, user=sdr)
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_only_the_teams_manager_reassigns(version, team, manager, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr)
    other_manager = UserFactory(username="boss2", roles=[Role.MANAGER])

    with pytest.raises(LeadError, match="manager of the lead's team"):
        lead_reassign(lead_id=lead.id, user=other_manager, to_user_id=sdr2.id)
    with pytest.raises(LeadError, match="manager of the lead's team"):
        lead_reassign(lead_id=lead.id, user=sdr, to_user_id=sdr2.id)
    with pytest.raises(LeadError, match="already belongs"):
        lead_reassign(lead_id=lead.id, user=manager, to_user_id=sdr.id)
    with pytest.raises(LeadError, match="active SDR"):
        lead_reassign(lead_id=lead.id, user=manager, to_user_id=other_manager.id)

    lead_reassign(lead_id=lead.id, user=manager, to_user_id=sdr2.id)
    lead.refresh_from_db()
    assert lead.owner == sdr2
    a = Assignment.objects.get(lead=lead)
    assert (a.from_owner, a.to_owner, a.reason, a.actor) == (sdr, sdr2, Assignment.Reason.REASSIGNED, manager)


def test_bulk_accept_reports_which_leads_failed_and_why(version, team, sdr, sdr2):
    mine = [MqlFactory(team=team, owner=sdr) for _ in range(2)]
    theirs = MqlFactory(team=team, owner=sdr2)

    result = lead_bulk_accept(lead_ids=[mine[0].id, theirs.id, mine[1].id, mine[0].id], user=sdr)

    assert [lead.id for lead in result.done] == [mine[0].id, mine[1].id]
    assert [pk for pk, _ in result.failed] == [theirs.id]
    assert "belongs to" in result.failed[0][1]
    assert Lead.objects.filter(stage=Stage.SAL).count() == 2


def test_bulk_reject_writes_one_transition_per_lead(version, team, sdr):
    leads = [MqlFactory(team=team, owner=sdr) for _ in range(3)]

    result = lead_bulk_reject(lead_ids=[x.id for x in leads], user=sdr, reason_code="bad_data", note="List import junk")

    assert len(result.done) == 3 and not result.failed
    assert Transition.objects.filter(to_stage=Stage.REJECTED, reason_code="bad_data").count() == 3


def test_out_of_office_must_end_in_the_future(team, sdr):
    with pytest.raises(LeadError, match="future"):
        member_set_away(user=sdr, until=timezone.now() - dt.timedelta(hours=1))
    until = timezone.now() + dt.timedelta(days=3)
    assert member_set_away(user=sdr, until=until).away_until == until
    assert member_set_away(user=sdr, until=None).away_until is None


def test_notes_cannot_be_empty(team, sdr):
    lead = MqlFactory(team=team)
    with pytest.raises(LeadError):
        note_add(lead_id=lead.id, user=sdr, body="   ")
    assert note_add(lead_id=lead.id, user=sdr, body=" Called, voicemail ").body == "Called, voicemail"


def test_without_an_active_agreement_transitions_carry_no_version(team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)
    assert Transition.objects.get(lead=lead, to_stage=Stage.SAL).agreement_version is None


def test_pull_team_members_claim_within_their_team_only(version, team, sdr):
    other = Team.objects.create(name="Enterprise", routing=Team.Routing.PULL)
    TeamMemberFactory(team=other, user=UserFactory(username="ent", roles=[Role.SDR]))
    MqlFactory(team=other)

    with pytest.raises(LeadError, match="queue is empty"):
        lead_claim_next(user=sdr)


def test_a_claim_counts_as_the_sdrs_latest_assignment_for_round_robin(version, team, sdr, sdr2):
    # sdr2 was served longer ago than sdr, so round robin would pick sdr2 next, unless sdr2 just claimed.
    now = timezone.now()
    TeamMember.objects.filter(user=sdr).update(last_assigned_at=now - dt.timedelta(hours=1))
    TeamMember.objects.filter(user=sdr2).update(last_assigned_at=now - dt.timedelta(hours=2))
    picked = MqlFactory(team=team)
    lead_claim(lead_id=picked.id, user=sdr2)
    routed = MqlFactory(team=team)

    route_mqls(lead_ids=[routed.id])

    assert TeamMember.objects.get(user=sdr2).last_assigned_at >= now
    assert Lead.objects.get(pk=routed.pk).owner == sdr
