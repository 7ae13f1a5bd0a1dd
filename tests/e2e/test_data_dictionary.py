"""A leader brings data of its own: adds an attribute on the Data page, imports a file whose
"Select" means unknown, writes a rule on the attribute and sees it in a lead's "why" panel."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from alignment.models import AgreementVersion, Attribute
from alignment.services import draft_propose, draft_publish, draft_sign
from leads.models import Lead
from portal.access import Role
from tests.factories import AgreementVersionFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "Email,Occupation,Lead Source\n"
    "ana@corp.example,Working Professional,website\n"
    "bo@corp.example,Select,website\n"
    "cy@corp.example,Student,event\n"
)


@pytest.fixture
def leaders(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    TeamFactory()
    AgreementVersionFactory(number=1, title="First agreement")
    mia = UserFactory(username="mia", first_name="Mia", last_name="Marketing", roles=[Role.MARKETING])
    sam = UserFactory(username="sam", first_name="Sam", last_name="Sales", roles=[Role.SALES])
    return mia, sam


def test_an_attribute_of_our_own_from_the_data_page_to_the_why_panel(
    leaders, page, log_in, shot, live_server, tmp_path
):
    mia, sam = leaders
    log_in(page, "mia")
    page.click("nav >> text=Data")
    page.wait_for_url("**/leads/data/")
    form = page.get_by_test_id("add-attribute")
    form.locator("input[name=label]").fill("Occupation")
    form.locator("input[name=key]").fill("occupation")
    form.locator("select[name=type]").select_option("choice")
    form.locator("textarea[name=choices]").fill("Student\nWorking Professional")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/data/attributes/occupation/")
    expect(page.get_by_test_id("choice-list")).to_contain_text("Working Professional")
    expect(page.get_by_test_id("dictionary-changes")).to_contain_text("Mia Marketing")
    shot(page, "data-1-attribute")

    upload = tmp_path / "export.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.goto(f"{live_server.url}/leads/import/")
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_url("**/mapping/")
    page.locator("select[name=col_1]").select_option("attr:occupation")
    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/values/")
    step = page.get_by_test_id("value-step")
    select_row = step.locator("tr", has_text="Select")
    assert select_row.locator("select").input_value() == ""  # read as unknown
    select_row.locator("select").select_option("")
    shot(page, "data-2-values")
    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/preview/")
    page.get_by_test_id("import-button").click()
    page.wait_for_url("**/leads/import/*/")
    assert dict(Lead.objects.values_list("email", "attributes")) == {
        "ana@corp.example": {"occupation": "Working Professional"},
        "bo@corp.example": {},
        "cy@corp.example": {"occupation": "Student"},
    }

    page.goto(f"{live_server.url}/agreement/")
    page.get_by_test_id("start-draft").click()
    page.wait_for_url("**/edit/")
    rows_before = page.locator("#rows-fit .rule-row").count()
    page.get_by_test_id("add-fit").click()
    expect(page.locator("#rows-fit .rule-row")).to_have_count(rows_before + 1)
    row = page.locator("#rows-fit .rule-row").last
    row.locator("select[name$='-field']").select_option("occupation")
    operators = row.locator("select[name$='-operator']")
    assert operators.locator("option[value=has_any]").is_disabled()  # a choice: is one of / is not one of …
    operators.select_option("in")
    row.locator("input[name$='-values']").fill("Working Professional")
    row.locator("input[name$='-points']").fill("70")
    page.get_by_test_id("save").click()
    page.wait_for_load_state("networkidle")
    draft = AgreementVersion.objects.get(status="draft")
    assert {"field": "occupation", "operator": "in", "values": ["Working Professional"]}.items() <= next(
        r for r in draft.spec["fit_rules"] if r["field"] == "occupation"
    ).items()
    # Signing and publishing have their own journey (test_agreement.py).
    draft_propose(version=draft, user=mia)
    draft_sign(version=draft, user=mia, side="marketing")
    draft_sign(version=draft, user=sam, side="sales")
    draft_publish(version=draft, user=sam)

    lead = Lead.objects.get(email="ana@corp.example")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    why = page.locator("section[aria-labelledby=why-heading]")
    expect(why).to_contain_text("Occupation is one of Working Professional")
    shot(page, "data-3-why")
    assert Attribute.objects.get(key="occupation").label == "Occupation"
