"""A publish that makes more MQLs than the SDRs have room for: the leader reads what happened to them,
the manager is told and sees the banner, the SDR reads her capacity."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from alignment import services as agreement
from alignment.models import AgreementVersion
from alignment.spec import default_spec
from leads.models import Lead, Stage, TeamMember
from portal.access import Role
from sla.models import Notification
from tests.factories import (
    AgreementVersionFactory,
    LeadFactory,
    MqlFactory,
    TeamFactory,
    TeamMemberFactory,
    UserFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def test_a_publish_beyond_capacity_tells_the_leader_and_the_manager(live_server, new_page, log_in, shot, mailoutbox):
    cache.clear()
    manager = UserFactory(username="nadia", first_name="Nadia", last_name="Roy", roles=[Role.MANAGER])
    team = TeamFactory(name="Inside Sales", manager=manager)
    maya = UserFactory(username="maya", first_name="Maya", last_name="Fischer", roles=[Role.MARKETING])
    sam = UserFactory(username="sam", first_name="Sam", last_name="Okafor", roles=[Role.SALES])
    for name, first, capacity in (("ana", "Ana", 4), ("ben", "Ben", 3)):
        TeamMemberFactory(
            team=team, user=UserFactory(username=name, first_name=first, roles=[Role.SDR]), capacity=capacity
        )
    ana = TeamMember.objects.get(user__username="ana").user
    for _ in range(2):
        MqlFactory(team=team, owner=ana, budget="confirmed")
    for _ in range(5):
        LeadFactory(team=team, owner=ana, stage=Stage.SAL)  # accepted: not in her capacity
    strict = {**default_spec(), "mql_threshold": 95}
    AgreementVersionFactory(number=1, title="First agreement", spec=strict)
    leads = [LeadFactory(team=team, budget="confirmed") for _ in range(12)]  # fit 60: MQLs at a threshold of 50
    draft = agreement.draft_start(user=maya, title="Lower threshold")
    AgreementVersion.objects.filter(pk=draft.pk).update(spec={**strict, "mql_threshold": 50})
    draft.refresh_from_db()
    agreement.draft_propose(version=draft, user=maya)
    agreement.draft_sign(version=draft, user=maya, side="marketing")
    agreement.draft_sign(version=draft, user=sam, side="sales")

    # The leader publishes; the rescore runs and the agreement page says where the new MQLs went.
    page = new_page(1440, 900)
    log_in(page, "maya")
    page.goto(f"{live_server.url}/agreement/v/{draft.number}/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("publish").click()
    result = page.get_by_test_id("publish-result")
    expect(result).to_contain_text("+12 new MQLs: 5 routed, 7 waiting — all SDRs at capacity", timeout=20_000)
    result.scroll_into_view_if_needed()
    shot(page, "publish-result")
    page.locator("#rescore-status").screenshot(path=str(DOCS_IMG / "publish-result.png"))
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=True).count() == 7

    # The manager was told once, in the app and by e-mail, and sees the banner on the inbox.
    assert Notification.objects.filter(user=manager, kind=Notification.Kind.BACKLOG).count() == 1
    told = [m for m in mailoutbox if m.to == [manager.email]]
    assert len(told) == 1 and "7 MQLs are waiting for an owner" in told[0].subject
    boss = new_page(1440, 900)
    log_in(boss, "nadia")
    boss.goto(f"{live_server.url}/leads/inbox/")
    banner = boss.get_by_test_id("waiting-banner")
    expect(banner).to_contain_text("7 MQLs are waiting for an owner in Inside Sales — all SDRs at capacity")
    boss.screenshot(path=str(DOCS_IMG / "waiting-banner.png"))
    banner.get_by_role("link", name="Open the queue").click()
    expect(boss.get_by_test_id("tab-unassigned")).to_have_attribute("aria-selected", "true")
    shot(boss, "waiting-banner-queue")
    boss.goto(f"{live_server.url}/sla/notifications/")
    expect(boss.locator("body")).to_contain_text("7 MQLs are waiting for an owner in Inside Sales")
    shot(boss, "waiting-notification")
    boss.goto(f"{live_server.url}/sla/")
    if boss.get_by_test_id("sla-filters").count():  # the figures are built after the publish's refresh
        expect(boss.get_by_test_id("waiting-banner")).to_contain_text("7 MQLs are waiting for an owner")
        boss.screenshot(path=str(DOCS_IMG / "waiting-banner-dashboard.png"))
    phone = new_page(390, 844)
    log_in(phone, "nadia")
    phone.goto(f"{live_server.url}/leads/inbox/")
    expect(phone.get_by_test_id("waiting-banner")).to_be_visible()
    phone.screenshot(path=str(DOCS_IMG / "waiting-banner-phone.png"))

    # The SDR reads her capacity: the MQLs of her Mine tab, not her accepted leads.
    sdr = new_page(1440, 900)
    log_in(sdr, "ana")
    sdr.goto(f"{live_server.url}/leads/inbox/")
    expect(sdr.get_by_test_id("capacity")).to_contain_text("4 of 4 open — your capacity")
    expect(sdr.get_by_test_id("tab-mine")).to_contain_text("4")
    sdr.get_by_test_id("next-lead").click()
    expect(sdr.locator("body")).to_contain_text("You hold 4 of 4 open — your capacity")
    sdr.screenshot(path=str(DOCS_IMG / "inbox-capacity.png"))
