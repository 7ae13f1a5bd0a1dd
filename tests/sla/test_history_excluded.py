"""Imported history (historical transitions) never enters SLA figures; the dashboard says it exists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.intake.writes import api_token_create
from leads.models import Lead, Stage
from sla import passes
from sla.clock import current_terms
from sla.models import Pass
from tests.factories import AgreementVersionFactory

pytestmark = pytest.mark.django_db


def test_a_past_leads_path_starts_no_sla_pass_and_the_dashboard_names_the_history(client, login, manager):
    AgreementVersionFactory(number=1)
    token = api_token_create(name="crm")[1]
    body = {
        "email": "old.customer@harbour-freight.example",
        "created_at": "2024-05-02",
        "history": [
            {"stage": "mql", "at": "2024-05-03"},
            {"stage": "sal", "at": "2024-05-04"},
            {"stage": "won", "at": "2024-07-01"},
        ],
    }
    response = client.post(
        "/api/v1/leads", body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(email=body["email"])
    assert lead.stage == Stage.WON
    passes.refresh(terms=current_terms())
    assert not Pass.objects.filter(lead_id=lead.pk).exists()
    page = login(manager).get(reverse("sla:dashboard"))
    assert page.status_code == 200
    assert b"Imported history before go-live" in page.content
