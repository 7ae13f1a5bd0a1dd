"""The Data page: everyone reads the dictionary, leaders change it, every change is recorded."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alignment import dictionary_services as data_dictionary
from alignment.models import ActivityKind, Attribute, AttributeChoice, DictionaryChange
from alignment.spec import default_spec
from leads.models import Account, Lead
from tests.factories import AccountFactory, AgreementVersionFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin(db):
    return data_dictionary.attribute_create(
        key="lead_origin",
        label="Lead origin",
        type="choice",
        choices=[{"value": "Referral"}, {"value": "Referral Sites"}, {"value": "Google"}],
    )


def test_anonymous_users_go_to_the_login_page(client):
    response = client.get(reverse("leads:data"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_everyone_reads_the_page_in_a_fixed_number_of_queries(login, sdr, origin, django_assert_max_num_queries):
    client = login(sdr)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("leads:data")).content.decode()
    assert "Lead origin" in page and "Pricing page visit" in page
    assert "Add an attribute" not in page  # SDRs read only
    assert client.get(reverse("leads:data_attribute", args=["lead_origin"])).status_code == 200


def test_an_sdr_cannot_change_the_dictionary(login, sdr, origin):
    client = login(sdr)
    posts = [
        (reverse("leads:data_attribute_add"), {"label": "X", "key": "x", "type": "text", "object": "lead"}),
        (reverse("leads:data_attribute_edit", args=["lead_origin"]), {"label": "Hacked"}),
        (reverse("leads:data_choice_merge", args=["lead_origin"]), {"source": "Referral Sites", "target": "Referral"}),
        (reverse("leads:data_kind_add"), {"label": "X", "key": "x"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert Attribute.objects.get(key="lead_origin").label == "Lead origin"
    assert not Attribute.objects.filter(key="x").exists()


def test_a_leader_adds_an_attribute_with_choices_and_it_is_recorded(login, sales):
    response = login(sales).post(
        reverse("leads:data_attribute_add"),
        {"label": "Occupation", "key": "occupation", "type": "choice", "object": "lead", "choices": "Student\nWorking"},
    )
    assert response["Location"] == reverse("leads:data_attribute", args=["occupation"])
    attribute = Attribute.objects.get(key="occupation")
    assert list(attribute.choices.values_list("value", flat=True)) == ["Student", "Working"]
    assert attribute.before_contact is False  # the box was left unticked
    change = DictionaryChange.objects.get(subject="occupation")
    assert change.actor == sales and "Added the attribute Occupation" in change.summary


def test_renaming_keeps_rules_working_because_they_name_the_key(login, marketing, origin):
    login(marketing).post(reverse("leads:data_attribute_edit", args=["lead_origin"]), {"label": "Origin of the lead"})
    rule = {"id": "f1", "field": "lead_origin", "operator": "in", "values": ["google"], "points": 5}
    from alignment.dictionary import load_dictionary
    from alignment.spec import describe_condition

    assert describe_condition(rule, dictionary=load_dictionary()) == "Origin of the lead is one of Google"
    assert DictionaryChange.objects.filter(summary__contains="renamed Lead origin to Origin of the lead").exists()


def test_merging_two_values_rewrites_the_stored_values_and_shows_the_rules_that_named_the_old_one(
    login, marketing, origin
):
    spec = default_spec()
    spec["fit_rules"].append(
        {"id": "f9", "field": "lead_origin", "operator": "in", "values": ["Referral Sites"], "points": 5}
    )
    AgreementVersionFactory(number=4, spec=spec)
    moved = [LeadFactory(attributes={"lead_origin": "Referral Sites"}) for _ in range(3)]
    kept = LeadFactory(attributes={"lead_origin": "Google", "other": 1})
    response = login(marketing).post(
        reverse("leads:data_choice_merge", args=["lead_origin"]),
        {"source": "Referral Sites", "target": "Referral"},
        follow=True,
    )
    page = response.content.decode()
    assert "3 stored values rewritten" in page and "Version 4 (active): rule f9" in page
    assert {Lead.objects.get(pk=lead.pk).attributes["lead_origin"] for lead in moved} == {"Referral"}
    assert Lead.objects.get(pk=kept.pk).attributes == {"lead_origin": "Google", "other": 1}
    old = AttributeChoice.objects.get(attribute=origin, value="Referral Sites")
    assert old.archived
    assert "Referral Sites" in AttributeChoice.objects.get(attribute=origin, value="Referral").aliases
    assert DictionaryChange.objects.get(action="choices_merged").actor == marketing


def test_merging_a_built_in_value_rewrites_its_column(login, marketing):
    AccountFactory(industry="Media")
    AccountFactory(industry="Software")
    login(marketing).post(
        reverse("leads:data_choice_merge", args=["industry"]), {"source": "Media", "target": "Telecommunications"}
    )
    assert sorted(Account.objects.values_list("industry", flat=True)) == ["Software", "Telecommunications"]


def test_merging_a_multi_choice_value_keeps_each_value_once(marketing):
    from leads.intake.values import choice_values_merge

    topics = data_dictionary.attribute_create(
        key="topics", label="Topics", type="multi_choice", choices=[{"value": "ai"}, {"value": "ml"}]
    )
    lead = LeadFactory(attributes={"topics": ["ai", "ml"]})
    other = LeadFactory(attributes={"topics": ["ml"]})
    changed, _ = choice_values_merge(attribute=topics, source="ml", target="ai", user=marketing)
    assert changed == 2
    assert Lead.objects.get(pk=lead.pk).attributes == {"topics": ["ai"]}
    assert Lead.objects.get(pk=other.pk).attributes == {"topics": ["ai"]}


def test_archiving_what_the_agreement_uses_is_refused_with_the_rules_named(login, marketing, origin):
    spec = default_spec()
    spec["fit_rules"].append({"id": "f9", "field": "lead_origin", "operator": "in", "values": ["Google"], "points": 5})
    AgreementVersionFactory(number=2, spec=spec)
    client = login(marketing)
    page = client.post(
        reverse("leads:data_attribute_edit", args=["lead_origin"]), {"action": "archive"}, follow=True
    ).content.decode()
    assert "Version 2 (active): rule f9" in page
    assert not Attribute.objects.get(key="lead_origin").archived
    page = client.post(reverse("leads:data_kind_edit", args=["demo_request"]), {"action": "archive"}, follow=True)
    assert "rule b1" in page.content.decode()
    assert not ActivityKind.objects.get(key="demo_request").archived
    client.post(reverse("leads:data_choice_archive", args=["lead_origin"]), {"value": "Referral"})
    assert AttributeChoice.objects.get(value="Referral").archived


def test_the_lead_page_shows_the_organisations_attributes_by_label(login, marketing, origin):
    data_dictionary.attribute_create(key="opted_out", label="Opted out", type="yes_no")
    lead = LeadFactory(attributes={"lead_origin": "Google", "opted_out": False}, country="BR", region="Latin America")
    page = login(marketing).get(reverse("leads:lead_detail", args=[lead.pk])).content.decode()
    assert "Lead origin</dt>" in page and ">Google</dd>" in page
    assert "Opted out</dt>" in page and ">No</dd>" in page
    assert "BR (Latin America)" in page


def test_a_country_moves_to_another_region_with_the_regions_stored_on_leads_and_accounts(login, marketing, sdr):
    from alignment.models import Country

    lead = LeadFactory(country="MX", region="Latin America")
    account = AccountFactory(country="MX", region="Latin America")
    assert login(sdr).post(reverse("leads:data_country_region"), {"code": "MX", "region": "X"}).status_code == 403
    login(marketing).post(reverse("leads:data_country_region"), {"code": "MX", "region": "North America"})
    assert Country.objects.get(code="MX").region == "North America"
    assert Lead.objects.get(pk=lead.pk).region == "North America"
    assert Account.objects.get(pk=account.pk).region == "North America"
    assert DictionaryChange.objects.get(action="country_region").actor == marketing
    page = login(marketing).get(reverse("leads:data_attribute", args=["country"])).content.decode()
    assert "Countries and their regions" in page and "Mexico" in page and "Bolivia" in page
