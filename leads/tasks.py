"""Celery jobs of the leads app. Tasks take ids, call one service, and are safe to run twice.

Rescoring. What needs doing is always in the database, written in the transaction that made it
necessary; a message only wakes a worker up, and the sweeper sends another if one is lost:

* ``rescore_requested`` — takes the leads waiting for a rescore (``Lead.rescore_requested_at``,
  set by intake, imports, the nightly aging) oldest first, a batch per transaction, until none wait.
* ``rescore_all(version_id)`` — starts a full rescore (a ``RescoreJob`` and its chunks) and queues
  its chunks; ``rescore_job_wake(job_id)`` queues the chunks of a job a publish recorded.
* ``rescore_chunk(chunk_id)`` — one id range under a renewed lease; the last chunk closes its job.
  Idempotent: a copy of a done chunk, or of one a live worker holds, does nothing.
* ``sweep_rescoring`` (beat, every ``ACCORD_RESCORE_SWEEP_SECONDS``) — closes jobs whose chunks are
  all done, queues again the chunks whose lease expired, wakes drains while leads wait.
* ``sweep_unscored`` (beat, every 10 minutes) — the above, and leads scored by another version than
  the active one that no running job will reach (a rescore request each, or a full run if many).
* ``rescore_aged`` (beat, nightly) — leads whose activities left a window or decayed since they
  were last scored, and recycled leads whose revisit date has come (one that still qualifies
  re-enters the MQL queue that night).
"""

from __future__ import annotations

import datetime as dt
import time

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from alignment.models import AgreementVersion
from leads.models import RescoreJob
from leads.scoring import rescoring

# Deadlocks and serialisation failures are transient: retry them, nothing else.
_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}

# A drain hands over to a fresh message after this long, so other queued work gets its turn.
DRAIN_SECONDS = 60


@shared_task(acks_late=True)
def rescore_all(version_id: int, trigger: str = RescoreJob.Trigger.PUBLISH, as_of: str | None = None) -> int | None:
    """Start a full rescore under ``version_id``; returns the job id (None when superseded already).

    ``as_of`` (ISO 8601) scores every chunk as of that instant instead of its own clock.
    """
    pinned = dt.datetime.fromisoformat(as_of) if as_of else None
    job = rescoring.rescore_job_start(version_id=version_id, trigger=trigger, as_of=pinned)
    if job is None:
        return None
    rescore_job_wake(job.id)
    return job.id


@shared_task(acks_late=True)
def rescore_job_wake(job_id: int) -> int:
    """Queue the chunks of a job still to do; returns how many were sent."""
    return sum(
        rescoring.enqueue(rescore_chunk, chunk_id) for chunk_id in rescoring.rescore_job_chunk_ids(job_id=job_id)
    )


@shared_task(bind=True, acks_late=True, **_RETRY)
def rescore_chunk(self, chunk_id: int) -> int:
    """Score one id range of a job (the last one closes the job)."""
    try:
        result = rescoring.rescore_job_chunk(chunk_id=chunk_id)
    except Exception as exc:
        # A bug or a broken spec fails the job visibly (the progress bar shows the error); transient
        # database errors are retried first.
        job_id = rescoring.job_id_of_chunk(chunk_id)
        if job_id is not None and (not isinstance(exc, OperationalError) or self.request.retries >= self.max_retries):
            rescoring.rescore_job_fail(job_id=job_id, error=f"Chunk {chunk_id} failed: {exc}")
        raise
    return result.scored if result else 0


@shared_task(acks_late=True, **_RETRY)
def rescore_requested() -> int:
    """Rescore the leads waiting for it, a batch per transaction, until none wait; returns leads scored."""
    deadline = time.monotonic() + DRAIN_SECONDS
    scored = 0
    while True:
        result = rescoring.rescore_pending()
        if result is None or not result.scored:
            return scored
        scored += result.scored
        if time.monotonic() > deadline:
            rescoring.enqueue(rescore_requested)
            return scored


@shared_task(acks_late=True, **_RETRY)
def rescore_leads_task(lead_ids: list[int]) -> int:
    """Rescore these leads under the active version (messages queued before rescore requests existed)."""
    return rescoring.rescore_leads(lead_ids=lead_ids).scored


def _sweep() -> int:
    found = rescoring.rescore_sweep()
    for chunk_id in found.chunk_ids:
        rescoring.enqueue(rescore_chunk, chunk_id)
    # One drain per batch of waiting leads (up to the worker's likely width): they split the work.
    for _ in range(min(-(-found.pending // rescoring.ID_BATCH), 4)):
        rescoring.enqueue(rescore_requested)
    return len(found.chunk_ids) + found.pending


@shared_task(acks_late=True)
def sweep_rescoring() -> int:
    """Close finished jobs, queue chunks whose lease expired, wake drains; returns chunks + leads waiting."""
    return _sweep()


@shared_task(acks_late=True)
def sweep_unscored() -> int:
    """``sweep_rescoring``, then leads not scored by the active version that no running job covers."""
    found = _sweep()
    version = AgreementVersion.objects.active()
    if version is None:
        return found
    limit = settings.ACCORD_RESCORE_CHUNK
    ids = rescoring.unscored_lead_ids(version=version, limit=limit + 1)
    if len(ids) > limit and not rescoring.version_job_running(version=version):
        # Many leads behind (a lost publish): a full, chunked run with a progress bar.
        rescoring.enqueue(rescore_all, version.id, RescoreJob.Trigger.SWEEP)
        return found + len(ids)
    ids = ids[:limit]
    if ids:
        rescoring.rescore_request(lead_ids=ids)
        rescoring.enqueue(rescore_requested)
    return found + len(ids)


@shared_task(acks_late=True)
def rescore_aged() -> int:
    """Nightly: rescore leads whose windowed or decayed activities changed since their last scoring
    and recycled leads whose revisit date has come (re-entering the queue if they still qualify)."""
    version = AgreementVersion.objects.active()
    if version is None:
        return 0
    ids = sorted(set(rescoring.aged_lead_ids(version=version)) | set(rescoring.revisit_due_lead_ids()))
    if ids:
        rescoring.rescore_request(lead_ids=ids)
        rescoring.enqueue(rescore_requested)
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
