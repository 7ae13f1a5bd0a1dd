"""Writes around scorecard proposals: asking for one, fitting it (inline or as a job), adopting it.

A small population is fitted inside the request; a large one in the ``scorecard_fit`` Celery task,
queued on commit, which writes its progress on the ``ScorecardJob`` row for the progress bar and
the API. Adopting a proposal fills the open draft through the agreement's own save.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db import transaction
from django.utils import timezone

from alignment.models import AgreementVersion
from alignment.services import SaveResult, draft_adopt_proposal
from leads.models import ScorecardJob
from leads.scoring.scorecard import NotEnoughData, ProposalRequest, candidates, population, propose

__all__ = [
    "INLINE_LEADS",
    "ProposalError",
    "scorecard_adopt",
    "scorecard_job_create",
    "scorecard_job_run",
]

INLINE_LEADS = 20_000  # at most this many leads are fitted inside the request (a few seconds)

Status = ScorecardJob.Status


class ProposalError(Exception):
    """A proposal that cannot be asked for or adopted; the message is shown as is."""


def _request_for(params: dict, version: AgreementVersion | None) -> ProposalRequest:
    """The fit request, with marketing's monthly MQL quota from the draft's (or the active) SLA terms."""
    request = ProposalRequest.from_json(params)
    unknown = sorted(set(request.keys or ()) - {c.key for c in candidates()})
    if unknown:
        raise ValueError(f"Unknown attribute{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.")
    if request.quota is None and not request.target_rate:
        terms = version or AgreementVersion.objects.active()
        quota = (terms.spec.get("sla", {}).get("monthly_mql_quota") if terms else None) or None
        request = dataclasses.replace(request, quota=quota)
    return request


def scorecard_job_create(*, params: dict, user=None, version: AgreementVersion | None = None) -> ScorecardJob:
    """Record a proposal request; fit it now when the population is small, else queue it on commit.

    Raises ``ValueError`` with a readable message for a request that names unknown things.
    """
    request = _request_for(params, version)
    job = ScorecardJob.objects.create(params=request.as_json(), created_by=user, version=version)
    now = timezone.now()
    if population(window=request.window, outcome=request.outcome, now=now).count() <= INLINE_LEADS:
        return scorecard_job_run(job_id=job.pk)
    from leads.scoring.rescoring import enqueue

    transaction.on_commit(lambda: enqueue("leads.tasks.scorecard_fit", job.pk))
    return job


def _progress(job_id: int):
    def report(percent: int, step: str) -> None:
        ScorecardJob.objects.filter(pk=job_id).update(progress=percent, step=step[:120])

    return report


def scorecard_job_run(*, job_id: int) -> ScorecardJob:
    """Fit the job's proposal; a finished job is returned as it is (a redelivered task is a no-op)."""
    job = ScorecardJob.objects.select_related("version").get(pk=job_id)
    if job.status in (Status.DONE, Status.FAILED):
        return job
    ScorecardJob.objects.filter(pk=job_id).update(status=Status.RUNNING, started_at=timezone.now())
    version = job.version
    active = AgreementVersion.objects.active()
    compare_draft = version if version is not None and version.status != AgreementVersion.Status.ACTIVE else None
    try:
        result = propose(
            _request_for(job.params, version),
            draft_spec=compare_draft.spec if compare_draft else None,
            draft_label=f"Draft v{compare_draft.number}" if compare_draft else "",
            active_spec=active.spec if active else None,
            active_label=f"Active v{active.number}" if active else "",
            progress=_progress(job_id),
        )
    except NotEnoughData as exc:
        _finish(job_id, status=Status.FAILED, error=str(exc))
    except Exception as exc:
        _finish(job_id, status=Status.FAILED, error=f"The fit failed: {exc}")
        raise
    else:
        _finish(job_id, status=Status.DONE, result=result.as_api())
    job.refresh_from_db()
    return job


def _finish(job_id: int, *, status: str, result: dict | None = None, error: str = "") -> None:
    ScorecardJob.objects.filter(pk=job_id).update(
        status=status, result=result, error=error, progress=100, finished_at=timezone.now()
    )


def scorecard_adopt(*, job: ScorecardJob, user) -> SaveResult:
    """Fill the open draft (or start one) with the job's proposal, each rule's evidence kept on the card."""
    if job.status != Status.DONE or not job.result:
        raise ProposalError("This proposal has no result to start a draft from.")
    result = job.result
    rules = {r["id"]: r for r in result["spec"]["fit_rules"] + result["spec"]["behaviour_rules"]}
    card = {**result["model_card"], "job": job.pk, "adopted_at": dt.datetime.now(dt.UTC).isoformat(), "rules": rules}
    n_rules = len(result["spec"]["fit_rules"]) + len(result["spec"]["behaviour_rules"])
    auc = result["cv_auc"]
    note = f"Proposed from outcomes: {n_rules} rules" + (f", cross-validated AUC {auc:.2f}" if auc else "")
    return draft_adopt_proposal(user=user, proposal=result["spec"], card=card, note=note)
