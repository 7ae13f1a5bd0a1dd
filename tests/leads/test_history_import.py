"""Past leads come in with their real dates and paths, as historical transitions SLA never reads."""

from __future__ import annotations

import datetime as dt

import pytest

from alignment.spec import default_spec
from leads.intake.writes import api_token_create
from leads.models import Lead, Stage, Transition
from leads.scoring.evidence import Window, evidence
from leads.scoring.outcomes import parse_outcome

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    token = api_token_create(name="crm")[1]

    def post(path, body):
        return client.post(path, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"})

    return post


def test_a_past_lead_keeps_its_creation_time_and_its_path(api):
    body = {
        "email": "ines.garcia@hotel-lumen.es",
        "created_at": "2025-02-03T10:00:00Z",
        "history": [{"stage": "sql", "at": "2025-03-01"}, {"stage": "won", "at": "2025-04-15T12:00:00Z"}],
    }
    response = api("/api/v1/leads", body)
    assert response.status_code == 201, response.content
    lead = Lead.objects.get(email="ines.garcia@hotel-lumen.es")
    assert lead.created_at == dt.datetime(2025, 2, 3, 10, tzinfo=dt.UTC)
    assert lead.stage == Stage.WON
    log = list(lead.transitions.order_by("at", "id").values_list("from_stage", "to_stage", "historical", "actor"))
    assert log == [("", "new", False, None), ("new", "sql", True, None), ("sql", "won", True, None)]
    assert lead.transitions.get(to_stage="new").at == lead.created_at
    # The same history again changes nothing.
    assert api("/api/v1/leads", body).status_code == 200
    assert lead.transitions.count() == 3


@pytest.mark.parametrize(
    ("history", "words"),
    [
        ([{"stage": "won", "at": "2030-01-01"}], "future"),
        ([{"stage": "won", "at": "2025-04-01"}, {"stage": "sql", "at": "2025-05-01"}], "cannot follow"),
        ([{"stage": "sql", "at": "2025-01-01"}], "before the lead was created"),
        ([{"stage": "customer", "at": "2025-03-01"}], "not a stage"),
    ],
)
def test_a_bad_path_is_refused_with_a_422_naming_the_step_and_nothing_is_written(api, history, words):
    response = api("/api/v1/leads", {"email": "a@b-corp.example", "created_at": "2025-02-01", "history": history})
    assert response.status_code == 422
    assert words in " ".join(response.json()["errors"]["history"])
    assert not Lead.objects.exists() and not Transition.objects.exists()


def test_a_history_needs_a_creation_time_and_a_creation_time_cannot_be_in_the_future(api):
    response = api("/api/v1/leads", {"email": "a@b-corp.example", "history": [{"stage": "won", "at": "2025-01-01"}]})
    assert response.status_code == 422 and "created_at" in response.json()["errors"]["history"][0]
    response = api("/api/v1/leads", {"email": "a@b-corp.example", "created_at": "2031-01-01"})
    assert response.status_code == 422 and "future" in response.json()["errors"]["created_at"][0]


def test_imported_history_is_evidence_on_day_one(api):
    for i in range(6):
        history = [{"stage": "won", "at": "2025-03-01"}] if i % 2 else []
        api("/api/v1/leads", {"email": f"p{i}@firm{i}.example", "created_at": "2025-02-01", "history": history})
    result = evidence(draft_spec=default_spec(), active_spec=None, window=Window(), outcome=parse_outcome("won"))
    assert (result.leads, result.converted) == (6, 3)
