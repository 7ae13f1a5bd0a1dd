"""Every main page, as the role that uses it, has no serious or critical WCAG 2 AA violation (axe-core)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from alignment.models import AgreementVersion, Persona
from alignment.services import draft_start
from leads.models import Lead, Team
from portal.access import Role
from sla import services as sla_services
from sla.models import WeeklyReport
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = {
    "marketing": [
        "/agreement/",
        "/agreement/history/",
        "/agreement/diff/",
        "/agreement/ours/",
        "/agreement/personas/",
        "/agreement/personas/{persona}/",
        "/agreement/draft/",
        "/agreement/v/{draft}/edit/",
        "/leads/",
        "/leads/overview/",
        "/leads/{lead}/",
        "/leads/import/",
        "/leads/rejected/",
        "/sla/notifications/",
    ],
    "manager": [
        "/sla/",
        "/sla/leads/",
        "/sla/reports/",
        "/sla/reports/{report}/",
        "/leads/inbox/",
        "/leads/teams/{team}/",
    ],
    "sdr1": ["/leads/inbox/", "/leads/{lead}/", "/sla/"],
}


def _a_weekly_report() -> WeeklyReport:
    team = Team.objects.order_by("id").first()
    year, week = sla_services.previous_iso_week(now=timezone.now(), tz=dt.UTC)
    return sla_services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--leads", "300", "--weeks", "4", verbosity=0)
    marketing = UserFactory(username="a11y-marketing", roles=[Role.MARKETING])
    if not AgreementVersion.objects.filter(status__in=["draft", "proposed"]).exists():
        draft_start(user=marketing, title="Accessibility check")
    return {
        "draft": AgreementVersion.objects.filter(status__in=["draft", "proposed"]).get().number,
        "lead": Lead.objects.order_by("id").values_list("id", flat=True).first(),
        "team": Team.objects.order_by("id").values_list("id", flat=True).first(),
        "persona": Persona.objects.order_by("id").values_list("id", flat=True).first(),
        "report": _a_weekly_report().pk,
    }


@pytest.mark.parametrize("username", sorted(PAGES))
def test_main_pages_have_no_serious_accessibility_violations(live_server, new_page, log_in, axe, demo, username):
    page = new_page(1440, 900)
    log_in(page, username)
    found = {}
    for path in PAGES[username]:
        page.goto(live_server.url + path.format(**demo))
        page.wait_for_load_state("networkidle")
        violations = axe(page)
        if violations:
            found[path] = violations
    assert found == {}


def test_the_login_page_has_no_serious_accessibility_violations(live_server, page, axe):
    page.goto(f"{live_server.url}/login/")
    assert axe(page) == []


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_inactive_navigation_text_meets_wcag_aa_on_both_ends_of_the_bar(live_server, page, log_in, db):
    # axe cannot measure text on a gradient (it reports it as "incomplete"), so measure it here.
    UserFactory(username="maya", roles=[Role.MARKETING])
    log_in(page, "maya")
    color = page.eval_on_selector(".accord-navbar .nav-link:not(.active)", "el => getComputedStyle(el).color")
    parts = [float(p) for p in color[color.index("(") + 1 : -1].split(",")]
    alpha = parts[3] if len(parts) == 4 else 1.0
    for brand in ((0x31, 0x2E, 0x81), (0x4F, 0x46, 0xE5)):
        text = tuple(alpha * c + (1 - alpha) * b for c, b in zip(parts[:3], brand, strict=True))
        lighter, darker = sorted((_luminance(text), _luminance(brand)), reverse=True)
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5, (color, brand)
