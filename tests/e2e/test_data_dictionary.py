"""A leader brings data of its own: adds an attribute on the Data page, imports a file whose
"Select" and "Not given" mean unknown, writes a rule on the attribute with the searchable
multi-select, sees it in a lead's "why" panel and on the lead list's chosen columns; the next
import remembers what was read as unknown."""

from __future__ import annotations

from pathlib import Path

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
    "dee@corp.example,Not given,event\n"
)
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def _docs_shot(page, name: str) -> None:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / f"{name}.png"), full_page=True)


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
    leaders, page, new_page, log_in, shot, live_server, tmp_path
):
    mia, sam = leaders
    page.set_viewport_size({"width": 1440, "height": 900})
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
    step.locator("tr", has_text="Not given").locator("select").select_option("")
    shot(page, "data-2-values")
    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/preview/")
    page.get_by_test_id("import-button").click()
    page.wait_for_url("**/leads/import/*/")
    assert dict(Lead.objects.values_list("email", "attributes")) == {
        "ana@corp.example": {"occupation": "Working Professional"},
        "bo@corp.example": {},
        "cy@corp.example": {"occupation": "Student"},
        "dee@corp.example": {},
    }
    assert Attribute.objects.get(key="occupation").unknown_aliases == ["Select", "Not given"]

    # The next file of the same column: what was read as unknown is pre-selected as unknown.
    upload.write_text("Email,Occupation\neve@corp.example,Not given\nfay@corp.example,Student\n", encoding="utf-8")
    page.goto(f"{live_server.url}/leads/import/")
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_url("**/mapping/")
    page.locator("select[name=col_1]").select_option("attr:occupation")
    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/values/")
    again = page.get_by_test_id("value-step").locator("tr", has_text="Not given").locator("select")
    assert again.input_value() == ""

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
    expect(row.locator("input[name$='-values']")).to_be_hidden()  # the choices are picked, not typed
    search = row.get_by_role("combobox", name="Values of Occupation")
    search.fill("work")
    expect(row.get_by_role("option", name="Working Professional")).to_be_visible()
    search.press("Enter")
    expect(row.get_by_role("button", name="Remove Working Professional")).to_be_visible()
    search.fill("stu")
    search.press("ArrowDown")
    search.press("Enter")
    search.press("Backspace")  # the empty search box takes back the last value chosen
    search.press("Backspace")  # …after the typed letters
    search.press("Backspace")
    search.press("Backspace")
    expect(row.get_by_role("button", name="Remove Student")).to_have_count(0)
    assert row.locator("input[name$='-values']").input_value() == "Working Professional"
    search.fill("")
    search.focus()
    box = row.bounding_box()
    clip = {"x": 0, "y": max(box["y"] - 40, 0), "width": 1440, "height": box["height"] + 160}
    page.screenshot(path=str(DOCS_IMG / "rule-editor-multiselect-1440.png"), clip=clip)
    search.press("Escape")
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
    why.screenshot(path=str(DOCS_IMG / "why-panel-1440.png"))

    # The lead list with the attribute as a chosen column, filtered by it.
    page.goto(f"{live_server.url}/leads/")
    page.locator("[data-testid=column-chooser] summary").click()
    page.get_by_test_id("column-chooser").get_by_label("Occupation").check()
    page.get_by_test_id("column-chooser").get_by_role("button", name="Show these columns").click()
    page.wait_for_url("**/leads/")
    expect(page.get_by_test_id("lead-table")).to_contain_text("Working Professional")
    page.locator("[data-testid=attribute-filters] summary").click()
    page.get_by_test_id("attribute-filters").get_by_label("Occupation").select_option(["Student"])
    _docs_shot(page, "lead-list-columns-1440")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("lead-table").locator("tbody tr")).to_have_count(1)

    small = new_page(width=390, height=844)
    log_in(small, "mia")
    small.goto(f"{live_server.url}/leads/")
    _docs_shot(small, "lead-list-columns-390")
    small.goto(f"{live_server.url}/leads/{lead.pk}/")
    small.locator("section[aria-labelledby=why-heading]").screenshot(path=str(DOCS_IMG / "why-panel-390.png"))
    assert Attribute.objects.get(key="occupation").label == "Occupation"
