"""Rejected leads go back to marketing: reasons and notes, an answer, a return to nurture — and the
SDR who rejected the lead is told."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.inbox.services import LeadError, lead_reject, lead_return_to_nurture
from leads.models import Assignment, Lead, Note, Stage, Transition
from sla.models import Notification
from tests.factories import AgreementVersionFactory, MqlFactory

pytestmark = pytest.mark.django_db
LIST = reverse("leads:rejected_list")


@pytest.fixture
def rejected(team, sdr):
    AgreementVersionFactory()
    lead = MqlFactory(team=team, owner=sdr)
    lead_reject(lead_id=lead.pk, user=sdr, reason_code="bad_fit", note="An agency, not a buyer")
    return lead


def test_marketing_sees_rejected_leads_with_reason_note_and_sdr(login, rejected, marketing, sdr):
    page = login(marketing).get(LIST).content.decode()
    assert str(rejected) in page
    assert "An agency, not a buyer" in page
    assert "Not our ideal customer" in page
    assert 'data-testid="return-to-nurture"' in page


def test_sales_leaders_read_the_list_but_only_marketing_acts(login, rejected, sales, sdr, client):
    page = login(sales).get(LIST).content.decode()
    assert "An agency, not a buyer" in page and 'data-testid="return-to-nurture"' not in page
    assert login(sdr).get(LIST).status_code == 403
    assert client.get(LIST).url.startswith(reverse("login"))
    url = reverse("leads:rejected_nurture", args=[rejected.pk])
    assert login(sales).post(url, {"note": "x"}).status_code == 403


def test_the_list_costs_a_fixed_number_of_queries(login, rejected, marketing, team, sdr, django_assert_max_num_queries):
    for _ in range(5):
        lead = MqlFactory(team=team, owner=sdr)
        lead_reject(lead_id=lead.pk, user=sdr, reason_code="bad_fit", note="again")
    client = login(marketing)
    with django_assert_max_num_queries(10):
        assert client.get(LIST).status_code == 200


def test_marketing_answers_and_the_sdr_is_told(login, rejected, marketing, sdr):
    response = login(marketing).post(
        reverse("leads:rejected_answer", args=[rejected.pk]), {"body": "Fair: we will exclude agencies."}
    )
    assert response.status_code == 302
    note = Note.objects.get(lead=rejected)
    assert (note.author, note.body) == (marketing, "Fair: we will exclude agencies.")
    told = Notification.objects.get(user=sdr)
    assert told.kind == "lead" and "answered your rejection" in told.title
    assert told.url == reverse("leads:lead_detail", args=[rejected.pk])


def test_returning_to_nurture_is_a_recorded_transition_and_tells_the_sdr(login, rejected, marketing, sdr):
    login(marketing).post(
        reverse("leads:rejected_nurture", args=[rejected.pk]), {"note": "Into the agency-partner programme"}
    )
    rejected.refresh_from_db()
    assert (rejected.stage, rejected.owner, rejected.engagement_score) == (Stage.NURTURE, None, 0)
    move = Transition.objects.filter(lead=rejected).latest("at", "id")
    assert (move.from_stage, move.to_stage, move.actor, move.note) == (
        Stage.REJECTED,
        Stage.NURTURE,
        marketing,
        "Into the agency-partner programme",
    )
    assert Assignment.objects.filter(lead=rejected, to_owner=None, from_owner=sdr, actor=marketing).exists()
    told = Notification.objects.get(user=sdr)
    assert "returned" in told.title and "agency-partner programme" in told.body
    assert str(rejected) not in login(marketing).get(LIST).content.decode()


def test_a_return_needs_a_note_and_happens_once(rejected, marketing):
    with pytest.raises(LeadError, match="note"):
        lead_return_to_nurture(lead_id=rejected.pk, user=marketing, note=" ")
    lead_return_to_nurture(lead_id=rejected.pk, user=marketing, note="Nurture it")
    with pytest.raises(LeadError, match="already returned to nurture"):
        lead_return_to_nurture(lead_id=rejected.pk, user=marketing, note="Nurture it")
    assert Transition.objects.filter(lead=rejected, to_stage=Stage.NURTURE).count() == 1


def test_only_rejected_leads_can_be_returned_and_only_by_marketing(team, sdr, marketing):
    AgreementVersionFactory()
    lead = MqlFactory(team=team, owner=sdr)
    with pytest.raises(LeadError, match="can no longer be returned to nurture"):
        lead_return_to_nurture(lead_id=lead.pk, user=marketing, note="x")
    with pytest.raises(LeadError, match="Only a marketing leader"):
        lead_return_to_nurture(lead_id=lead.pk, user=sdr, note="x")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL
