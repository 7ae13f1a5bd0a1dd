"""After logging in through the real login form, each role lands on its own page."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

LANDING = {
    "marketing": "alignment:agreement",
    "sales": "alignment:agreement",
    "manager": "sla:dashboard",
    "sdr1": "leads:inbox",
}


@pytest.mark.parametrize("fixture_name", ["marketing", "sales", "manager", "sdr"])
def test_each_role_lands_on_its_home_after_login(client, request, fixture_name):
    user = request.getfixturevalue(fixture_name)
    response = client.post(reverse("login"), {"username": user.username, "password": "accord-demo"}, follow=True)
    assert response.status_code == 200
    final_url = response.redirect_chain[-1][0]
    assert final_url == reverse(LANDING[user.username])


def test_wrong_password_stays_on_the_login_page_with_a_message(client, sdr):
    response = client.post(reverse("login"), {"username": "sdr1", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_user_without_role_lands_on_the_overview_and_is_refused(client, outsider):
    response = client.post(reverse("login"), {"username": "outsider", "password": "accord-demo"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("leads:overview")
    assert response.status_code == 403


def test_logout_is_a_post_and_ends_the_session(login, sdr):
    client = login(sdr)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_navigation_shows_only_what_the_role_may_open(login, sdr, marketing):
    sdr_page = login(sdr).get(reverse("leads:overview")).content.decode()
    marketing_page = login(marketing).get(reverse("leads:overview")).content.decode()
    assert 'href="/leads/overview/"' in sdr_page
    assert reverse("leads:import_upload") not in sdr_page
    assert reverse("leads:import_upload") in marketing_page
    assert reverse("leads:inbox") in sdr_page
    assert reverse("leads:inbox") not in marketing_page


def test_navigation_highlights_only_the_most_specific_entry(login, sdr):
    page = login(sdr).get(reverse("leads:inbox")).content.decode()
    assert page.count('aria-current="page"') == 1
    assert f'href="{reverse("leads:inbox")}" aria-current="page"' in page
