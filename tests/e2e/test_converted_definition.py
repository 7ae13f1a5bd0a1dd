"""A leader says what converted means on the Data page; an SDR reads it there, and the evidence
panel states the definition it used."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from alignment import dictionary_services as data_dictionary
from leads.models import InsightSettings
from portal.access import Role
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import AgreementVersionFactory, TeamFactory, TeamMemberFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(db):
    cache.clear()
    team = TeamFactory()
    AgreementVersionFactory(number=1, title="First agreement")
    data_dictionary.attribute_create(key="converted_flag", label="Converted", type="yes_no")
    UserFactory(username="mia", first_name="Mia", last_name="Marketing", roles=[Role.MARKETING])
    sid = UserFactory(username="sid", first_name="Sid", last_name="Sdr", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sid)


def test_a_leader_chooses_what_converted_means_and_an_sdr_reads_it(people, new_page, log_in, shot, live_server):
    page = new_page(1440, 900)
    log_in(page, "mia")
    page.goto(f"{live_server.url}/leads/data/")
    section = page.get_by_test_id("converted-section")
    section.locator("select[name=converted]").select_option("attribute:converted_flag")
    section.locator("button[type=submit]").click()
    page.wait_for_url("**/leads/data/#converted")
    expect(page.get_by_test_id("dictionary-changes")).to_contain_text("Converted now means “Converted” is yes")
    expect(page.get_by_test_id("dictionary-changes")).to_contain_text("Mia Marketing")
    assert InsightSettings.objects.get(pk=1).converted == "attribute:converted_flag"
    shot(page, "data-converted-1440")
    page.screenshot(path=str(SCREENSHOTS / "data-converted.png"), clip={"x": 0, "y": 0, "width": 1440, "height": 700})

    page.goto(f"{live_server.url}/leads/evidence/?version=1")
    expect(page.get_by_test_id("outcome-definition")).to_have_text("converted = “Converted” is yes")
    page.get_by_test_id("outcome-change").click()
    page.wait_for_url("**/leads/data/#converted")

    phone = new_page(390, 844)
    log_in(phone, "sid")
    phone.goto(f"{live_server.url}/leads/data/")
    expect(phone.get_by_test_id("converted-current")).to_contain_text("“Converted” is yes")
    expect(phone.get_by_test_id("converted-form")).to_have_count(0)
    phone.get_by_test_id("converted-section").scroll_into_view_if_needed()
    shot(phone, "data-converted-390")
