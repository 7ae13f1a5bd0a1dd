"""The rescore progress partial: who may see it, and how it polls while a job runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import RescoreJob
from tests.factories import AgreementVersionFactory

URL = reverse("leads:rescore_status")
pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_user_without_a_role_is_forbidden(login, outsider):
    assert login(outsider).get(URL).status_code == 403


@pytest.mark.parametrize("role", ["sdr", "manager"])
def test_only_leaders_who_can_act_on_a_rescore_see_its_bar(login, role, request):
    assert login(request.getfixturevalue(role)).get(URL).status_code == 403


def test_nothing_is_shown_before_any_rescore(login, sales):
    response = login(sales).get(URL)
    assert response.status_code == 200
    assert b" hidden data-status" in response.content and b"progress" not in response.content
    assert b"hx-trigger" not in response.content


def test_running_job_shows_progress_and_polls_every_second(login, marketing, django_assert_max_num_queries):
    version = AgreementVersionFactory(number=4)
    RescoreJob.objects.create(version=version, status=RescoreJob.Status.DONE, total_chunks=1, done_chunks=1)
    RescoreJob.objects.create(
        version=version,
        status=RescoreJob.Status.RUNNING,
        total_chunks=20,
        done_chunks=5,
        leads_total=1_000_000,
        leads_done=250_000,
        started_at=timezone.now() - dt.timedelta(seconds=2),
    )
    client = login(marketing)
    # Session, user, roles, the job; the waiting leads; the job's chunks (is it stuck?).
    with django_assert_max_num_queries(6):
        response = client.get(URL, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in html
    assert 'aria-valuenow="25"' in html
    assert "5 of 20 chunks" in html
    assert "250,000 of 1,000,000 leads" in html
    assert "leads/s" in html
    assert "ETA" in html
    assert "version 4" in html


def _finished_job():
    version = AgreementVersionFactory(number=2)
    started = timezone.now() - dt.timedelta(seconds=9)
    return RescoreJob.objects.create(
        version=version,
        status=RescoreJob.Status.DONE,
        total_chunks=2,
        done_chunks=2,
        leads_total=3000,
        leads_done=3000,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=3),
    )


def test_a_finished_job_is_reported_once_to_whoever_watched_it_and_polling_stops(login, marketing):
    _finished_job()
    html = login(marketing).get(URL, {"watching": "1"}).content.decode()
    assert "hx-trigger" not in html
    assert "Done" in html
    assert "finished in 3 s" in html
    assert "1,000 leads/s" in html


def test_the_bar_disappears_once_the_rescore_is_done(login, marketing):
    _finished_job()
    html = login(marketing).get(URL).content.decode()
    assert " hidden data-status" in html and "progress" not in html and "hx-trigger" not in html


def test_a_failed_rescore_stays_visible_to_leaders(login, sales):
    version = AgreementVersionFactory(number=3)
    RescoreJob.objects.create(
        version=version, status=RescoreJob.Status.FAILED, error="Chunk 4 failed: boom", finished_at=timezone.now()
    )
    html = login(sales).get(URL).content.decode()
    assert "Chunk 4 failed: boom" in html and " hidden data-status" not in html


def test_superseded_job_says_so(login, sales):
    version = AgreementVersionFactory(number=2)
    RescoreJob.objects.create(version=version, status=RescoreJob.Status.SUPERSEDED, finished_at=timezone.now())
    html = login(sales).get(URL, {"watching": "1"}).content.decode()
    assert "Superseded" in html
    assert "hx-trigger" not in html
