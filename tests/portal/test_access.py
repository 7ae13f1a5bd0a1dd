import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_anonymous_user_is_sent_to_login_from_every_page(client):
    for url in ("/", reverse("leads:overview"), reverse("leads:lead_list")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_user_without_a_role_is_refused_the_overview(login, outsider):
    response = login(outsider).get(reverse("leads:overview"))
    assert response.status_code == 403
    assert b"have access to this page" in response.content


def test_every_role_can_open_the_overview(login, marketing, sales, sdr, manager, admin_user):
    for user in (marketing, sales, sdr, manager, admin_user):
        response = login(user).get(reverse("leads:overview"))
        assert response.status_code == 200, user.username
        assert b"Latest transitions" in response.content


def test_unknown_page_shows_the_styled_404(login, sdr):
    response = login(sdr).get("/leads/999999/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
