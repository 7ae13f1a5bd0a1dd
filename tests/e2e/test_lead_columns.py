"""The lead list's columns in Chromium: a person adds a built-in attribute and one of their own,
logs out, logs in again (a fresh browser too), and finds the same columns; a colleague does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from alignment import dictionary_services as data_dictionary
from portal.access import Role
from tests.factories import AccountFactory, LeadFactory, TeamFactory, TeamMemberFactory, UserFactory

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def people(transactional_db):
    team = TeamFactory()
    sdr = UserFactory(username="sdr1", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    UserFactory(username="marketing", roles=[Role.MARKETING])
    data_dictionary.attribute_create(
        key="lead_origin",
        label="Lead origin",
        type="choice",
        choices=[{"value": "landing_page", "label": "Landing Page Submission"}, {"value": "api", "label": "API"}],
    )
    LeadFactory(
        first_name="Ana",
        last_name="Ortiz",
        department="finance",
        attributes={"lead_origin": "landing_page"},
        account=AccountFactory(name="Corp"),
    )
    LeadFactory(first_name="Leo", last_name="Baker", department="it", attributes={"lead_origin": "api"})


def _log_out(page) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state("networkidle")


def test_chosen_columns_survive_logging_out_and_another_browser(people, live_server, new_page, log_in):
    page = new_page(width=1440, height=900)
    log_in(page, "sdr1")
    page.goto(f"{live_server.url}/leads/")
    page.locator("[data-testid=column-chooser] summary").click()
    chooser = page.get_by_test_id("column-chooser")
    chooser.get_by_label("Department").check()
    chooser.get_by_label("Lead origin").check()
    chooser.get_by_role("button", name="Show these columns").click()
    page.wait_for_url("**/leads/")
    table = page.get_by_test_id("lead-table")
    expect(table.locator("thead")).to_contain_text("Department")
    expect(table).to_contain_text("Landing Page Submission")

    _log_out(page)
    log_in(page, "sdr1")
    page.goto(f"{live_server.url}/leads/?sort=a.department")
    table = page.get_by_test_id("lead-table")
    expect(table.locator("thead")).to_contain_text("Lead origin")
    expect(table.locator("tbody tr").first).to_contain_text("Finance")
    expect(page.locator("[data-testid=column-chooser] summary")).to_have_text("Columns: Department, Lead origin added")
    page.locator("[data-testid=column-chooser] summary").click()
    expect(page.get_by_test_id("column-chooser").get_by_label("Department")).to_be_checked()
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMG / "lead-list-chosen-columns-1440.png"), full_page=True)

    other_browser = new_page()
    log_in(other_browser, "sdr1")
    other_browser.goto(f"{live_server.url}/leads/")
    expect(other_browser.get_by_test_id("lead-table").locator("thead")).to_contain_text("Department")

    colleague = new_page()
    log_in(colleague, "marketing")
    colleague.goto(f"{live_server.url}/leads/")
    expect(colleague.get_by_test_id("lead-table").locator("thead")).not_to_contain_text("Department")
    expect(colleague.get_by_test_id("column-chooser").get_by_label("Department")).not_to_be_checked()
