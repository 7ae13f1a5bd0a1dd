"""The lead list sorts and exports what it shows; a lead's fields are corrected on its page, recorded."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from leads.models import Lead, LeadEdit, Stage
from portal.access import Role
from tests.factories import AccountFactory, AgreementVersionFactory, LeadFactory, MqlFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return AgreementVersionFactory()


def _listed(response) -> list[int]:
    return [lead.pk for lead in response.context["page"].object_list]


# --- sort and export ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("score", ["low", "mid", "high"]), ("-score", ["high", "mid", "low"]), ("company", ["high", "low", "mid"])],
)
def test_the_lead_list_sorts_by_its_columns(login, marketing, sort, expected):
    leads = {
        "low": LeadFactory(score=10, account=AccountFactory(name="Beta")),
        "mid": LeadFactory(score=50, account=AccountFactory(name="Gamma")),
        "high": LeadFactory(score=90, account=AccountFactory(name="Alpha")),
    }
    response = login(marketing).get(reverse("leads:lead_list"), {"sort": sort})
    assert _listed(response) == [leads[name].pk for name in expected]
    assert 'aria-sort="' in response.content.decode()


def test_an_unknown_sort_is_refused_with_a_message(login, marketing):
    response = login(marketing).get(reverse("leads:lead_list"), {"sort": "password"})
    assert response.status_code == 400 and 'data-testid="filter-errors"' in response.content.decode()


def test_the_export_holds_the_filtered_list_in_its_order_every_page(login, marketing):
    for n in range(55):
        LeadFactory(stage=Stage.MQL, score=n, last_name=f"Mql{n}")
    LeadFactory(stage=Stage.NURTURE, last_name="Nurtured")
    LeadFactory(stage=Stage.MQL, first_name="=HYPERLINK(evil)", score=100)

    response = login(marketing).get(reverse("leads:lead_export"), {"stage": "mql", "sort": "-score"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 56  # past the page size of the list
    assert [int(r["Score"]) for r in rows] == sorted((int(r["Score"]) for r in rows), reverse=True)
    assert rows[0]["First name"] == "'=HYPERLINK(evil)"  # a spreadsheet does not run it
    assert "Nurtured" not in {r["Last name"] for r in rows}


# --- corrections --------------------------------------------------------------------------------


def _form_data(client, lead) -> dict:
    """What the correction form posts unchanged (its initial values)."""
    form = client.get(reverse("leads:lead_edit", args=[lead.pk])).context["form"]
    return {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}


def test_the_owner_corrects_a_lead_recorded_with_who_when_and_the_old_value(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr, job_title="Enginer", email="leo@acme.example")
    client = login(sdr)
    data = _form_data(client, lead)

    response = client.post(
        reverse("leads:lead_edit", args=[lead.pk]), {**data, "job_title": "Engineer", "email": "Leo@acme.io"}
    )

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.job_title, lead.email, lead.email_domain) == ("Engineer", "Leo@acme.io", "acme.io")
    edit = LeadEdit.objects.get(lead=lead)
    assert edit.actor == sdr and edit.at is not None
    assert edit.changes == {"job_title": ["Enginer", "Engineer"], "email": ["leo@acme.example", "Leo@acme.io"]}
    page = client.get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert 'data-testid="lead-edits"' in page and "Enginer" in page


def test_a_correction_rescores_the_lead(login, version, team, sdr, django_capture_on_commit_callbacks):
    lead = MqlFactory(team=team, owner=sdr, seniority="", scored_version=None)
    client = login(sdr)
    data = _form_data(client, lead)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        client.post(reverse("leads:lead_edit", args=[lead.pk]), {**data, "seniority": "vp"})
    assert callbacks
    lead.refresh_from_db()
    assert lead.scored_version == version


def test_who_may_correct_a_lead(login, version, team, sdr, sdr2, manager, marketing, sales):
    lead = MqlFactory(team=team, owner=sdr)
    other_manager = UserFactory(username="field-boss", roles=[Role.MANAGER])
    TeamFactory(name="Field", manager=other_manager)
    url = reverse("leads:lead_edit", args=[lead.pk])
    for user in (sdr, manager, marketing, sales):
        assert login(user).get(url).status_code == 200, user
    for user in (sdr2, other_manager):
        assert login(user).get(url).status_code == 403, user
        assert login(user).post(url, {"first_name": "Hacked", "email": lead.email}).status_code == 403
    assert Lead.objects.get(pk=lead.pk).first_name != "Hacked"


def test_a_correction_to_an_email_another_lead_has_is_refused(login, version, team, sdr):
    LeadFactory(email="taken@acme.example")
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)
    data = _form_data(client, lead)

    response = client.post(reverse("leads:lead_edit", args=[lead.pk]), {**data, "email": "TAKEN@acme.example"})

    assert response.status_code == 422 and "already has this e-mail" in response.content.decode()
    assert not LeadEdit.objects.exists()


# --- grade and score explained ------------------------------------------------------------------


def test_grade_and_score_are_explained_where_they_appear(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)
    for url in (reverse("leads:inbox"), reverse("leads:lead_list"), reverse("leads:lead_detail", args=[lead.pk])):
        page = client.get(url).content.decode()
        assert "Grade = fit only" in page and "Score = fit + engagement" in page, url
