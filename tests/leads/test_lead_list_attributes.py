"""The lead list filters by the organisation's own attributes (by type, in SQL on the JSON columns),
shows the attribute columns a person chose (remembered for them), sorts by them and exports them."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alignment import dictionary_services as data_dictionary
from tests.factories import AccountFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def attributes(db):
    data_dictionary.attribute_create(
        key="lead_origin",
        label="Lead origin",
        type="choice",
        choices=[{"value": "landing_page", "label": "Landing Page Submission"}, {"value": "api", "label": "API"}],
    )
    data_dictionary.attribute_create(
        key="topics", label="Topics", type="multi_choice", choices=[{"value": "Pricing"}, {"value": "Security"}]
    )
    data_dictionary.attribute_create(key="visits", label="Visits", type="number")
    data_dictionary.attribute_create(key="newsletter", label="Newsletter", type="yes_no")
    data_dictionary.attribute_create(key="signed_up", label="Signed up", type="date")
    data_dictionary.attribute_create(key="notes", label="Notes", type="text")
    data_dictionary.attribute_create(
        key="tier", label="Account tier", type="choice", object="account", choices=[{"value": "gold", "label": "Gold"}]
    )


@pytest.fixture
def leads(attributes):
    return {
        "ada": LeadFactory(
            first_name="Ada",
            attributes={
                "lead_origin": "landing_page",
                "topics": ["pricing"],
                "visits": 12,
                "newsletter": True,
                "signed_up": "2026-03-01",
                "notes": "Asked for a call back",
            },
            account=AccountFactory(attributes={"tier": "gold"}),
        ),
        "bob": LeadFactory(
            first_name="Bob",
            attributes={"lead_origin": "api", "topics": ["security", "pricing"], "visits": 3, "newsletter": False},
        ),
        "cy": LeadFactory(first_name="Cy", attributes={"visits": 7.5, "signed_up": "2026-05-20"}),
    }


def _names(client, **params) -> set[str]:
    response = client.get(reverse("leads:lead_list"), params)
    assert response.status_code == 200, response.content.decode()[:500]
    return {lead.first_name for lead, _ in response.context["rows"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"a.lead_origin": ["landing_page"]}, {"Ada"}),
        ({"a.lead_origin": ["landing_page", "api"]}, {"Ada", "Bob"}),
        ({"a.topics": ["Pricing"]}, {"Ada", "Bob"}),
        ({"a.topics": ["Security"]}, {"Bob"}),
        ({"a.visits_min": "5"}, {"Ada", "Cy"}),
        ({"a.visits_min": "5", "a.visits_max": "10"}, {"Cy"}),
        ({"a.newsletter": "yes"}, {"Ada"}),
        ({"a.newsletter": "no"}, {"Bob"}),
        ({"a.newsletter": "unknown"}, {"Cy"}),
        ({"a.signed_up_from": "2026-04-01"}, {"Cy"}),
        ({"a.signed_up_to": "2026-04-01"}, {"Ada"}),
        ({"a.notes": "call back"}, {"Ada"}),
        ({"a.tier": ["gold"]}, {"Ada"}),
    ],
)
def test_the_list_filters_by_each_type_of_attribute(login, sdr, leads, params, expected):
    assert _names(login(sdr), **params) == expected


def test_an_attribute_filter_is_one_query_whatever_the_number_of_leads(login, sdr, attributes):
    client = login(sdr)
    params = {"a.lead_origin": ["api"], "a.visits_min": "1", "a.newsletter": "yes", "a.notes": "x"}

    def count() -> int:
        client.get(reverse("leads:lead_list"), params)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("leads:lead_list"), params).status_code == 200
        return len(queries)

    LeadFactory.create_batch(3, attributes={"lead_origin": "api", "visits": 2, "newsletter": True, "notes": "x"})
    few = count()
    LeadFactory.create_batch(30, attributes={"lead_origin": "api", "visits": 2, "newsletter": True, "notes": "x"})
    assert count() == few


@pytest.mark.parametrize(
    "params",
    [{"a.visits_min": "lots"}, {"a.lead_origin": "nowhere"}, {"a.signed_up_from": "31/02/2026"}, {"a.newsletter": "?"}],
)
def test_a_malformed_attribute_filter_is_a_400_with_a_message(login, sdr, attributes, params):
    client = login(sdr)
    response = client.get(reverse("leads:lead_list"), params)
    assert response.status_code == 400
    assert 'data-testid="filter-errors"' in response.content.decode()
    assert client.get(reverse("leads:lead_export"), params).status_code == 400


def test_the_chosen_columns_are_remembered_shown_with_labels_sortable_and_exported(login, sdr, marketing, leads):
    client = login(sdr)
    response = client.post(reverse("leads:lead_columns"), {"columns": ["lead_origin", "visits"], "next": "q=a"})
    assert response["Location"] == reverse("leads:lead_list") + "?q=a"
    page = client.get(reverse("leads:lead_list")).content.decode()
    assert 'data-sort="a.lead_origin"' in page and "Landing Page Submission" in page and ">Visits<" in page
    assert 'data-sort="a.topics"' not in page

    ordered = client.get(reverse("leads:lead_list"), {"sort": "-a.visits"}).context["rows"]
    assert [lead.first_name for lead, _ in ordered] == ["Ada", "Cy", "Bob"]

    body = b"".join(client.get(reverse("leads:lead_export")).streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][-2:] == ["Lead origin", "Visits"]
    exported = {row[1]: row[-2:] for row in rows[1:]}
    assert exported["Ada"] == ["Landing Page Submission", "12"] and exported["Cy"] == ["", "7.5"]

    # Another person's list keeps its own columns.
    other = login(marketing).get(reverse("leads:lead_list")).content.decode()
    assert 'data-sort="a.lead_origin"' not in other


def test_choosing_a_column_that_is_no_attribute_is_refused(login, sdr, attributes, client):
    assert client.post(reverse("leads:lead_columns"), {"columns": ["visits"]}).status_code == 302  # to the login
    assert login(sdr).post(reverse("leads:lead_columns"), {"columns": ["visits", "password"]}).status_code == 400


def test_the_inbox_filters_by_the_organisations_attributes_too(login, sdr, team, leads):
    from leads.models import Stage

    for lead in leads.values():
        lead.stage, lead.team, lead.owner = Stage.MQL, team, sdr
        lead.save(update_fields=["stage", "team", "owner"])
    client = login(sdr)
    page = client.get(reverse("leads:inbox")).content.decode()
    assert 'data-testid="inbox-attribute-filters"' in page and "Lead origin" in page

    def names(**params) -> set[str]:
        response = client.get(reverse("leads:inbox"), {"tab": "mine", **params})
        assert response.status_code == 200
        return {row.lead.first_name for row in response.context["page"].rows}

    assert names(**{"a.lead_origin": ["api"]}) == {"Bob"}
    assert names(**{"a.visits_min": "5"}) == {"Ada", "Cy"}
    assert names(**{"a.newsletter": "unknown"}) == {"Cy"}
    assert names(**{"a.tier": ["gold"], "a.notes": "call"}) == {"Ada"}
    assert client.get(reverse("leads:inbox"), {"a.visits_min": "many"}).status_code == 400


def test_the_list_filters_by_built_in_attributes_as_well(login, sdr, attributes):
    LeadFactory(first_name="Ada", seniority="vp", account=AccountFactory(industry="Software", employees=800))
    LeadFactory(first_name="Bob", seniority="individual", account=AccountFactory(industry="Retail", employees=40))
    client = login(sdr)
    assert _names(client, **{"a.industry": ["Software"]}) == {"Ada"}
    assert _names(client, **{"a.employees_max": "100"}) == {"Bob"}
    assert _names(client, **{"a.seniority": ["vp", "individual"], "a.employees_min": "500"}) == {"Ada"}
    assert client.get(reverse("leads:lead_list"), {"a.industry": "Knitting"}).status_code == 400


def _export(client) -> list[list[str]]:
    body = b"".join(client.get(reverse("leads:lead_export")).streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def _headers(client) -> list[str]:
    return [key for key, *_ in client.get(reverse("leads:lead_list")).context["attribute_columns"]]


def test_the_column_choice_is_kept_for_the_person_in_every_session_and_not_for_others(login, sdr, marketing, leads):
    from django.test import Client

    from leads.models import ListPreference

    first = login(sdr)
    first.post(reverse("leads:lead_columns"), {"columns": ["lead_origin", "department"]})
    assert ListPreference.objects.get(user=sdr).columns == ["department", "lead_origin"]  # the dictionary's order
    assert "lead_columns" not in first.session

    # Another browser (a new session) of the same person, and the first one after logging out and in.
    assert _headers(login(sdr)) == ["a.department", "a.lead_origin"]
    first.logout()
    again = Client()
    again.force_login(sdr)
    assert _headers(again) == ["a.department", "a.lead_origin"]
    assert _export(again)[0][-2:] == ["Department", "Lead origin"]

    # Another person keeps their own choice, and changing it leaves the first person's alone.
    other = login(marketing)
    assert _headers(other) == []
    other.post(reverse("leads:lead_columns"), {"columns": ["visits"]})
    assert _headers(other) == ["a.visits"] and _headers(again) == ["a.department", "a.lead_origin"]
    # Choosing nothing is a choice too.
    again.post(reverse("leads:lead_columns"), {})
    assert _headers(login(sdr)) == [] and ListPreference.objects.get(user=sdr).columns == []


def test_a_built_in_attribute_can_be_chosen_as_a_column_sorted_and_exported(login, sdr, marketing, attributes):
    from alignment.models import Attribute
    from leads.models import Lead

    LeadFactory(first_name="Ada", department="hr", budget="confirmed", account=AccountFactory(annual_revenue=9_000_000))
    LeadFactory(first_name="Bob", department="it", budget="", account=AccountFactory(annual_revenue=250_000))
    LeadFactory(first_name="Cy", department="finance", budget="planned", account=None, attributes={"annual_revenue": 4})
    client = login(sdr)
    page = client.get(reverse("leads:lead_list")).content.decode()
    chooser = page.split('data-testid="column-chooser"')[1].split("</form>")[0]
    for offered in ("department", "budget", "annual_revenue", "region", "email_domain", "lead_origin"):
        assert f'value="{offered}"' in chooser
    assert 'value="job_title"' not in chooser  # already the list's "Title" column

    client.post(reverse("leads:lead_columns"), {"columns": ["department", "budget", "annual_revenue"]})
    response = client.get(reverse("leads:lead_list"), {"sort": "a.department"})
    assert [lead.first_name for lead, _ in response.context["rows"]] == ["Cy", "Ada", "Bob"]  # finance, hr, it
    by_name = {lead.first_name: values for lead, values in response.context["rows"]}
    assert by_name["Ada"] == ["9000000", "Human resources", "Confirmed"]
    assert by_name["Bob"] == ["250000", "IT", ""] and by_name["Cy"] == ["4", "Finance", "Planned"]
    page = response.content.decode()
    assert 'data-sort="a.budget"' in page and ">Budget (BANT)<" in page

    ordered = client.get(reverse("leads:lead_list"), {"sort": "-a.annual_revenue"}).context["rows"]
    assert [lead.first_name for lead, _ in ordered] == ["Ada", "Bob", "Cy"]
    unknown_last = client.get(reverse("leads:lead_list"), {"sort": "a.budget"}).context["rows"]
    assert [lead.first_name for lead, _ in unknown_last] == ["Ada", "Cy", "Bob"]
    # A lead without an account sorts by the company facts it came with, as the scorer reads them.
    Lead.objects.filter(first_name="Cy").update(attributes={"annual_revenue": 4, "industry": "Agriculture"})
    by_industry = client.get(reverse("leads:lead_list"), {"sort": "a.industry"}).context["rows"]
    assert [lead.first_name for lead, _ in by_industry][0] == "Cy"

    # Renamed in the dictionary, the header follows; the CSV carries the labels.
    data_dictionary.attribute_update(attribute=Attribute.objects.get(key="department"), user=marketing, label="Team")
    rows = _export(client)
    assert rows[0][-3:] == ["Annual revenue (USD)", "Team", "Budget (BANT)"]
    assert {row[1]: row[-3:] for row in rows[1:]}["Ada"] == ["9000000", "Human resources", "Confirmed"]
    assert client.post(reverse("leads:lead_columns"), {"columns": ["job_title"]}).status_code == 400


def test_an_archived_attribute_drops_out_of_a_stored_choice(login, sdr, marketing, leads):
    from alignment.models import Attribute

    client = login(sdr)
    client.post(reverse("leads:lead_columns"), {"columns": ["lead_origin", "visits"]})
    data_dictionary.attribute_update(attribute=Attribute.objects.get(key="visits"), user=marketing, archived=True)

    response = client.get(reverse("leads:lead_list"))
    assert response.status_code == 200
    assert [key for key, *_ in response.context["attribute_columns"]] == ["a.lead_origin"]
    assert _export(client)[0][-1] == "Lead origin"
    assert client.get(reverse("leads:lead_list"), {"sort": "a.visits"}).status_code == 400  # no such column now
    refused = client.post(reverse("leads:lead_columns"), {"columns": ["lead_origin", "visits"]})
    assert refused.status_code == 400 and "visits" in refused.content.decode()
    # Restored, it shows again: the stored choice kept it.
    data_dictionary.attribute_update(attribute=Attribute.objects.get(key="visits"), user=marketing, archived=False)
    assert _headers(client) == ["a.lead_origin", "a.visits"]


def test_an_unknown_column_is_a_400_naming_it(login, sdr, attributes):
    response = login(sdr).post(reverse("leads:lead_columns"), {"columns": ["visits", "password"]})
    assert response.status_code == 400
    page = response.content.decode()
    assert "password" in page and "“columns” names no attribute the list can show" in page


def test_a_containment_filter_on_a_custom_attribute_can_use_the_gin_indexes(attributes):
    from alignment.dictionary import load_dictionary
    from leads.inbox.filters import attribute_condition
    from leads.models import Lead

    dictionary = load_dictionary()
    on_lead = attribute_condition(dictionary.attributes["lead_origin"], [["api"]])
    on_account = attribute_condition(dictionary.attributes["tier"], [["gold"]])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table: ask whether the index can serve
        assert "lead_attributes_gin" in Lead.objects.filter(on_lead).explain()
        assert "account_attributes_gin" in Lead.objects.filter(on_account).explain()
