"""An SDR's daily use in a real browser: search, keyboard selection, dialogs, counts, messages, undo,
the Accepted tab at 1366 px and the weekly report on a phone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from leads.models import Lead, Stage, Transition
from portal.access import Role
from sla import services as sla_services
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    AgreementVersionFactory,
    LeadFactory,
    MqlFactory,
    PersonaFactory,
    TeamFactory,
    TeamMemberFactory,
    UserFactory,
)
from tests.sla.conftest import history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(db):
    """An SDR with a long queue (the page scrolls) and Leo Baker of Acme Robotics among her leads."""
    version = AgreementVersionFactory()
    team = TeamFactory()
    sdr = UserFactory(username="sdr1", first_name="Sam", last_name="Reed", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    now = timezone.now()
    leads = [
        MqlFactory(
            team=team,
            owner=sdr,
            first_name=f"Lead{i:02d}",
            last_name="Queue",
            scored_version=version,
            sla_due_at=now + dt.timedelta(minutes=30 + i),
            account=AccountFactory(name=f"Company {i}"),
        )
        for i in range(30)
    ]
    leo = MqlFactory(
        team=team,
        owner=sdr,
        first_name="Leo",
        last_name="Baker",
        email="leo.baker@acme.example",
        scored_version=version,
        sla_due_at=now + dt.timedelta(hours=5),
        account=AccountFactory(name="Acme Robotics"),
    )
    MqlFactory(team=team, owner=sdr, first_name="Leonie", last_name="Stone", scored_version=version)
    return sdr, leads, leo


def _rows(page):
    return page.locator("tr.inbox-row")


def _active_lead(page) -> str | None:
    return page.evaluate("document.activeElement.dataset.leadId || null")


def test_search_finds_a_lead_by_full_name_email_or_company(queue, page, log_in, shot, live_server):
    _, _, leo = queue
    log_in(page, "sdr1")
    for text in ("Leo Baker", "leo.baker@acme.example", "acme robotics"):
        page.fill("input[name=q]", text)
        page.wait_for_function("document.querySelectorAll('tr.inbox-row').length === 1", timeout=5000)
        assert _rows(page).first.get_attribute("data-lead-id") == str(leo.pk), text
    shot(page, "daily-1-inbox-search")

    page.goto(f"{live_server.url}/leads/?q=Leo+Baker")
    rows = page.locator("[data-testid=lead-table] tbody tr")
    assert rows.count() == 1 and "Leo Baker" in rows.first.inner_text()


def test_keyboard_selection_dialog_focus_counts_messages_and_undo(queue, page, log_in, shot):
    sdr, leads, _ = queue
    log_in(page, "sdr1")
    assert page.evaluate("document.documentElement.scrollHeight > window.innerHeight"), "the queue must scroll"

    # Space selects the highlighted row (the first on arrival, then j moves) and does not scroll the page.
    page.keyboard.press("Space")
    assert page.evaluate("window.scrollY") == 0
    page.keyboard.press("j")
    page.keyboard.press("Space")
    assert page.evaluate("window.scrollY") == 0
    assert page.locator("#selected-count").inner_text() == "2"
    assert [_rows(page).nth(i).locator("input[type=checkbox]").is_checked() for i in range(3)] == [True, True, False]

    # After a click on a checkbox, j/k and a still work.
    _rows(page).nth(3).locator("input[type=checkbox]").click()
    assert page.locator("#selected-count").inner_text() == "3"
    page.keyboard.press("j")
    assert _active_lead(page) == str(leads[4].pk)
    page.keyboard.press("k")
    assert _active_lead(page) == str(leads[3].pk)

    # The reject and recycle dialogs open with the focus on the reason.
    for key, name in (("x", "reject"), ("r", "recycle")):
        page.keyboard.press(key)
        page.wait_for_selector(f"#action-modal.show form[data-action-form={name}]")
        page.wait_for_function("document.activeElement && document.activeElement.id === 'id_reason_code'")
        if name == "reject":
            shot(page, "daily-2-reject-dialog-focus")
        page.keyboard.press("Escape")
        page.wait_for_selector("#action-modal", state="hidden")

    # Two accepts in place: the counts follow, and the second message replaces the first.
    mine = page.locator("[data-testid=tab-mine] .badge")
    assert mine.inner_text() == "32"
    page.keyboard.press("a")
    page.wait_for_selector(f"#lead-row-{leads[3].pk}", state="detached")
    page.keyboard.press("a")
    page.wait_for_selector(f"#lead-row-{leads[4].pk}", state="detached")
    page.wait_for_function("document.querySelector('[data-testid=tab-mine] .badge').textContent.trim() === '30'")
    assert "30 leads on this page" in page.locator("[data-testid=page-count]").inner_text()
    assert page.locator("#messages .accord-toast").count() == 1
    assert "Accepted Lead04 Queue" in page.locator("#messages").inner_text()
    shot(page, "daily-3-undo-offer")

    # u undoes the last action: the lead is back in the queue, the undo is a transition of its own.
    page.keyboard.press("u")
    page.wait_for_selector(f"#lead-row-{leads[4].pk}")
    page.wait_for_function("document.querySelector('[data-testid=tab-mine] .badge').textContent.trim() === '31'")
    assert "Undone" in page.locator("#messages").inner_text()
    assert Lead.objects.get(pk=leads[4].pk).stage == Stage.MQL
    back = Transition.objects.filter(lead=leads[4]).order_by("-at", "-id").first()
    assert (back.from_stage, back.to_stage, back.actor_id, back.reason_code) == (Stage.SAL, Stage.MQL, sdr.pk, "undo")
    assert Lead.objects.get(pk=leads[3].pk).stage == Stage.SAL


def test_the_accepted_tab_fits_1366_pixels_with_every_button(queue, new_page, log_in, shot, live_server):
    """Long titles, companies and personas, overdue clocks and big opportunities: what a real week holds."""
    sdr, leads, _ = queue
    persona = PersonaFactory(name="Head of Revenue Operations and Demand Generation")
    company = AccountFactory(name="Clearscale Solutions", country="CO")
    for lead in leads[:6]:
        for kind in ("demo_request", "contact_sales", "free_trial_signup"):
            ActivityFactory(lead=lead, kind=kind)
    now = timezone.now()
    long_title = "Vice President of Revenue Operations, Europe, Middle East and Africa"
    # Accepted leads were answered: their clock reads "Answered in 36h 12m", late.
    common = {
        "job_title": long_title,
        "persona": persona,
        "account": company,
        "mql_at": now - dt.timedelta(days=9),
        "sla_due_at": now - dt.timedelta(days=8),
        "first_action_at": now - dt.timedelta(days=7, minutes=48),
        "budget": "confirmed",
        "last_name": "Vanderbilt-Whitmore",
    }
    Lead.objects.filter(pk__in=[lead.pk for lead in leads[:3]]).update(stage=Stage.SAL, **common)
    Lead.objects.filter(pk__in=[lead.pk for lead in leads[3:6]]).update(
        stage=Stage.SQL, opportunity_amount=12_500_000, **common
    )
    page = new_page(width=1366, height=900)
    log_in(page, "sdr1")
    page.goto(f"{live_server.url}/leads/inbox/?tab=accepted")
    shot(page, "daily-4-accepted-1366")
    viewport = page.evaluate("document.documentElement.clientWidth")
    wrap = page.locator(".inbox-table-wrap")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the Accepted table scrolls sideways"
    for action in ("convert", "recycle", "won", "lost"):
        button = page.locator(f"tr.inbox-row [data-action={action}]").first
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport, action


def test_the_weekly_report_fits_a_phone(new_page, log_in, shot, live_server):
    AgreementVersionFactory()
    manager = UserFactory(username="manager", roles=[Role.MANAGER])
    team = TeamFactory(manager=manager)
    sdrs = [UserFactory(username=f"sdr{i}", first_name="Christopher-Alexander", roles=[Role.SDR]) for i in range(3)]
    for sdr in sdrs:
        TeamMemberFactory(team=team, user=sdr)
    week_start = timezone.now() - dt.timedelta(days=timezone.now().weekday() + 7)
    for i in range(9):
        lead = LeadFactory(team=team, owner=sdrs[i % 3])
        at = week_start.replace(hour=10) + dt.timedelta(days=i % 5)
        history(
            lead,
            ("new", at - dt.timedelta(days=1)),
            ("mql", at),
            ("sal" if i % 2 else "rejected", at + dt.timedelta(hours=2), sdrs[i % 3], "bad_fit" if i % 2 == 0 else ""),
        )
    year, week = sla_services.previous_iso_week(now=timezone.now(), tz=dt.UTC)
    report = sla_services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)
    phone = new_page(width=390, height=844)
    log_in(phone, "manager")
    phone.goto(f"{live_server.url}/sla/reports/{report.pk}/")
    width = phone.evaluate("document.documentElement.scrollWidth")
    shot(phone, "daily-5-report-phone")
    assert width <= 390, f"the weekly report scrolls sideways on a phone ({width}px)"
