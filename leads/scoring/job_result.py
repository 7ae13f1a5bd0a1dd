"""What a finished rescore did to the inbox: new MQLs, how many routing gave an owner, how many wait.

Read from what the run wrote, nothing stored on the side: the log's ``→ mql`` transitions that
scoring made under the job's version between the job's start and its end, and the round-robin
``Assignment`` rows routing wrote for those leads in the same window.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from leads.inbox.routing import WaitReason, waiting_mqls
from leads.models import Assignment, Lead, RescoreJob, Stage, Team, Transition


@dataclass(frozen=True)
class JobResult:
    new_mqls: int
    routed: int
    reason: str  # why the others wait ("" when all were routed)

    @property
    def waiting(self) -> int:
        return self.new_mqls - self.routed

    @property
    def sentence(self) -> str:
        if not self.new_mqls:
            return "No lead became an MQL."
        noun = "MQL" if self.new_mqls == 1 else "MQLs"
        head = f"+{self.new_mqls:,} new {noun}"
        if not self.waiting:
            return f"{head}: all routed"
        return f"{head}: {self.routed:,} routed, {self.waiting:,} waiting — {self.reason}"


PULL_QUEUE = "in the queue for SDRs to claim"


def job_result(job: RescoreJob) -> JobResult | None:
    """The result of a finished run (None while it runs); four queries at most."""
    if job.finished_at is None or job.status != RescoreJob.Status.DONE:
        return None
    start = min(job.created_at, job.as_of) if job.as_of else job.created_at
    window = {"at__gte": start, "at__lte": job.finished_at}
    entered = Transition.objects.filter(
        to_stage=Stage.MQL, actor__isnull=True, historical=False, agreement_version_id=job.version_id, **window
    ).values("lead_id")
    new_ids = Lead.objects.filter(id__in=entered)
    routed_q = Assignment.objects.filter(lead_id=OuterRef("pk"), reason=Assignment.Reason.ROUND_ROBIN, **window)
    rows = list(new_ids.annotate(routed=Exists(routed_q)).values_list("routed", "team_id"))
    routed = sum(1 for was_routed, _ in rows if was_routed)
    if routed == len(rows):
        return JobResult(new_mqls=len(rows), routed=routed, reason="")
    return JobResult(new_mqls=len(rows), routed=routed, reason=_reason({team for was, team in rows if not was}))


def _reason(team_ids: set[int | None]) -> str:
    """Why the unrouted MQLs wait, in the words of the inbox banner."""
    reasons = Counter(w.reason for w in waiting_mqls(team_ids=[t for t in team_ids if t is not None]))
    if reasons:
        return reasons.most_common(1)[0][0] if len(reasons) == 1 else f"{WaitReason.FULL} or away"
    pull = Team.objects.filter(id__in=[t for t in team_ids if t is not None], routing=Team.Routing.PULL).exists()
    if pull or None in team_ids:
        return PULL_QUEUE
    return "since claimed from the queue"
