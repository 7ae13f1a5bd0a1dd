"""Follow-up attempts on accepted leads: who may log them, when, and how the inbox, lead page and API show them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.inbox.followup import AttemptTimeError, attempt_log, followup_status
from leads.inbox.services import LeadError, lead_accept
from leads.intake import writes as intake
from leads.models import FollowUpAttempt, Stage
from portal.access import Role
from tests.factories import AgreementVersionFactory, MqlFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def version(db):
    return AgreementVersionFactory()


@pytest.fixture
def sal(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.pk, user=sdr)
    lead.refresh_from_db()
    return lead


def log(lead, user, **kwargs):
    return attempt_log(lead_id=lead.pk, user=user, **{"channel": "call", "outcome": "voicemail", **kwargs})


# --- the service ----------------------------------------------------------------------------------


def test_the_owner_logs_an_attempt_with_who_and_when(sal, sdr):
    before = timezone.now()
    attempt = log(sal, sdr, note="Left a message")
    attempt.refresh_from_db()
    assert (attempt.channel, attempt.outcome, attempt.note) == ("call", "voicemail", "Left a message")
    assert attempt.logged_by == sdr and attempt.logged_at >= before and attempt.at == attempt.logged_at


def test_the_teams_manager_and_leaders_may_log_but_other_sdrs_may_not(sal, manager, marketing, sales, sdr2):
    for user in (manager, marketing, sales):
        log(sal, user)
    with pytest.raises(LeadError, match="owner, its team's manager or a leader"):
        log(sal, sdr2)
    other_manager = UserFactory(roles=[Role.MANAGER])
    TeamFactory(manager=other_manager)
    with pytest.raises(LeadError):
        log(sal, other_manager)
    assert FollowUpAttempt.objects.filter(lead=sal).count() == 3


def test_an_mql_is_refused_with_a_reason_to_accept_it_first(version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    with pytest.raises(LeadError, match="Accept .* first"):
        log(lead, sdr)
    assert not FollowUpAttempt.objects.exists()


def test_a_lead_past_sal_is_refused(sal, sdr):
    from leads.inbox.services import lead_convert

    lead_convert(lead_id=sal.pk, user=sdr, amount=1000)
    with pytest.raises(LeadError, match="accepted \\(SAL\\) leads only"):
        log(sal, sdr)


def test_back_dating_is_limited_to_a_day_and_to_the_acceptance(sal, sdr):
    now = timezone.now()
    with pytest.raises(AttemptTimeError, match="24 hours"):
        log(sal, sdr, at=now - dt.timedelta(hours=25), now=now)
    with pytest.raises(AttemptTimeError, match="future"):
        log(sal, sdr, at=now + dt.timedelta(hours=1), now=now)
    with pytest.raises(AttemptTimeError, match="before"):
        log(sal, sdr, at=now - dt.timedelta(hours=2), now=now)  # accepted moments ago
    assert log(sal, sdr, at=now, now=now).at == now


def test_the_status_counts_attempts_against_the_terms_and_the_business_day_deadline(sal, sdr, version):
    log(sal, sdr)
    log(sal, sdr, channel="email", outcome="replied")
    status = followup_status(sal, version)
    assert status.label == "2 of 3 attempts" and not status.kept
    calendar_hours = 8.5 * 5
    from alignment.calendar import BusinessCalendar

    calendar = BusinessCalendar.from_spec(version.spec["sla"]["calendar"])
    assert calendar.hours_between(sal.transitions.latest("at").at, status.due_at) == pytest.approx(calendar_hours)


# --- views ----------------------------------------------------------------------------------------


def test_the_accepted_tab_shows_attempts_and_logs_one_in_place(login, sal, sdr):
    client = login(sdr)
    page = client.get(reverse("leads:inbox"), {"tab": "accepted"})
    assert b"0 of 3 attempts" in page.content and b'data-action="attempt"' in page.content
    form = client.get(reverse("leads:attempt", args=[sal.pk]), {"ctx": "row", "tab": "accepted"}, **HTMX)
    assert form.status_code == 200 and b'name="channel"' in form.content
    done = client.post(
        reverse("leads:attempt", args=[sal.pk]),
        {"ctx": "row", "tab": "accepted", "channel": "call", "outcome": "connected"},
        **HTMX,
    )
    assert done.status_code == 200 and done.headers["HX-Retarget"] == f"#lead-row-{sal.pk}"
    assert b"1 of 3 attempts" in done.content
    assert FollowUpAttempt.objects.get(lead=sal).outcome == "connected"


def test_a_bad_attempt_form_answers_422_with_the_field_errors(login, sal, sdr):
    response = login(sdr).post(
        reverse("leads:attempt", args=[sal.pk]), {"ctx": "row", "channel": "fax", "outcome": ""}, **HTMX
    )
    assert response.status_code == 422
    assert b"Choose a channel." in response.content and b"Choose what came of the attempt." in response.content
    assert not FollowUpAttempt.objects.exists()


def test_the_attempt_view_refuses_other_sdrs_and_anonymous_visitors(client, login, sal, sdr2):
    url = reverse("leads:attempt", args=[sal.pk])
    anonymous = client.post(url, {"channel": "call", "outcome": "connected"})
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("login"))
    assert login(sdr2).post(url, {"channel": "call", "outcome": "connected"}).status_code == 403
    assert not FollowUpAttempt.objects.exists()


def test_an_mql_answers_409_with_the_reason(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    response = login(sdr).post(
        reverse("leads:attempt", args=[lead.pk]), {"ctx": "detail", "channel": "call", "outcome": "connected"}, **HTMX
    )
    assert response.status_code == 409 and b"follow-up attempts count from acceptance" in response.content


def test_the_lead_page_lists_the_attempts_in_its_timeline(login, sal, sdr):
    log(sal, sdr, note="Asked for a demo next week", outcome="connected")
    page = login(sdr).get(reverse("leads:lead_detail", args=[sal.pk]))
    assert b'data-testid="attempts"' in page.content and b"Asked for a demo next week" in page.content
    assert b"1 of 3 attempts" in page.content and b'data-action="attempt"' in page.content


# --- API ------------------------------------------------------------------------------------------


@pytest.fixture
def api():
    _, raw = intake.api_token_create(name="Dialer")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(api, lead_id, body):
    return api.post(f"/api/v1/leads/{lead_id}/attempts", json.dumps(body), content_type="application/json")


def test_the_api_logs_an_attempt_as_the_owner_and_shows_it_on_the_lead(api, sal, sdr):
    response = post(api, sal.pk, {"channel": "email", "outcome": "replied", "note": "Interested"})
    assert response.status_code == 201 and response.json()["by"] == "sdr1"
    assert FollowUpAttempt.objects.get(lead=sal).logged_by == sdr
    lead = api.get(f"/api/v1/leads/{sal.pk}").json()
    assert [(a["channel"], a["outcome"], a["note"]) for a in lead["attempts"]] == [("email", "replied", "Interested")]


def test_the_api_answers_422_per_field_404_and_409(api, sal, sdr2, version, team, sdr):
    bad = post(api, sal.pk, {"channel": "fax", "outcome": "maybe", "at": "2020-01-01T10:00:00Z"})
    assert bad.status_code == 422 and {"channel", "outcome"} <= set(bad.json()["errors"])
    too_old = post(api, sal.pk, {"channel": "call", "outcome": "connected", "at": "2020-01-01T10:00:00Z"})
    assert too_old.status_code == 422 and "24 hours" in too_old.json()["errors"]["at"][0]
    stranger = post(api, sal.pk, {"channel": "call", "outcome": "connected", "by": "sdr2"})
    assert stranger.status_code == 422 and "by" in stranger.json()["errors"]
    assert post(api, 999999, {"channel": "call", "outcome": "connected"}).status_code == 404
    mql = MqlFactory(team=team, owner=sdr)
    assert post(api, mql.pk, {"channel": "call", "outcome": "connected"}).status_code == 409
    assert not FollowUpAttempt.objects.exists()


def test_the_api_needs_the_leads_write_scope(sal):
    _, raw = intake.api_token_create(name="Reader", scopes=["insights:read"])
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        f"/api/v1/leads/{sal.pk}/attempts", json.dumps({"channel": "call", "outcome": "connected"}), "application/json"
    )
    assert response.status_code == 403 and not FollowUpAttempt.objects.exists()
    assert sal.stage == Stage.SAL
