"""The API speaks the organisation's dictionary: attributes, activity kinds, external ids, batches, scopes."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from alignment import dictionary_services as data_dictionary
from alignment.models import ActivityKind, Attribute, AttributeChoice, DictionaryChange
from alignment.spec import default_spec
from leads.intake import writes as intake
from leads.models import Activity, ApiToken, Lead, hash_token
from tests.factories import AgreementVersionFactory


class ApiClient:
    def __init__(self, raw: str):
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def post(self, path, body):
        return self.client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json")

    def patch(self, path, body):
        return self.client.patch(f"/api/v1{path}", json.dumps(body), content_type="application/json")

    def get(self, path):
        return self.client.get(f"/api/v1{path}")


@pytest.fixture
def api(db):
    return ApiClient(intake.api_token_create(name="Integration")[1])


def token_with(*scopes: str) -> ApiClient:
    return ApiClient(intake.api_token_create(name="Narrow", scopes=list(scopes))[1])


@pytest.fixture
def origin(api):
    response = api.post(
        "/attributes",
        {
            "key": "lead_origin",
            "label": "Lead origin",
            "type": "choice",
            "choices": [{"value": "Google", "aliases": ["google ads"]}, {"value": "Referral"}],
        },
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_attributes_read_and_write_in_the_documented_shape(api, origin):
    assert origin == {
        "key": "lead_origin",
        "label": "Lead origin",
        "object": "lead",
        "type": "choice",
        "choices": [
            {"value": "Google", "label": "Google", "aliases": ["google ads"]},
            {"value": "Referral", "label": "Referral", "aliases": []},
        ],
        "before_contact": True,
        "help": "",
        "archived": False,
    }
    listed = {a["key"]: a for a in api.get("/attributes").json()}
    assert listed["lead_origin"] == origin
    assert listed["industry"]["object"] == "account" and listed["industry"]["type"] == "choice"
    assert listed["employees"]["type"] == "number"
    assert len(listed["country"]["choices"]) == 249  # every ISO 3166-1 country
    assert DictionaryChange.objects.filter(subject="lead_origin", action="attribute_created").exists()


def test_a_lead_takes_custom_attributes_by_value_label_or_alias(api, origin):
    api.post("/attributes", {"key": "time_on_site", "type": "number"})
    api.post("/attributes", {"key": "opted_out", "type": "yes_no", "object": "account"})
    response = api.post(
        "/leads",
        {
            "email": "ada@corp.example",
            "attributes": {"lead_origin": "GOOGLE ADS", "time_on_site": "2.5", "opted_out": "no"},
        },
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.select_related("account").get()
    assert lead.attributes == {"lead_origin": "Google", "time_on_site": 2.5}
    assert lead.account.attributes == {"opted_out": False}
    # Updating merges; null clears one attribute.
    api.post("/leads", {"email": "ADA@corp.example", "attributes": {"time_on_site": None, "lead_origin": "referral"}})
    lead.refresh_from_db()
    assert lead.attributes == {"lead_origin": "Referral"}
    assert api.get(f"/leads/{lead.id}").json()["attributes"] == {"lead_origin": "Referral", "opted_out": False}


def test_a_bad_attribute_value_gets_422_naming_the_key_and_what_it_accepts(api, origin):
    response = api.post("/leads", {"email": "ada@corp.example", "attributes": {"lead_origin": "Select"}})
    assert response.status_code == 422
    message = response.json()["errors"]["attributes.lead_origin"][0]
    assert '"Select"' in message and "Google, Referral" in message
    response = api.post("/leads", {"email": "ada@corp.example", "attributes": {"colour": "red"}})
    assert "Known attributes: lead_origin" in response.json()["errors"]["attributes.colour"][0]
    assert not Lead.objects.exists()


def test_a_lead_is_found_by_its_external_id_alone(api):
    created = api.post("/leads", {"email": "ada@corp.example", "external_id": "crm-17", "first_name": "Ada"})
    assert created.status_code == 201
    updated = api.post("/leads", {"external_id": "crm-17", "job_title": "CTO"})
    assert updated.status_code == 200, updated.content
    lead = Lead.objects.get()
    assert (lead.external_id, lead.first_name, lead.job_title) == ("crm-17", "Ada", "CTO")
    unknown = api.post("/leads", {"external_id": "crm-99"})
    assert unknown.status_code == 422
    assert "No lead has external_id crm-99" in unknown.json()["errors"]["external_id"][0]
    other = api.post("/leads", {"external_id": "crm-17", "email": "bob@corp.example"})
    assert other.status_code == 422 and Lead.objects.count() == 1


def test_a_free_mail_lead_keeps_its_country_and_rules_read_it(api, django_capture_on_commit_callbacks):
    AgreementVersionFactory(
        spec={
            **default_spec(),
            "fit_rules": [{"id": "f1", "field": "country", "operator": "in", "values": ["BR"], "points": 70}],
            "knockouts": [],
        }
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/leads", {"email": "ana@gmail.com", "country": "Brazil"})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.account, lead.country, lead.region) == (None, "BR", "Latin America")
    assert (lead.fit_score, lead.stage) == (70, "mql")
    assert api.post("/leads", {"email": "kim@gmail.com", "country": "Bolivia"}).status_code == 201
    assert Lead.objects.get(email="kim@gmail.com").country == "BO"  # not one of the 31 of old


def test_a_free_mail_lead_keeps_the_company_facts_it_came_with_and_rules_read_them(
    api, django_capture_on_commit_callbacks
):
    spec = default_spec()
    spec["fit_rules"] = [
        {"id": "f1", "field": "industry", "operator": "in", "values": ["Software"], "points": 40},
        {"id": "f2", "field": "employees", "operator": "between", "values": [200, 5000], "points": 30},
    ]
    spec["knockouts"] = []
    AgreementVersionFactory(spec=spec)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/leads", {"email": "ana@gmail.com", "industry": "software", "employees": 800})
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert lead.account is None
    assert lead.attributes == {"industry": "Software", "employees": 800}
    assert (lead.fit_score, lead.stage) == (70, "mql")  # the SQL rescore read them
    assert api.get(f"/leads/{lead.id}").json()["explanation"]["fit"] == 70  # and the pure function


def test_a_batch_stores_the_good_leads_and_lists_the_rejected_by_index(api, origin):
    api.post("/leads", {"email": "known@corp.example"})
    body = {
        "leads": [
            {"email": "new@corp.example", "attributes": {"lead_origin": "Google"}},
            {"email": "known@corp.example", "job_title": "VP Sales"},
            {"email": "not-an-address"},
            {"email": "x@corp.example", "attributes": {"lead_origin": "Select"}},
            {"external_id": "nobody"},
        ]
    }
    response = api.post("/leads/batch", body)
    assert response.status_code == 202, response.content
    out = response.json()
    assert (out["created"], out["updated"]) == (1, 1)
    assert [r["index"] for r in out["rejected"]] == [2, 3, 4]
    assert set(out["rejected"][0]["errors"]) == {"email"}
    assert set(out["rejected"][1]["errors"]) == {"attributes.lead_origin"}
    assert set(Lead.objects.values_list("email", flat=True)) == {"new@corp.example", "known@corp.example"}
    assert api.post("/leads/batch", {"leads": [{}] * 1001}).status_code == 413


def test_a_choice_added_to_a_built_in_field_is_accepted(api):
    assert api.post("/leads", {"email": "a@corp.example", "source": "Google"}).status_code == 422
    response = api.patch("/attributes/source", {"choices": [{"value": "google", "label": "Google"}]})
    assert response.status_code == 200, response.content
    assert api.post("/leads", {"email": "a@corp.example", "source": "Google"}).status_code == 201
    assert Lead.objects.get().source == "google"


def test_archiving_what_the_agreement_uses_is_refused_naming_the_rule(api, origin):
    spec = default_spec()
    spec["fit_rules"].append({"id": "f9", "field": "lead_origin", "operator": "in", "values": ["Google"], "points": 5})
    AgreementVersionFactory(number=3, spec=spec)
    response = api.patch("/attributes/lead_origin", {"archived": True})
    assert response.status_code == 422
    assert "Version 3 (active): rule f9 — Lead origin is one of Google" in response.json()["errors"]["body"][0]
    assert not Attribute.objects.get(key="lead_origin").archived
    with pytest.raises(data_dictionary.DictionaryError, match="rule f9"):
        data_dictionary.choice_archive(attribute=Attribute.objects.get(key="lead_origin"), value="google")
    data_dictionary.choice_archive(attribute=Attribute.objects.get(key="lead_origin"), value="Referral")
    assert AttributeChoice.objects.get(value="Referral").archived
    with pytest.raises(data_dictionary.DictionaryError, match="rule b1"):
        data_dictionary.kind_update(kind=ActivityKind.objects.get(key="demo_request"), archived=True)


def test_a_new_activity_kind_is_accepted_and_an_unknown_one_refused(api):
    response = api.post("/activity-kinds", {"key": "site_chat", "label": "Chat on the site"})
    assert response.status_code == 201, response.content
    now = timezone.now().isoformat()
    items = [
        {"email": "ada@corp.example", "kind": "Chat on the site", "occurred_at": now},
        {"email": "ada@corp.example", "kind": "carrier_pigeon", "occurred_at": now},
    ]
    out = api.post("/activities", {"activities": items}).json()
    assert out["accepted"] == 1
    assert "carrier_pigeon" in out["rejected"][0]["errors"]["kind"][0]
    assert Activity.objects.get().kind == "site_chat"
    assert any(k["key"] == "site_chat" for k in api.get("/activity-kinds").json())


def test_a_token_without_the_scope_gets_403(api):
    reader = token_with("insights:read")
    assert reader.post("/leads", {"email": "a@corp.example"}).status_code == 403
    assert reader.post("/leads/batch", {"leads": []}).status_code == 403
    assert reader.post("/activities", {"activities": []}).status_code == 403
    assert reader.post("/attributes", {"key": "x", "type": "text"}).status_code == 403
    writer = token_with("leads:write")
    assert writer.post("/attributes", {"key": "x", "type": "text"}).status_code == 403
    assert writer.patch("/attributes/source", {"label": "Origin"}).status_code == 403
    assert writer.post("/activity-kinds", {"key": "x"}).status_code == 403
    assert writer.post("/leads", {"email": "a@corp.example"}).status_code == 201
    assert not Attribute.objects.filter(key="x").exists()


def test_create_api_token_gives_every_scope_unless_told(db):
    out = StringIO()
    call_command("create_api_token", "Forms", stdout=out, stderr=StringIO())
    assert ApiToken.objects.get(key_hash=hash_token(out.getvalue().strip())).scopes == [
        "leads:write",
        "schema:write",
        "insights:read",
    ]
    out = StringIO()
    call_command("create_api_token", "Reports", "--scopes", "insights:read", stdout=out, stderr=StringIO())
    assert ApiToken.objects.get(key_hash=hash_token(out.getvalue().strip())).scopes == ["insights:read"]


def test_a_number_attribute_takes_decimals_and_a_date_attribute_iso_dates(api):
    api.post("/attributes", {"key": "visits", "type": "number"})
    api.post("/attributes", {"key": "signed_up", "type": "date"})
    api.post("/attributes", {"key": "topics", "type": "multi_choice", "choices": [{"value": "AI"}, {"value": "Data"}]})
    response = api.post(
        "/leads",
        {"email": "a@corp.example", "attributes": {"visits": 3, "signed_up": "2026-03-01", "topics": ["ai", "DATA"]}},
    )
    assert response.status_code == 201, response.content
    assert Lead.objects.get().attributes == {"visits": 3, "signed_up": "2026-03-01", "topics": ["ai", "data"]}
    bad = api.post("/leads", {"email": "b@corp.example", "attributes": {"signed_up": "March", "visits": "many"}})
    assert set(bad.json()["errors"]) == {"attributes.signed_up", "attributes.visits"}
