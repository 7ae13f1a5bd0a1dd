"""Rescore requests are durable: written with their cause, taken by the worker or the sweeper; chunks
carry leases; jobs always close; health and the agreement page say when rescoring lags (eager mode)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import OperationalError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alignment.models import AgreementVersion
from leads import tasks
from leads.intake.importing import import_job_create, import_job_map, import_job_start
from leads.intake.writes import ActivityItem, activities_ingest, leads_upsert
from leads.models import Activity, ImportJob, Lead, RescoreChunk, RescoreJob, Stage
from leads.scoring import rescoring
from leads.scoring.rescoring import rescore_job_chunk, rescore_job_start, rescore_leads
from leads.scoring.scorer import explain
from tests.factories import AgreementVersionFactory, LeadFactory, MqlFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return AgreementVersionFactory(number=1)


def demo_request(lead: Lead, n: int = 0) -> ActivityItem:
    return ActivityItem(
        index=0, kind="demo_request", occurred_at=timezone.now(), lead_id=lead.id, external_id=f"d-{lead.id}-{n}"
    )


def requested(*leads: Lead) -> list[bool]:
    by_id = dict(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("id", "rescore_requested_at"))
    return [by_id[lead.pk] is not None for lead in leads]


def assert_scored_now(lead: Lead, version: AgreementVersion) -> None:
    lead.refresh_from_db()
    expected = explain(lead, version.spec, timezone.now())
    assert (lead.scored_version_id, lead.score, lead.rescore_requested_at) == (version.id, expected.total, None)


# --- The request is written with its cause ---------------------------------------------------------


def test_a_rolled_back_activity_batch_leaves_no_rescore_request(version):
    lead = LeadFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        activities_ingest(items=[demo_request(lead)])
        assert requested(lead) == [True]  # written by the batch's own transaction…
        raise RuntimeError("the client's transaction fails after the batch")
    assert requested(lead) == [False]  # …and gone with it
    assert not Activity.objects.exists()


def test_a_committed_activity_batch_leaves_a_request_until_a_pass_takes_it(version, django_capture_on_commit_callbacks):
    lead = LeadFactory()
    rescore_leads(lead_ids=[lead.id])  # scored by the active version: the old sweeper never looked again
    with django_capture_on_commit_callbacks(execute=False) as wake_up:  # the broker lost the message
        assert activities_ingest(items=[demo_request(lead)]).accepted == 1
    assert len(wake_up) == 1
    assert requested(lead) == [True]
    lead.refresh_from_db()
    assert lead.engagement_score == 0

    assert tasks.sweep_rescoring.delay().get() == 1  # one lead waiting: a drain is woken
    assert_scored_now(lead, version)
    assert lead.engagement_score > 0
    assert tasks.sweep_rescoring.delay().get() == 0


def test_lead_upserts_and_csv_imports_request_a_rescore_in_their_transaction(version, tmp_path):
    known = LeadFactory(email="ada@leadforge.io")
    rescore_leads(lead_ids=[known.id])
    with pytest.raises(RuntimeError), transaction.atomic():
        leads_upsert(rows=[{"email": "ada@leadforge.io", "budget": "confirmed"}])
        raise RuntimeError("rolled back")
    assert requested(known) == [False]

    with transaction.atomic():  # committed here; the test's own transaction never runs on-commit work
        leads_upsert(rows=[{"email": "ada@leadforge.io", "budget": "confirmed"}])
    assert requested(known) == [True]

    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("leads.csv", b"email,company\nniamh.m\xc3\xbcller@example.ie,Example\n")
    job = import_job_create(upload=upload, user=UserFactory())
    import_job_start(job=import_job_map(job=job, columns=["email", "company"]))
    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.DONE
    imported = Lead.objects.get(email="niamh.müller@example.ie")
    assert requested(imported) == [True]

    assert tasks.rescore_requested.delay().get() == 2
    assert_scored_now(known, version)
    assert_scored_now(imported, version)


def test_a_pass_takes_only_requests_it_can_see_and_a_drain_takes_the_oldest_first(version, monkeypatch):
    monkeypatch.setattr(rescoring, "ID_BATCH", 2)
    leads = [LeadFactory() for _ in range(3)]
    start = timezone.now()
    for offset, lead in zip((3, 1, 2), leads, strict=True):
        rescoring.rescore_request(lead_ids=[lead.id], now=start + dt.timedelta(seconds=offset))
    assert rescoring.pending_rescore() == rescoring.PendingRescore(leads=3, since=start + dt.timedelta(seconds=1))

    assert rescoring.rescore_pending().scored == 2
    assert requested(*leads) == [True, False, False]
    assert rescoring.rescore_pending().scored == 1
    assert rescoring.rescore_pending().scored == 0
    assert rescoring.pending_rescore() == rescoring.PendingRescore(leads=0, since=None)


def test_without_an_active_version_requests_wait_for_the_publish(version):
    lead = LeadFactory()
    rescoring.rescore_request(lead_ids=[lead.id])
    AgreementVersion.objects.filter(pk=version.pk).update(status=AgreementVersion.Status.RETIRED)
    assert rescoring.rescore_pending() is None
    assert requested(lead) == [True]


def test_a_full_rescore_chunk_takes_the_requests_of_its_range(version):
    lead = LeadFactory()
    rescoring.rescore_request(lead_ids=[lead.id])
    job = rescore_job_start(version_id=version.id)
    rescore_job_chunk(chunk_id=job.chunks.get().id)
    assert_scored_now(lead, version)


# --- Jobs always close; leases; the sweeper never stops for a running job ---------------------------


def test_the_last_chunk_closes_its_job_in_its_own_transaction(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 2
    for _ in range(3):
        LeadFactory()
    job = rescore_job_start(version_id=version.id)
    first, last = job.chunks.order_by("id_from")
    rescore_job_chunk(chunk_id=first.id)
    assert RescoreJob.objects.get(pk=job.pk).status == RescoreJob.Status.RUNNING
    rescore_job_chunk(chunk_id=last.id)  # no separate close: nothing to lose between the two
    job.refresh_from_db()
    assert (job.status, job.done_chunks, job.leads_done) == (RescoreJob.Status.DONE, 2, 3)
    assert job.finished_at is not None


def test_the_sweeper_closes_a_job_whose_chunks_are_all_done_and_keeps_working_meanwhile(version):
    mql_at = dt.datetime(2026, 3, 9, 16, 0, tzinfo=dt.UTC)
    open_mql = LeadFactory(budget="confirmed", stage=Stage.MQL, mql_at=mql_at, sla_due_at=mql_at)
    job = rescore_job_start(version_id=version.id)
    rescore_job_chunk(chunk_id=job.chunks.get().id)
    # What an interrupted close left behind: every chunk done, the job still "running".
    RescoreJob.objects.filter(pk=job.pk).update(status=RescoreJob.Status.RUNNING, finished_at=None)
    Lead.objects.filter(pk=open_mql.pk).update(sla_due_at=mql_at)
    later = LeadFactory()  # created after the job started, outside its chunks
    rescoring.rescore_request(lead_ids=[later.id])

    tasks.sweep_rescoring.delay()
    job.refresh_from_db()
    open_mql.refresh_from_db()
    assert job.status == RescoreJob.Status.DONE
    assert open_mql.sla_due_at != mql_at  # re-timed to the version's SLA terms by the close
    assert_scored_now(later, version)


def test_a_running_job_does_not_stop_the_sweeper_scoring_leads_it_will_not_reach(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 1
    covered = LeadFactory()
    rescore_job_start(version_id=version.id)  # its chunk message is on its way
    beyond = LeadFactory()  # not in any chunk of the job, and no request (written outside intake)
    assert tasks.sweep_unscored.delay().get() == 1
    beyond.refresh_from_db()
    covered.refresh_from_db()
    assert beyond.scored_version == version
    assert covered.scored_version is None  # left to the job


def test_a_chunk_whose_worker_died_is_queued_again_once_its_lease_expires(version, settings):
    settings.ACCORD_RESCORE_LEASE_SECONDS = 60
    lead = LeadFactory()
    job = rescore_job_start(version_id=version.id)
    chunk = job.chunks.get()
    now = timezone.now()
    # A worker took the chunk and died: its lease still runs, so a copy of the message does nothing.
    RescoreChunk.objects.filter(pk=chunk.pk).update(
        claimed_at=now, lease_expires_at=now + dt.timedelta(seconds=30), attempts=1
    )
    assert rescore_job_chunk(chunk_id=chunk.id) is None
    assert tasks.sweep_rescoring.delay().get() == 0

    RescoreChunk.objects.filter(pk=chunk.pk).update(lease_expires_at=now - dt.timedelta(seconds=1))
    assert tasks.sweep_rescoring.delay().get() == 1  # queued again (eager: run at once)
    chunk.refresh_from_db()
    job.refresh_from_db()
    assert (chunk.done_at is not None, chunk.attempts, chunk.lease_expires_at) == (True, 2, None)
    assert job.status == RescoreJob.Status.DONE
    assert_scored_now(lead, version)


def test_a_chunk_that_fails_gives_its_lease_back_so_that_the_retry_runs_at_once(version, monkeypatch):
    lead = LeadFactory()
    chunk = rescore_job_start(version_id=version.id).chunks.get()
    real_rescore = rescoring._rescore
    calls = []

    def deadlocked_once(*, target, version, now, **kwargs):
        calls.append(target)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real_rescore(target=target, version=version, now=now, **kwargs)

    monkeypatch.setattr(rescoring, "_rescore", deadlocked_once)
    with pytest.raises(OperationalError):
        rescore_job_chunk(chunk_id=chunk.id)
    chunk.refresh_from_db()
    assert (chunk.claimed_at, chunk.attempts, chunk.done_at) == (None, 1, None)
    assert rescore_job_chunk(chunk_id=chunk.id).scored == 1  # the retry, seconds later, not a lease later
    assert_scored_now(lead, version)


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_while_the_chunk_runs(settings, monkeypatch):
    settings.ACCORD_RESCORE_LEASE_SECONDS = 0.3  # renewed every 0.1 s, from the renewer's own connection
    version = AgreementVersionFactory(number=1)
    LeadFactory()
    chunk = rescore_job_start(version_id=version.id).chunks.get()
    seen = []
    real_rescore = rescoring._rescore

    def slow(*, target, version, now, **kwargs):
        seen.append(RescoreChunk.objects.get(pk=chunk.pk).lease_expires_at)
        time.sleep(0.6)  # twice the lease: without renewals it would have expired
        seen.append(RescoreChunk.objects.get(pk=chunk.pk).lease_expires_at)
        return real_rescore(target=target, version=version, now=now, **kwargs)

    monkeypatch.setattr(rescoring, "_rescore", slow)
    rescore_job_chunk(chunk_id=chunk.id)
    assert seen[1] > seen[0] + dt.timedelta(seconds=0.3)
    assert RescoreChunk.objects.get(pk=chunk.pk).done_at is not None


# --- Health tells the truth --------------------------------------------------------------------------


def test_healthz_shows_leads_waiting_for_a_rescore_and_an_overdue_wait_as_a_problem(client, version, settings):
    lead = LeadFactory()
    body = client.get("/healthz").json()
    assert body["checks"]["rescoring"] == {
        "ok": True,
        "pending_leads": 0,
        "pending_capped": False,
        "waiting_since": None,
    }
    since = timezone.now() - dt.timedelta(seconds=20)
    rescoring.rescore_request(lead_ids=[lead.id], now=since)
    body = client.get("/healthz").json()
    assert (body["status"], body["checks"]["rescoring"]["pending_leads"]) == ("ok", 1)
    assert body["checks"]["rescoring"]["waiting_since"] == since.isoformat()

    Lead.objects.update(rescore_requested_at=timezone.now() - dt.timedelta(minutes=10))
    AgreementVersion.objects.update(status=AgreementVersion.Status.RETIRED)
    assert client.get("/healthz").json()["status"] == "ok"  # nothing to score against yet: waiting is normal
    AgreementVersion.objects.update(status=AgreementVersion.Status.ACTIVE)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200  # the portal still serves; monitoring reads "degraded"
    assert (body["status"], body["failed"]) == ("degraded", ["rescoring"])
    assert "waited" in body["checks"]["rescoring"]["error"]


def test_healthz_shows_a_stuck_job_as_a_problem_not_as_progress(client, version):
    LeadFactory()
    job = rescore_job_start(version_id=version.id)
    rescoring_check = client.get("/healthz").json()["checks"]["rescoring"]
    assert (rescoring_check["ok"], rescoring_check["job"]["state"]) == (True, "running")

    long_ago = timezone.now() - dt.timedelta(minutes=30)
    RescoreJob.objects.filter(pk=job.pk).update(started_at=long_ago)
    RescoreChunk.objects.filter(job=job).update(lease_expires_at=long_ago)  # no worker, no sweeper
    body = client.get("/healthz").json()
    assert (body["status"], body["failed"], body["checks"]["rescoring"]["job"]["state"]) == (
        "degraded",
        ["rescoring"],
        "stuck",
    )
    assert "no worker holds one" in body["checks"]["rescoring"]["error"]


def test_agreement_page_shows_a_stuck_job_and_waiting_leads_and_drops_the_bar_when_done(login, marketing, version):
    url = reverse("leads:rescore_status")
    LeadFactory()
    job = rescore_job_start(version_id=version.id)
    long_ago = timezone.now() - dt.timedelta(minutes=30)
    RescoreJob.objects.filter(pk=job.pk).update(started_at=long_ago)
    RescoreChunk.objects.filter(job=job).update(lease_expires_at=long_ago)
    lead = LeadFactory()
    rescoring.rescore_request(lead_ids=[lead.id], now=long_ago)
    client = login(marketing)

    html = client.get(url).content.decode()
    assert 'data-status="stuck"' in html
    assert "Stuck" in html and "no worker holds one" in html
    assert "ETA" not in html and "progress-bar-animated" not in html
    assert "1 lead waiting for a new score since" in html
    assert "scores are stale" in html
    assert 'hx-trigger="every 1s"' in html

    for chunk in job.chunks.all():
        rescore_job_chunk(chunk_id=chunk.id)
    rescoring.rescore_pending()
    html = client.get(url, {"watching": "1"}).content.decode()  # the bar's own poll sees it finish
    assert 'data-status="done"' in html
    assert "progress-bar" not in html  # a finished job is a line, not a bar
    assert "Every lead rescored under" in html
    assert "hidden" in client.get(url).content.decode()  # and it is gone on the next visit
    assert "waiting for a new score" not in html
    assert "hx-trigger" not in html


def test_the_api_says_when_a_lead_s_score_is_waiting_for_a_rescore(version, django_capture_on_commit_callbacks):
    from leads.intake.writes import api_token_create

    lead = LeadFactory()
    rescore_leads(lead_ids=[lead.id])
    _, raw = api_token_create(name="CRM sync")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get(f"/api/v1/leads/{lead.id}").json()["rescore_requested_at"] is None
    with django_capture_on_commit_callbacks(execute=False):  # the wake-up call is lost
        activities_ingest(items=[demo_request(lead)])
    body = api.get(f"/api/v1/leads/{lead.id}").json()
    assert body["rescore_requested_at"] is not None  # a syncing client sees the score is not current yet
    tasks.sweep_rescoring.delay()
    assert api.get(f"/api/v1/leads/{lead.id}").json()["rescore_requested_at"] is None


def test_the_lead_page_says_a_new_score_is_on_its_way(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr, scored_version=version, budget="confirmed")
    url = reverse("leads:lead_detail", args=[lead.pk])
    assert 'data-testid="rescore-pending"' not in login(sdr).get(url).content.decode()
    rescoring.rescore_request(lead_ids=[lead.id])
    assert "new score on its way" in login(sdr).get(url).content.decode()
