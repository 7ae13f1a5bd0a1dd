"""An SDR's morning: log in, work three leads from the keyboard, watch them leave the queue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from leads.models import Lead, Stage, Transition
from portal.access import Role
from tests.factories import (
    ActivityFactory,
    AgreementVersionFactory,
    MqlFactory,
    PersonaFactory,
    TeamFactory,
    TeamMemberFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def morning(db):
    version = AgreementVersionFactory()
    team = TeamFactory()
    sdr = UserFactory(username="sdr1", first_name="Sam", last_name="Reed", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    persona = PersonaFactory(name="Marketing leader")
    now = timezone.now()
    names = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"), ("Edsger", "Dijkstra")]
    leads = []
    for i, (first, last) in enumerate(names):
        lead = MqlFactory(
            team=team,
            owner=sdr,
            first_name=first,
            last_name=last,
            persona=persona,
            budget="confirmed",
            scored_version=version,
            grade="AB"[i % 2],
            mql_at=now - dt.timedelta(hours=3 - i * 0.5),
            sla_due_at=now + dt.timedelta(minutes=20 + 90 * i) if i else now - dt.timedelta(minutes=15),
        )
        ActivityFactory(lead=lead, kind="demo_request")
        ActivityFactory(lead=lead, kind="pricing_page_visit")
        leads.append(lead)
    MqlFactory(team=team, first_name="Unclaimed", last_name="Lead")
    return sdr, leads


def _rows(page):
    return page.locator("tr.inbox-row")


def test_sdr_works_three_leads_from_the_keyboard(morning, page, new_page, log_in, shot, live_server):
    sdr, leads = morning
    log_in(page, "sdr1")
    assert page.url.endswith("/leads/inbox/"), "an SDR lands on the inbox"
    assert _rows(page).count() == 4
    # Most urgent first: the overdue lead, then by due time.
    assert "Ada Lovelace" in _rows(page).nth(0).inner_text()
    assert page.locator("tr.inbox-row .sla-breach").count() == 1
    shot(page, "inbox-1-queue")

    page.keyboard.press("?")
    page.wait_for_function("document.getElementById('shortcuts-modal').contains(document.activeElement)")
    shot(page, "inbox-2-shortcuts")
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcuts-modal", state="hidden")

    # 1. Accept the first lead with "a".
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.evaluate("document.activeElement.dataset.leadId") == str(leads[0].pk)
    page.keyboard.press("a")
    page.wait_for_selector(f"#lead-row-{leads[0].pk}", state="detached")
    assert _rows(page).count() == 3
    assert "Accepted Ada Lovelace" in page.locator("#messages").inner_text()

    # 2. Recycle the next one with "r": the dialog opens with the agreement's reasons.
    assert page.evaluate("document.activeElement.dataset.leadId") == str(leads[1].pk)
    page.keyboard.press("r")
    page.wait_for_selector("#action-modal.show form[data-action-form=recycle]")
    page.select_option("#id_reason_code", "bad_timing")
    page.fill("#id_note", "Budget opens in Q3")
    shot(page, "inbox-3-recycle-dialog")
    page.click("#action-modal button[type=submit]")
    page.wait_for_selector(f"#lead-row-{leads[1].pk}", state="detached")
    page.wait_for_selector("#action-modal", state="hidden")

    # 3. Reject the next one with "x"; a missing note is refused in the dialog first.
    page.keyboard.press("x")
    page.wait_for_selector("#action-modal.show form[data-action-form=reject]")
    page.select_option("#id_reason_code", "bad_fit")
    page.click("#action-modal button[type=submit]")
    page.wait_for_selector("#action-modal .invalid-feedback")
    assert "Write a short note" in page.locator("#action-modal").inner_text()
    shot(page, "inbox-4-reject-validation")
    page.fill("#id_note", "Agency reselling, not an end customer")
    page.click("#action-modal button[type=submit]")
    page.wait_for_selector(f"#lead-row-{leads[2].pk}", state="detached")
    page.wait_for_selector("#action-modal", state="hidden")

    assert _rows(page).count() == 1
    assert page.locator(f"#lead-row-{leads[3].pk}").is_visible()
    shot(page, "inbox-5-after-three")

    assert [Lead.objects.get(pk=x.pk).stage for x in leads] == [Stage.SAL, Stage.NURTURE, Stage.REJECTED, Stage.MQL]
    assert Transition.objects.exclude(to_stage=Stage.MQL).count() == 3
    assert Transition.objects.get(lead=leads[2], to_stage=Stage.REJECTED).reason_code == "bad_fit"

    # A reload shows the same queue: the three worked leads are gone for good.
    page.reload()
    assert _rows(page).count() == 1

    # Enter opens the remaining lead: why it qualified, its history.
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/leads/{leads[3].pk}/")
    assert "Why this lead qualified" in page.content()
    assert "Demo request" in page.locator("#lead-live").inner_text()
    shot(page, "inbox-6-lead-detail")

    # The lead page takes the same keys: "a" accepts without a reload.
    page.keyboard.press("a")
    page.wait_for_selector("#lead-live .stage-sal")
    assert Lead.objects.get(pk=leads[3].pk).stage == Stage.SAL


def test_inbox_on_a_phone(morning, new_page, log_in, shot):
    phone = new_page(width=390, height=844)
    log_in(phone, "sdr1")
    assert phone.locator("tr.inbox-row").count() == 4
    width = phone.evaluate("document.documentElement.scrollWidth")
    shot(phone, "inbox-7-phone")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
    phone.locator("tr.inbox-row").first.locator("a.inbox-open").click()
    phone.wait_for_selector("#lead-live")
    shot(phone, "inbox-8-phone-detail")
