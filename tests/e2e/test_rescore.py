"""The rescore progress bar on the agreement page: it polls while a job runs and stops when it is done."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import RescoreJob
from portal.access import Role
from tests.factories import AgreementVersionFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_progress_bar_follows_a_running_rescore_until_it_finishes(live_server, new_page, log_in, shot):
    TeamFactory()
    UserFactory(username="maya", first_name="Maya", roles=[Role.MARKETING])
    version = AgreementVersionFactory(number=1, title="First agreement")
    job = RescoreJob.objects.create(
        version=version,
        status=RescoreJob.Status.RUNNING,
        total_chunks=20,
        done_chunks=7,
        leads_total=1_000_000,
        leads_done=350_000,
        started_at=timezone.now() - dt.timedelta(seconds=3),
    )
    page = new_page()
    log_in(page, "maya")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/leads/rescore/status/" in request.url else None)
    page.goto(f"{live_server.url}/agreement/")
    status = page.locator("#rescore-status")
    expect(status).to_have_attribute("data-status", "running")
    expect(status.locator(".progress-bar")).to_have_text("35%")
    expect(status).to_contain_text("7 of 20 chunks")
    expect(status).to_contain_text("ETA")
    status.scroll_into_view_if_needed()
    shot(page, "rescore-1-running")

    RescoreJob.objects.filter(pk=job.pk).update(done_chunks=12, leads_done=600_000)
    expect(status.locator(".progress-bar")).to_have_text("60%", timeout=5_000)  # the bar polls itself

    RescoreJob.objects.filter(pk=job.pk).update(
        done_chunks=20, leads_done=1_000_000, status=RescoreJob.Status.DONE, finished_at=timezone.now()
    )
    expect(status).to_have_attribute("data-status", "done", timeout=5_000)
    expect(status).to_contain_text("finished in")
    shot(page, "rescore-2-done")
    seen = len(polls)
    page.wait_for_timeout(2_500)
    assert len(polls) == seen  # polling stopped once the job was done
