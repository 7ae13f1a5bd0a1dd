"""The manager's SLA journey in a real browser: dashboard, filter, drill into breaches, last week's report."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from django.utils import timezone

from portal.access import Role
from sla import services
from tests.factories import AgreementVersionFactory, LeadFactory, TeamFactory, TeamMemberFactory, UserFactory
from tests.sla.conftest import history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _weekday(days_ago: int, hour: int) -> dt.datetime:
    day = timezone.now() - dt.timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day.replace(hour=hour, minute=15, second=0, microsecond=0)


@pytest.fixture
def sla_history():
    AgreementVersionFactory()
    manager = UserFactory(username="manager", first_name="Morgan", last_name="Reyes", roles=[Role.MANAGER])
    team = TeamFactory(manager=manager)
    sdrs = []
    for i, name in enumerate(["Priya", "Lucas", "Chloe"]):
        user = UserFactory(username=f"sdr{i + 1}", first_name=name, last_name="Demo", roles=[Role.SDR])
        TeamMemberFactory(team=team, user=user)
        sdrs.append(user)
    outcomes = [
        ("sal", 1, ""),
        ("sal", 3, ""),
        ("rejected", 2, "bad_fit"),
        ("nurture", 30, "no_budget"),
        ("sal", 20, ""),
        ("rejected", 5, "no_intent"),
    ]
    for i in range(36):
        owner = sdrs[i % 3]
        lead = LeadFactory(owner=owner, team=team, grade="AB"[i % 2], source="website" if i % 3 else "event")
        mql = _weekday(1 + (i * 2) % 24, 9 + i % 7)
        stage, hours, reason = outcomes[i % len(outcomes)]
        moves = [("new", mql - dt.timedelta(days=1)), ("mql", mql)]
        if i % 9 != 4:
            moves.append((stage, mql + dt.timedelta(hours=hours), owner, reason))
        history(lead, *moves)
    year, week = services.previous_iso_week(now=timezone.now(), tz=dt.UTC)
    services.report_generate(
        team_id=team.pk,
        iso_year=year,
        iso_week=week,
    )
    return manager


def test_manager_reads_the_dashboard_filters_drills_down_and_opens_last_weeks_report(
    live_server, new_page, log_in, shot, sla_history
):
    page = new_page()
    log_in(page, "manager")
    assert page.url.rstrip("/").endswith("/sla")
    page.wait_for_selector("#chart-funnel")
    assert page.locator("[data-testid=tile-mqls] .sla-big").inner_text() == "36"
    london_today = timezone.now().astimezone(zoneinfo.ZoneInfo("Europe/London")).date()
    assert page.input_value("#id_date_to") == london_today.isoformat()  # the range in use is shown
    shot(page, "sla-dashboard")

    page.select_option("#id_source", "website")
    page.click("[data-testid=apply-filters]")
    page.wait_for_load_state("networkidle")
    assert "source=website" in page.url
    assert page.locator("[data-testid=tile-mqls] .sla-big").inner_text() == "24"
    page.locator("[data-testid=card-funnel] summary").click()
    shot(page, "sla-dashboard-filtered")

    page.click("[data-testid=breaches-link]")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=drill-title]").inner_text() == "Breached MQLs"
    count = int(page.locator("[data-testid=drill-count]").inner_text())
    assert count > 0 and page.locator("[data-testid=drill-table] tbody tr").count() == count
    shot(page, "sla-drill-breaches")

    page.click("text=Back to the dashboard")
    page.click("[data-testid=latest-report]")
    page.wait_for_load_state("networkidle")
    assert "Weekly SLA report" in page.locator("[data-testid=report-title]").inner_text()
    assert page.locator("[data-testid=report-sdrs] tbody tr").count() >= 1
    shot(page, "sla-report")

    narrow = new_page(width=390, height=844)
    log_in(narrow, "manager")
    narrow.wait_for_selector("#chart-response")
    shot(narrow, "sla-dashboard-narrow")


def test_manager_reassigns_two_leads_from_the_drill_down_and_exports_it(
    live_server, new_page, log_in, shot, sla_history
):
    from leads.models import Assignment, Lead

    waiting = list(Lead.objects.filter(stage="mql").order_by("pk"))
    assert len(waiting) >= 2
    priya = Lead._meta.get_field("owner").related_model.objects.get(username="sdr1")
    page = new_page(width=1440, height=900)
    log_in(page, "manager")
    page.wait_for_selector("#chart-funnel")
    shot(page, "sla-dashboard-1440")
    page.focus("[data-testid=help-risk]")  # the keyboard reaches each figure's help
    assert "Overdue: past their target time" in page.locator(".popover").inner_text()
    page.keyboard.press("Escape")
    page.locator(".popover").wait_for(state="detached")
    page.click("[data-testid=tile-risk] a:has-text('open')")
    page.wait_for_load_state("networkidle")
    assert page.locator("[data-testid=drill-title]").inner_text() == "Open MQLs now"
    assert "d" in page.locator(f"[data-testid=open-for-{waiting[0].pk}]").inner_text()  # days in stage
    for lead in waiting[:2]:
        page.check(f"[data-testid=pick-{lead.pk}]")
    assert page.locator("#reassign-count").inner_text() == "2 selected"
    option = page.locator("[data-testid=reassign-to] option", has_text="Priya Demo")
    assert " of 50" in option.inner_text()
    page.select_option("[data-testid=reassign-to]", str(priya.pk))
    shot(page, "sla-drill-reassign-1440")
    page.click("[data-testid=reassign-submit]")
    page.wait_for_load_state("networkidle")
    assert "2 leads reassigned to Priya Demo." in page.inner_text("body")
    for lead in waiting[:2]:
        lead.refresh_from_db()
        assert lead.owner_id == priya.pk
        assert Assignment.objects.filter(lead=lead, to_owner=priya, actor__username="manager").exists()

    with page.expect_download() as download_info:
        page.click("[data-testid=drill-export]")
    text = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("Lead id,Lead,E-mail")
    assert len(lines) == 1 + len(waiting)

    narrow = new_page(width=390, height=844)
    log_in(narrow, "manager")
    narrow.wait_for_selector("#chart-response")
    shot(narrow, "sla-dashboard-390")
    narrow.goto(page.url)
    narrow.wait_for_load_state("networkidle")
    shot(narrow, "sla-drill-390")
