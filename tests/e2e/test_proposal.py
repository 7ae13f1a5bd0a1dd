"""A marketing leader proposes a definition from outcomes, starts a draft from it and adjusts a rule;
the sales leader reads the model card and each rule's evidence before signing."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from alignment.models import AgreementVersion
from portal.access import Role
from tests.factories import AgreementVersionFactory, TeamFactory, UserFactory
from tests.leads import planted

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def organisation(db):
    cache.clear()
    TeamFactory()
    UserFactory(username="maya", first_name="Maya", last_name="Fischer", roles=[Role.MARKETING])
    UserFactory(username="sam", first_name="Sam", last_name="Okafor", roles=[Role.SALES])
    AgreementVersionFactory(number=1, title="First agreement")
    planted.write(700, 31, now=timezone.now())


def test_a_leader_proposes_from_outcomes_adopts_adjusts_and_the_other_side_reads_the_card(
    organisation, new_page, log_in, shot, live_server
):
    maya = new_page()
    maya.on("dialog", lambda dialog: dialog.accept())
    log_in(maya, "maya")
    maya.get_by_test_id("start-draft").click()
    maya.wait_for_url(re.compile(r"/agreement/v/2/edit/$"))
    maya.goto(f"{live_server.url}/agreement/v/2/")
    maya.get_by_test_id("propose-from-outcomes").click()
    expect(maya.get_by_test_id("leakage-warning")).to_be_visible()
    expect(maya.locator("#attr-budget")).not_to_be_checked()
    expect(maya.locator("#attr-industry")).to_be_checked()
    shot(maya, "proposal-1-form")
    maya.get_by_test_id("propose-submit").click()
    expect(maya.get_by_test_id("model-card")).to_be_visible(timeout=60_000)
    expect(maya.get_by_test_id("card-auc")).to_have_text(re.compile(r"0\.\d\d"))
    expect(maya.get_by_test_id("proposed-rules")).to_contain_text("from data:")
    expect(maya.get_by_test_id("card-excluded")).to_contain_text("Budget")
    shot(maya, "proposal-2-result")

    maya.get_by_test_id("adopt").click()
    maya.wait_for_url(re.compile(r"/agreement/v/2/$"))
    expect(maya.get_by_test_id("proposal-note")).to_contain_text("began as a proposal from outcomes")
    # She adjusts the first rule's points in the editor.
    maya.get_by_test_id("edit-draft").click()
    points = maya.locator("input[name=fit-0-points]")
    points.fill(str(int(points.input_value()) + 2))
    maya.get_by_test_id("save").click()
    expect(maya.locator("#messages")).to_contain_text("Saved revision")

    sam = new_page()
    log_in(sam, "sam")
    sam.goto(f"{live_server.url}/agreement/v/2/")
    expect(sam.get_by_test_id("proposal-note")).to_be_visible()
    expect(sam.get_by_test_id("data-note").first).to_contain_text("as proposed, before it was edited")
    sam.get_by_test_id("tab-card").click()
    expect(sam.get_by_test_id("card-compare")).to_contain_text("Active v1")
    shot(sam, "proposal-3-sales-reads-the-card")
    assert AgreementVersion.objects.get(number=2).model_card["leads"] == 700
