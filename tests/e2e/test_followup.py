"""An SDR logs a follow-up attempt from the Accepted tab by keyboard and sees the count move."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from leads.inbox.followup import attempt_log
from leads.inbox.services import lead_accept
from leads.models import FollowUpAttempt
from portal.access import Role
from tests.factories import AgreementVersionFactory, MqlFactory, TeamFactory, TeamMemberFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture
def accepted(db):
    AgreementVersionFactory()
    team = TeamFactory()
    sdr = UserFactory(username="sdr1", first_name="Sam", last_name="Reed", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    leads = []
    for i, (first, last) in enumerate([("Ada", "Lovelace"), ("Grace", "Hopper")]):
        lead = MqlFactory(
            team=team,
            owner=sdr,
            first_name=first,
            last_name=last,
            sla_due_at=timezone.now() + dt.timedelta(hours=1 + i),
        )
        lead_accept(lead_id=lead.pk, user=sdr)
        leads.append(lead)
    attempt_log(lead_id=leads[0].pk, user=sdr, channel="call", outcome="no_answer")
    return sdr, leads


def test_sdr_logs_an_attempt_by_keyboard_from_the_accepted_tab(accepted, new_page, log_in, live_server):
    sdr, leads = accepted
    page = new_page(width=1440, height=900)
    log_in(page, "sdr1")
    page.goto(f"{live_server.url}/leads/inbox/?tab=accepted")
    row = page.locator(f"#lead-row-{leads[0].pk}")
    assert "1 of 3 attempts" in row.inner_text()
    assert "0 of 3 attempts" in page.locator(f"#lead-row-{leads[1].pk}").inner_text()

    page.keyboard.press("?")
    page.wait_for_function("document.getElementById('shortcuts-modal').contains(document.activeElement)")
    assert "Log a follow-up attempt" in page.locator("#shortcuts-modal").inner_text()
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts-modal", state="hidden")

    # The first row is highlighted; f opens the dialog with the focus on the channel.
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.dataset.leadId") == str(leads[0].pk)
    page.keyboard.press("f")
    page.wait_for_selector("#action-modal.show form[data-action-form=attempt]")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_channel'")
    page.keyboard.press("e")  # E-mail
    page.keyboard.press("Tab")
    page.keyboard.press("r")  # Replied
    page.keyboard.press("Tab")
    page.keyboard.type("Wants a demo on Tuesday")
    page.screenshot(path=str(DOCS_IMG / "inbox-followup-dialog.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#action-modal", state="hidden")
    page.wait_for_function(f"document.getElementById('lead-row-{leads[0].pk}').innerText.includes('2 of 3 attempts')")
    attempt = FollowUpAttempt.objects.filter(lead=leads[0]).latest("id")
    assert (attempt.channel, attempt.outcome, attempt.note, attempt.logged_by_id) == (
        "email",
        "replied",
        "Wants a demo on Tuesday",
        sdr.pk,
    )
    page.screenshot(path=str(DOCS_IMG / "inbox-followup.png"))

    # Enter on the channel list logs straight away.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.leadId") == str(leads[1].pk)
    page.keyboard.press("f")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_channel'")
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.getElementById('lead-row-{leads[1].pk}').innerText.includes('1 of 3 attempts')")
    assert FollowUpAttempt.objects.filter(lead=leads[1], channel="call").count() == 1

    # The lead page lists the attempts in its timeline.
    page.goto(f"{live_server.url}/leads/{leads[0].pk}/")
    assert "Wants a demo on Tuesday" in page.locator("[data-testid=attempts]").inner_text()
    page.locator("[data-testid=attempts]").scroll_into_view_if_needed()
    page.screenshot(path=str(DOCS_IMG / "lead-followup.png"), full_page=True)

    phone = new_page(width=390, height=844)
    log_in(phone, "sdr1")
    phone.goto(f"{live_server.url}/leads/inbox/?tab=accepted")
    assert "2 of 3 attempts" in phone.locator(f"#lead-row-{leads[0].pk}").inner_text()
    phone.screenshot(path=str(DOCS_IMG / "inbox-followup-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 400
