"""What converted means is chosen on the Data page, by leaders, and every panel says which one it used."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.urls import reverse

from alignment import dictionary_services as data_dictionary
from alignment.models import DictionaryChange
from alignment.spec import default_spec
from leads.intake.writes import api_token_create
from leads.models import InsightSettings, ScorecardJob
from leads.scoring.outcomes import current_outcome, outcome_set
from tests.factories import AgreementVersionFactory
from tests.leads import planted
from tests.leads.test_backtest import draft_of, generate_history

pytestmark = pytest.mark.django_db

DATA = reverse("leads:data")
SET = reverse("leads:data_outcome")


@pytest.fixture
def converted_column(db):
    return data_dictionary.attribute_create(key="converted_flag", label="Converted", type="yes_no")


def test_a_leader_chooses_a_yes_no_attribute_on_the_data_page_and_the_change_is_recorded(
    login, marketing, converted_column
):
    client = login(marketing)
    page = client.get(DATA).content.decode()
    assert 'data-testid="converted-form"' in page and 'value="attribute:converted_flag"' in page

    response = client.post(SET, {"converted": "attribute:converted_flag"})
    assert response.status_code == 302 and response["Location"] == DATA + "#converted"
    row = InsightSettings.objects.get(pk=1)
    assert (row.converted, row.updated_by) == ("attribute:converted_flag", marketing)
    assert current_outcome().describe() == "converted = “Converted” is yes"
    change = DictionaryChange.objects.get(subject="converted")
    assert change.actor == marketing and change.details == {"from": "sql", "to": "attribute:converted_flag"}
    assert "Converted now means “Converted” is yes (was reached SQL or won)." in client.get(DATA).content.decode()

    client.post(SET, {"converted": "attribute:converted_flag"})  # the same choice again: nothing to record
    assert DictionaryChange.objects.filter(subject="converted").count() == 1


def test_sales_leaders_and_admins_choose_too(login, sales, admin_user):
    login(sales).post(SET, {"converted": "won"})
    assert current_outcome().code == "won"
    login(admin_user).post(SET, {"converted": "sql"})
    assert current_outcome().code == "sql"
    assert DictionaryChange.objects.filter(subject="converted").count() == 2


def test_others_read_the_definition_but_cannot_change_it(login, sdr, manager, client):
    for user in (sdr, manager):
        c = login(user)
        page = c.get(DATA).content.decode()
        assert 'data-testid="converted-current"' in page and "Reached SQL or won" in page
        assert 'data-testid="converted-form"' not in page
        assert c.post(SET, {"converted": "won"}).status_code == 403
    assert client.post(SET, {"converted": "won"}).status_code == 302  # anonymous: to the login page
    assert current_outcome().code == "sql"
    assert not InsightSettings.objects.exists() and not DictionaryChange.objects.exists()


def test_an_unknown_definition_is_refused_with_its_name(login, marketing):
    response = login(marketing).post(SET, {"converted": "attribute:nothing"}, follow=True)
    assert "Unknown outcome “attribute:nothing”" in response.content.decode()
    assert current_outcome().code == "sql" and not DictionaryChange.objects.exists()


def test_the_evidence_panel_states_the_definition_and_links_leaders_to_the_data_page(login, marketing, sdr):
    generate_history(random.Random(5), n=20)
    AgreementVersionFactory(number=2, status="draft", spec=draft_of(default_spec()), published_at=None)
    login(marketing).post(SET, {"converted": "won"})
    url = reverse("leads:evidence") + "?version=2"
    leader = login(marketing).get(url).content.decode()
    assert '<span data-testid="outcome-definition">converted = won</span>' in leader
    assert f'href="{DATA}#converted" data-testid="outcome-change"' in leader
    assert 'data-testid="outcome-form"' not in leader  # the control lives on the Data page only
    reader = login(sdr).get(url).content.decode()
    assert '<span data-testid="outcome-definition">converted = won</span>' in reader
    assert 'data-testid="outcome-change"' not in reader and "chosen by the leaders" in reader


def test_the_suggestions_panel_states_the_definition(login, marketing):
    generate_history(random.Random(6), n=20)
    login(marketing).post(SET, {"converted": "won"})
    page = login(marketing).get(reverse("leads:evidence_suggestions")).content.decode()
    assert '<span data-testid="outcome-definition">converted = won</span>' in page
    assert 'data-testid="outcome-change"' in page


def test_the_proposal_form_and_its_model_card_state_the_definition(login, marketing, sales):
    planted.write(800, 21, now=dt.datetime.now(dt.UTC))
    client = login(marketing)
    client.post(SET, {"converted": "won"})
    form = client.get(reverse("leads:scorecard_new")).content.decode()
    assert 'data-testid="outcome-default"' in form and "converted = won" in form
    assert '<option value="won" selected>' in form
    client.post(
        reverse("leads:scorecard_new"),
        {"outcome": "sql", "max_rules": 6, "attributes": ["industry", "employees", "activity:demo_request"]},
    )
    job = ScorecardJob.objects.get()
    card = client.get(reverse("leads:scorecard_job", args=[job.pk])).content.decode()
    # the card says what this proposal used, which may differ from the organisation's choice
    assert '<span data-testid="outcome-definition">converted = reached SQL or won</span>' in card
    assert f'href="{DATA}#converted"' in card


def test_insights_api_responses_state_the_definition_and_where_it_is_chosen(client, marketing, converted_column):
    generate_history(random.Random(7), n=20)
    AgreementVersionFactory(number=1)
    outcome_set(code="attribute:converted_flag", user=marketing)
    headers = {"Authorization": f"Bearer {api_token_create(name='bi')[1]}"}
    for path, query in (("/api/v1/insights/lift", {}), ("/api/v1/insights/evidence", {"version": 1})):
        body = client.get(path, query, headers=headers).json()
        assert body["outcome"] == "attribute:converted_flag", path
        assert body["outcome_definition"] == "converted = “Converted” is yes"
        assert body["outcome_defined_at"] == f"http://testserver{DATA}#converted"
