"""Celery jobs of the leads app. Tasks take ids, call one service, and are safe to run twice.

Rescoring (the scoring helper's part):

* ``rescore_all(version_id)`` — queued on commit when an agreement is published: creates the
  ``RescoreJob`` and fans out one ``rescore_chunk`` per id range.
* ``rescore_chunk(chunk_id)`` — one id range; idempotent (``RescoreChunk.done_at``), ``acks_late``
  so a killed worker's chunk is redelivered, and a no-op once a newer publish superseded its job.
* ``rescore_leads_task(lead_ids)`` — the leads touched by new activities (API, CSV import).
* ``sweep_unscored`` (beat, every 10 minutes) — leads whose ``scored_version`` is not the active
  version, and chunks whose messages were lost: a broker outage delays scoring, never loses it.
* ``rescore_aged`` (beat, nightly) — leads whose activities left a window or decayed since they
  were last scored, and recycled leads whose revisit date has come (one that still qualifies
  re-enters the MQL queue that night).
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from alignment.models import AgreementVersion
from leads.models import RescoreJob
from leads.scoring import rescoring

# Deadlocks and serialisation failures are transient: retry them, nothing else.
_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@shared_task(acks_late=True)
def rescore_all(version_id: int, trigger: str = RescoreJob.Trigger.PUBLISH, as_of: str | None = None) -> int | None:
    """Start a full rescore under ``version_id``; returns the job id (None when superseded already).

    ``as_of`` (ISO 8601) scores every chunk as of that instant instead of its own clock.
    """
    pinned = dt.datetime.fromisoformat(as_of) if as_of else None
    job = rescoring.rescore_job_start(version_id=version_id, trigger=trigger, as_of=pinned)
    if job is None:
        return None
    chunk_ids = list(job.chunks.filter(done_at__isnull=True).values_list("id", flat=True))
    for chunk_id in chunk_ids:
        rescoring.enqueue(rescore_chunk, chunk_id)
    return job.id


@shared_task(bind=True, acks_late=True, **_RETRY)
def rescore_chunk(self, chunk_id: int) -> int:
    """Score one id range of a job, then close the job if this was its last chunk."""
    job_id = rescoring.job_id_of_chunk(chunk_id)
    try:
        result = rescoring.rescore_job_chunk(chunk_id=chunk_id)
    except Exception as exc:
        # A bug or a broken spec fails the job visibly (the progress bar shows the error); transient
        # database errors are retried first.
        if job_id is not None and (not isinstance(exc, OperationalError) or self.request.retries >= self.max_retries):
            rescoring.rescore_job_fail(job_id=job_id, error=f"Chunk {chunk_id} failed: {exc}")
        raise
    if job_id is not None:
        rescoring.rescore_job_finish(job_id=job_id)
    return result.scored if result else 0


@shared_task(acks_late=True, **_RETRY)
def rescore_leads_task(lead_ids: list[int]) -> int:
    """Rescore leads touched by new activities under the active version."""
    return rescoring.rescore_leads(lead_ids=lead_ids).scored


@shared_task(acks_late=True)
def sweep_unscored() -> int:
    """Re-enqueue what a broker outage lost: stalled chunks and leads not scored by the active version."""
    stalled = rescoring.stalled_chunk_ids(older_than=dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT))
    for chunk_id in stalled:
        rescoring.enqueue(rescore_chunk, chunk_id)
    version = AgreementVersion.objects.active()
    if version is None:
        return len(stalled)
    if RescoreJob.objects.filter(version=version, status=RescoreJob.Status.RUNNING).exists():
        return len(stalled)  # the running job covers every lead
    limit = settings.ACCORD_RESCORE_CHUNK
    ids = rescoring.unscored_lead_ids(version=version, limit=limit + 1)
    if len(ids) > limit:
        # Many leads behind (a lost publish message): a full, chunked run with a progress bar.
        rescoring.enqueue(rescore_all, version.id, RescoreJob.Trigger.SWEEP)
        return len(stalled) + len(ids)
    for batch in rescoring.batches(ids):
        rescoring.enqueue(rescore_leads_task, batch)
    return len(stalled) + len(ids)


@shared_task(acks_late=True)
def rescore_aged() -> int:
    """Nightly: rescore leads whose windowed or decayed activities changed since their last scoring
    and recycled leads whose revisit date has come (re-entering the queue if they still qualify)."""
    version = AgreementVersion.objects.active()
    if version is None:
        return 0
    ids = sorted(set(rescoring.aged_lead_ids(version=version)) | set(rescoring.revisit_due_lead_ids()))
    for batch in rescoring.batches(ids):
        rescoring.enqueue(rescore_leads_task, batch)
    return len(ids)


# --- CSV import (intake) --------------------------------------------------------------------------


@shared_task(acks_late=True)
def import_csv(job_id: int) -> int:
    """Import a large CSV file; progress lands on the ImportJob after every chunk. A finished job is a no-op."""
    from leads.intake.importing import import_job_run

    return import_job_run(job_id=job_id).processed_rows


# --- Proposals from outcomes ----------------------------------------------------------------------


@shared_task(acks_late=True)
def scorecard_fit(job_id: int) -> str:
    """Fit a large proposal; progress lands on the ScorecardJob. A finished job is a no-op."""
    from leads.scoring.proposals import scorecard_job_run

    return scorecard_job_run(job_id=job_id).status
