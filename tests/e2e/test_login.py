"""Each demo role logs in through the real login form in Chromium and sees its landing page."""

import pytest

from portal.access import Role
from tests.factories import TeamFactory, TeamMemberFactory, UserFactory

EXPECTED = {
    "marketing": ("/agreement/", Role.MARKETING),
    "sales": ("/agreement/", Role.SALES),
    "manager": ("/sla/", Role.MANAGER),
    "sdr1": ("/leads/inbox/", Role.SDR),
    "admin": ("/leads/overview/", Role.ADMIN),
}


@pytest.fixture
def people(transactional_db):
    team = TeamFactory()
    for username, (_, role) in EXPECTED.items():
        user = UserFactory(username=username, roles=[role], is_staff=role == Role.ADMIN)
        if role == Role.SDR:
            TeamMemberFactory(team=team, user=user)
        if role == Role.MANAGER:
            team.manager = user
            team.save()


@pytest.mark.parametrize("username", list(EXPECTED))
def test_role_logs_in_and_sees_its_landing_page(people, live_server, page, log_in, shot, username):
    log_in(page, username)
    path, _ = EXPECTED[username]
    assert page.url.startswith(live_server.url + path), page.url
    assert page.locator("nav.navbar").is_visible()
    assert page.get_by_test_id("user-menu").is_visible()
    shot(page, f"landing-{username}")


def test_wrong_password_shows_an_error(people, live_server, page, log_in, shot):
    log_in(page, "sdr1", password="wrong")
    assert "/login/" in page.url
    assert page.get_by_text("Please enter a correct username and password").is_visible()
    shot(page, "login-error")
