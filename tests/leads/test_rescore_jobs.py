"""Full rescores as Celery jobs (eager mode): chunking, progress, supersession, sweeper, nightly aging."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from alignment.calendar import sla_due_at
from alignment.models import AgreementVersion
from alignment.signals import agreement_published
from leads import tasks
from leads.models import Lead, RescoreChunk, RescoreJob, Stage, Transition
from leads.scoring import rescoring
from leads.scoring.rescoring import aged_lead_ids, job_progress, rescore_job_chunk, rescore_job_start, rescore_leads
from tests.factories import ActivityFactory, AgreementVersionFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(db):
    return AgreementVersionFactory(number=1)


def publish(old: AgreementVersion, **spec_changes) -> AgreementVersion:
    """What the publish service does to the rows: retire the active version, activate the new one."""
    old.status = AgreementVersion.Status.RETIRED
    old.save()
    new = AgreementVersionFactory(number=old.number + 1, spec={**old.spec, **spec_changes})
    return new


def test_rescore_all_covers_every_lead_exactly_once_across_id_gaps(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 3
    leads = [LeadFactory() for _ in range(12)]
    # Gaps: a hole inside a chunk, and a whole chunk of deleted ids (an empty chunk).
    Lead.objects.filter(id__in=[leads[1].id, leads[6].id, leads[7].id, leads[8].id]).delete()
    remaining = Lead.objects.count()

    job_id = tasks.rescore_all.delay(version.id).get()

    job = RescoreJob.objects.get(pk=job_id)
    assert job.status == RescoreJob.Status.DONE
    assert (job.total_chunks, job.done_chunks) == (4, 4)
    assert job.leads_total == job.leads_done == remaining
    chunks = list(job.chunks.order_by("id_from"))
    assert [c.leads for c in chunks] == [2, 3, 0, 3]
    assert all(c.done_at for c in chunks)
    # Ranges tile the id space without overlap.
    assert all(a.id_to == b.id_from for a, b in zip(chunks, chunks[1:], strict=False))
    assert Lead.objects.exclude(scored_version=version).count() == 0


def test_rescore_all_with_no_leads_finishes_at_once(version):
    job = RescoreJob.objects.get(pk=tasks.rescore_all.delay(version.id).get())
    assert (job.status, job.total_chunks) == (RescoreJob.Status.DONE, 0)
    assert job_progress(job).percent == 100


def test_a_redelivered_chunk_changes_nothing(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 100
    lead = LeadFactory(budget="confirmed")  # fit 60: an MQL
    job = rescore_job_start(version_id=version.id)
    chunk = job.chunks.get()
    assert rescore_job_chunk(chunk_id=chunk.id).moved == {"mql": 1}
    assert rescore_job_chunk(chunk_id=chunk.id) is None  # acks_late redelivery after success
    job.refresh_from_db()
    assert (job.done_chunks, job.leads_done) == (1, 1)
    assert Transition.objects.filter(lead=lead).count() == 1


def test_a_newer_publish_supersedes_the_running_job(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 2
    leads = [LeadFactory() for _ in range(6)]
    old_job = rescore_job_start(version_id=version.id)
    first, *rest = old_job.chunks.order_by("id_from")
    rescore_job_chunk(chunk_id=first.id)

    newer = publish(version, mql_threshold=10)
    # A chunk that starts after the publish committed sees its version retired: it writes nothing.
    assert rescore_job_chunk(chunk_id=rest[0].id) is None
    old_job.refresh_from_db()
    assert old_job.status == RescoreJob.Status.SUPERSEDED

    tasks.rescore_all.delay(newer.id)
    for chunk in rest:  # late redeliveries of the old job's chunks
        assert rescore_job_chunk(chunk_id=chunk.id) is None
    assert set(Lead.objects.values_list("scored_version", flat=True)) == {newer.id}
    assert {lead.id for lead in leads} == set(Lead.objects.filter(stage=Stage.MQL).values_list("id", flat=True))
    latest = RescoreJob.objects.order_by("-id").first()
    assert (latest.version, latest.status) == (newer, RescoreJob.Status.DONE)


def test_starting_a_job_supersedes_older_running_jobs(version):
    LeadFactory()
    old_job = rescore_job_start(version_id=version.id)
    newer = publish(version)
    new_job = rescore_job_start(version_id=newer.id)
    old_job.refresh_from_db()
    assert old_job.status == RescoreJob.Status.SUPERSEDED
    assert old_job.finished_at is not None
    assert new_job.status == RescoreJob.Status.RUNNING
    assert rescore_job_start(version_id=version.id) is None  # a retired version starts nothing


def test_progress_reports_chunks_rate_and_eta(version):
    now = timezone.now()
    job = RescoreJob.objects.create(
        version=version,
        status=RescoreJob.Status.RUNNING,
        total_chunks=4,
        done_chunks=1,
        leads_total=1000,
        leads_done=250,
        started_at=now - dt.timedelta(seconds=5),
    )
    progress = job_progress(job, now=now)
    assert progress.running
    assert (progress.percent, progress.leads_per_s, progress.eta_seconds) == (25, 50, 15)


def test_finishing_a_full_rescore_recomputes_open_mql_due_times(version):
    mql_at = dt.datetime(2026, 3, 9, 16, 0, tzinfo=dt.UTC)  # Monday afternoon
    lead = LeadFactory(budget="confirmed", stage=Stage.MQL, mql_at=mql_at, sla_due_at=mql_at)
    worked = LeadFactory(budget="confirmed", stage=Stage.MQL, mql_at=mql_at, sla_due_at=mql_at, first_action_at=mql_at)
    newer = publish(version, sla={**version.spec["sla"], "response_hours": {"A": 1, "B": 2, "C": 3, "D": 4}})
    tasks.rescore_all.delay(newer.id)
    lead.refresh_from_db()
    worked.refresh_from_db()
    assert lead.grade == "A"
    assert lead.sla_due_at == sla_due_at(newer.spec, mql_at, "A") == dt.datetime(2026, 3, 9, 17, 0, tzinfo=dt.UTC)
    assert worked.sla_due_at == mql_at  # already acted on: its SLA clock stopped


def test_published_signal_records_the_job_with_the_publish_and_rescores_after_commit(
    version, django_capture_on_commit_callbacks
):
    lead = LeadFactory(budget="confirmed")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        agreement_published.send(sender=AgreementVersion, version_id=version.id)
        # The job is part of the publish (a lost message cannot lose it); nothing runs before the commit.
        job = RescoreJob.objects.get()
        assert (job.status, job.total_chunks, job.done_chunks) == (RescoreJob.Status.RUNNING, 1, 0)
        assert Lead.objects.get().scored_version is None
    assert any(c.__qualname__.startswith("queue_rescore_on_publish") for c in callbacks)
    lead.refresh_from_db()
    assert (lead.scored_version, lead.stage) == (version, Stage.MQL)
    assert RescoreJob.objects.get().status == RescoreJob.Status.DONE


def test_sweeper_scores_leads_not_scored_by_the_active_version(version):
    never = LeadFactory()
    rescore_leads(lead_ids=[LeadFactory().id])
    newer = publish(version)
    by_old = Lead.objects.exclude(pk=never.pk).get()
    assert by_old.scored_version == version

    assert tasks.sweep_unscored.delay().get() == 2
    assert set(Lead.objects.values_list("scored_version", flat=True)) == {newer.id}
    assert tasks.sweep_unscored.delay().get() == 0  # nothing left behind


def test_sweeper_leaves_leads_to_a_running_full_rescore(version):
    LeadFactory()
    rescore_job_start(version_id=version.id)  # chunk messages still on their way
    assert tasks.sweep_unscored.delay().get() == 0


def test_sweeper_starts_a_full_job_when_many_leads_are_behind(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 2
    for _ in range(3):
        LeadFactory()
    assert tasks.sweep_unscored.delay().get() == 3
    job = RescoreJob.objects.get()
    assert (job.trigger, job.status) == (RescoreJob.Trigger.SWEEP, RescoreJob.Status.DONE)


def test_sweeper_requeues_chunks_whose_messages_were_lost(version, settings):
    settings.ACCORD_RESCORE_CHUNK = 2
    for _ in range(3):
        LeadFactory()
    job = rescore_job_start(version_id=version.id)  # …and the broker lost the chunk messages
    assert tasks.sweep_unscored.delay().get() == 0  # their leases still run: the messages may be on their way
    RescoreChunk.objects.filter(job=job).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert tasks.sweep_unscored.delay().get() == 2
    job.refresh_from_db()
    assert job.status == RescoreJob.Status.DONE
    assert not RescoreChunk.objects.filter(job=job, done_at__isnull=True).exists()
    assert Lead.objects.filter(scored_version=version).count() == 3


def test_nightly_job_rescores_leads_whose_activities_aged(version):
    now = timezone.now()
    scored_at = now - dt.timedelta(days=10)
    aged = LeadFactory()  # its demo request (90-day window) left the window since the last scoring
    ActivityFactory(lead=aged, kind="demo_request", occurred_at=now - dt.timedelta(days=95))
    decayed = LeadFactory()  # web visits decay (half-life 14 days)
    ActivityFactory(lead=decayed, kind="web_visit", occurred_at=now - dt.timedelta(days=12))
    fresh = LeadFactory()  # still inside its window, no decay
    ActivityFactory(lead=fresh, kind="demo_request", occurred_at=now - dt.timedelta(days=20))
    long_gone = LeadFactory()  # already outside the window at the last scoring
    ActivityFactory(lead=long_gone, kind="demo_request", occurred_at=now - dt.timedelta(days=200))
    rescore_leads(lead_ids=[aged.id, decayed.id, fresh.id, long_gone.id], now=scored_at)
    aged.refresh_from_db()
    assert aged.engagement_score == 30

    assert aged_lead_ids(version=version, now=now) == [aged.id, decayed.id]
    assert tasks.rescore_aged.delay().get() == 2
    aged.refresh_from_db()
    fresh.refresh_from_db()
    assert aged.engagement_score == 0
    assert fresh.scored_at == scored_at  # untouched


def test_nightly_decay_keeps_an_mql_in_the_queue_and_the_next_publish_sends_it_to_nurture(version):
    now = timezone.now()
    lead = LeadFactory()  # fit 50; a dozen web visits (+10 at most, decaying) made it an MQL
    for _ in range(12):
        ActivityFactory(lead=lead, kind="web_visit", occurred_at=now - dt.timedelta(days=20))
    rescore_leads(lead_ids=[lead.id], now=now - dt.timedelta(days=19))
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (60, Stage.MQL)

    assert tasks.rescore_aged.delay().get() == 1  # 20 days old, the visits are worth 4 points
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (54, Stage.MQL)

    newer = publish(version)
    tasks.rescore_all.delay(newer.id)
    lead.refresh_from_db()
    assert (lead.stage, lead.scored_version) == (Stage.NURTURE, newer)
    assert list(lead.transitions.values_list("to_stage", "note")) == [
        (Stage.MQL, "Meets version 1: score at least 60."),
        (Stage.NURTURE, f"No longer meets version {newer.number}."),
    ]


def test_nightly_job_brings_a_recycled_lead_back_on_its_revisit_date(version):
    now = timezone.now()
    due = LeadFactory(budget="confirmed", stage=Stage.NURTURE)  # fit 60: qualifies on fit alone
    waiting = LeadFactory(budget="confirmed", stage=Stage.NURTURE)
    for lead, days in ((due, 0), (waiting, 1)):
        Lead.objects.filter(pk=lead.pk).update(
            recycled_at=now - dt.timedelta(days=30), revisit_on=now.astimezone(dt.UTC).date() + dt.timedelta(days=days)
        )
    rescore_leads(lead_ids=[due.id, waiting.id], now=now - dt.timedelta(days=1))  # held yesterday
    assert set(Lead.objects.values_list("stage", flat=True)) == {Stage.NURTURE}

    assert tasks.rescore_aged.delay().get() == 1
    due.refresh_from_db()
    waiting.refresh_from_db()
    assert (due.stage, waiting.stage) == (Stage.MQL, Stage.NURTURE)
    assert tasks.rescore_aged.delay().get() == 0  # rescored once, not every night


def test_a_failing_chunk_fails_the_job_with_its_error(version):
    LeadFactory()
    version.spec["fit_rules"] = [{"id": "f1", "field": "industry", "operator": "resembles", "values": [], "points": 1}]
    version.save()
    with pytest.raises(ValueError, match="unknown operator"):
        tasks.rescore_all.delay(version.id)
    job = RescoreJob.objects.get()
    assert job.status == RescoreJob.Status.FAILED
    assert "unknown operator 'resembles'" in job.error
    assert job.finished_at is not None
    RescoreChunk.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert rescoring.rescore_sweep().chunk_ids == []  # a failed job's chunks are not queued again
