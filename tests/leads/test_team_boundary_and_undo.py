"""Teams are a boundary for claiming and acting; an action can be undone by its author right after."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.inbox.services import (
    UNDO_WINDOW,
    LeadError,
    lead_accept,
    lead_claim,
    lead_convert,
    lead_reassign,
    lead_recycle,
    lead_reject,
    lead_undo,
)
from leads.models import Lead, Stage, Transition
from portal.access import Role
from tests.factories import AgreementVersionFactory, MqlFactory, TeamFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + dt.timedelta(days=1)


@pytest.fixture
def version(db):
    return AgreementVersionFactory()


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Field Sales")


@pytest.fixture
def other_sdr(db, other_team):
    user = UserFactory(username="sdr-field", roles=[Role.SDR])
    TeamMemberFactory(team=other_team, user=user)
    return user


def _moves(lead) -> list[tuple[str, str]]:
    """The moves people made (the factory's entry into MQL is the system's)."""
    people = Transition.objects.filter(lead=lead, actor__isnull=False).order_by("at", "id")
    return list(people.values_list("from_stage", "to_stage"))


# --- teams ------------------------------------------------------------------------------------


def test_an_sdr_cannot_claim_a_lead_of_another_team_by_id(version, team, sdr, other_team):
    lead = MqlFactory(team=other_team)

    with pytest.raises(LeadError, match="Field Sales"):
        lead_claim(lead_id=lead.id, user=sdr)

    lead.refresh_from_db()
    assert lead.owner is None


@pytest.mark.parametrize("act", ["accept", "recycle", "reject"])
def test_an_sdr_cannot_take_a_lead_of_another_team_by_acting_on_it(version, team, sdr, other_team, act):
    lead = MqlFactory(team=other_team)
    run = {
        "accept": lambda: lead_accept(lead_id=lead.id, user=sdr),
        "recycle": lambda: lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=TOMORROW),
        "reject": lambda: lead_reject(lead_id=lead.id, user=sdr, reason_code="bad_fit", note="Wrong company"),
    }[act]

    with pytest.raises(LeadError, match="only its SDRs"):
        run()

    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, None)
    assert _moves(lead) == []


def test_an_sdr_takes_leads_of_her_team_or_of_no_team(version, team, sdr):
    own = MqlFactory(team=team)
    teamless = MqlFactory(team=None)

    lead_claim(lead_id=own.id, user=sdr)
    lead_accept(lead_id=teamless.id, user=sdr)

    assert Lead.objects.get(pk=own.pk).owner == sdr
    assert Lead.objects.get(pk=teamless.pk).stage == Stage.SAL


def test_the_claim_view_refuses_another_teams_lead(login, version, team, sdr, other_team):
    lead = MqlFactory(team=other_team)

    response = login(sdr).post(reverse("leads:claim", args=[lead.pk]), {"ctx": "row"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 409
    assert "only its SDRs" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).owner is None


def test_the_lead_page_offers_no_action_on_another_teams_lead(login, version, team, sdr, other_team):
    lead = MqlFactory(team=other_team)

    page = login(sdr).get(reverse("leads:lead_detail", args=[lead.pk]))

    assert page.context["can_act"] is False and page.context["can_claim"] is False


def test_managers_reassign_only_within_their_teams(version, team, manager, sdr, sdr2, other_team, other_sdr):
    other_manager = UserFactory(username="field-boss", roles=[Role.MANAGER])
    other_team.manager = other_manager
    other_team.save(update_fields=["manager"])
    ours, theirs = MqlFactory(team=team, owner=sdr), MqlFactory(team=other_team, owner=other_sdr)

    with pytest.raises(LeadError, match="manager of the lead's team"):
        lead_reassign(lead_id=theirs.id, user=manager, to_user_id=sdr2.id)
    with pytest.raises(LeadError, match="active SDR"):
        lead_reassign(lead_id=ours.id, user=manager, to_user_id=other_sdr.id)
    lead_reassign(lead_id=ours.id, user=manager, to_user_id=sdr2.id)

    assert Lead.objects.get(pk=ours.pk).owner == sdr2
    assert Lead.objects.get(pk=theirs.pk).owner == other_sdr


# --- undo -------------------------------------------------------------------------------------


def _last(lead) -> Transition:
    return Transition.objects.filter(lead=lead).order_by("-at", "-id").first()


def test_undoing_an_accept_is_a_transition_back_recorded_with_who_and_when(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)

    lead_undo(lead_id=lead.id, user=sdr, transition_id=_last(lead).pk)

    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, sdr)
    back = _last(lead)
    assert (back.from_stage, back.to_stage, back.actor, back.reason_code) == (Stage.SAL, Stage.MQL, sdr, "undo")
    assert back.at is not None and back.note


def test_undoing_a_recycle_gives_the_lead_back_to_its_sdr(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=TOMORROW)

    lead_undo(lead_id=lead.id, user=sdr, transition_id=_last(lead).pk)

    lead.refresh_from_db()
    assert (lead.stage, lead.owner, lead.revisit_on, lead.recycled_at) == (Stage.MQL, sdr, None, None)
    assert lead.engagement_score == 30


def test_undoing_a_conversion_drops_the_opportunity(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)
    lead_convert(lead_id=lead.id, user=sdr, amount=Decimal("5000"))

    lead_undo(lead_id=lead.id, user=sdr, transition_id=_last(lead).pk)

    lead.refresh_from_db()
    assert (lead.stage, lead.opportunity_amount) == (Stage.SAL, None)


def test_only_the_author_undoes_only_the_latest_action_and_only_once(version, team, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)
    accepted = _last(lead)

    with pytest.raises(LeadError, match="Only"):
        lead_undo(lead_id=lead.id, user=sdr2, transition_id=accepted.pk)
    lead_undo(lead_id=lead.id, user=sdr, transition_id=accepted.pk)
    with pytest.raises(LeadError, match="moved on"):
        lead_undo(lead_id=lead.id, user=sdr, transition_id=accepted.pk)
    with pytest.raises(LeadError, match="moved on"):
        lead_undo(lead_id=lead.id, user=sdr, transition_id=_last(lead).pk)  # an undo is not undone

    assert _moves(lead) == [(Stage.MQL, Stage.SAL), (Stage.SAL, Stage.MQL)]


def test_an_undo_comes_too_late_after_a_few_seconds(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)

    with pytest.raises(LeadError, match="Too late"):
        lead_undo(lead_id=lead.id, user=sdr, transition_id=_last(lead).pk, now=timezone.now() + UNDO_WINDOW * 2)

    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL


def test_the_message_of_an_inbox_action_offers_undo_and_undo_reloads_the_queue(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)

    done = client.post(reverse("leads:accept", args=[lead.pk]), {"ctx": "row"}, HTTP_HX_REQUEST="true")

    body = done.content.decode()
    assert 'hx-swap-oob="innerHTML:#messages"' in body  # replaces the previous message
    assert reverse("leads:undo", args=[lead.pk]) in body and f'value="{_last(lead).pk}"' in body
    assert '"counts": {"mine": "0"' in done["HX-Trigger-After-Swap"]

    undone = client.post(
        reverse("leads:undo", args=[lead.pk]), {"ctx": "row", "transition": _last(lead).pk}, HTTP_HX_REQUEST="true"
    )
    assert undone.status_code == 200 and "accord:undone" in undone["HX-Trigger-After-Swap"]
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_undo_from_the_lead_page_refreshes_its_panel(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)
    done = client.post(reverse("leads:accept", args=[lead.pk]), {"ctx": "detail"}, HTTP_HX_REQUEST="true")
    assert 'name="ctx" value="detail"' in done.content.decode()

    undone = client.post(
        reverse("leads:undo", args=[lead.pk]), {"ctx": "detail", "transition": _last(lead).pk}, HTTP_HX_REQUEST="true"
    )

    assert undone.status_code == 200 and undone["HX-Retarget"] == "#lead-live"
    assert "Undone" in undone.content.decode() and 'data-action="undo"' not in undone.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_undo_of_someone_elses_action_is_a_409_with_the_reason(login, version, team, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.id, user=sdr)

    response = login(sdr2).post(
        reverse("leads:undo", args=[lead.pk]), {"ctx": "row", "transition": _last(lead).pk}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 409 and "Only" in response.content.decode()
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL


def test_the_lifecycle_allows_taking_back_a_persons_move_only():
    from leads import lifecycle

    back = lifecycle.undo(lifecycle.RECYCLE, Stage.SAL)
    assert (back.from_stages, back.to_stage) == ((Stage.NURTURE,), Stage.SAL)
    assert lifecycle.allowed(Stage.SAL, Stage.MQL) and lifecycle.allowed(Stage.WON, Stage.SQL)
    with pytest.raises(lifecycle.MoveError):
        lifecycle.undo(lifecycle.QUALIFY, Stage.NEW)  # scoring's moves are not undone by people
    with pytest.raises(lifecycle.MoveError):
        lifecycle.undo(lifecycle.ACCEPT, Stage.NURTURE)  # an accept never started there
