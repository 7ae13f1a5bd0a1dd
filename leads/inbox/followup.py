"""Follow-up attempts on accepted leads: who may log them, the log itself, and the count against the terms.

The agreement's SLA terms promise ``followup.attempts`` attempts within ``followup.days`` business
days of accepting a lead (SAL). An attempt is logged on an open SAL lead only: an MQL is refused
(attempts count from acceptance; accept the lead first) and so is a lead that left SAL. The time of
an attempt is the server's clock; the SDR may back-date it by at most ``BACKDATE_LIMIT`` (a call
made before lunch and logged after it), never before the acceptance and never into the future.
The SLA's follow-up figure (``sla.pass_sql``) counts these rows against the terms.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import BooleanField, Value
from django.utils import timezone

from alignment.calendar import BusinessCalendar
from leads.inbox.services import LeadError
from leads.models import FollowUpAttempt, Lead, Stage, Transition
from portal.access import LEADERS, Role, has_role, is_admin

__all__ = [
    "BACKDATE_LIMIT",
    "AttemptTimeError",
    "FollowUpStatus",
    "accepted_at",
    "attempt_log",
    "followup_status",
    "followup_statuses",
    "may_log_attempt",
]

BACKDATE_LIMIT = dt.timedelta(hours=24)


class AttemptTimeError(LeadError):
    """The time given for an attempt is refused (future, too far back, before acceptance)."""


NOTE_MAX = 2000


def may_log_attempt(user, lead: Lead) -> bool:
    """The lead's owner, the manager of its team, a marketing or sales leader (and admins)."""
    if is_admin(user) or (lead.owner_id is not None and lead.owner_id == user.id) or has_role(user, *LEADERS):
        return True
    return has_role(user, Role.MANAGER) and lead.team_id is not None and lead.team.manager_id == user.id


def accepted_at(lead: Lead) -> dt.datetime | None:
    """When the lead entered SAL for its current pass (its latest transition into SAL)."""
    return (
        Transition.objects.filter(lead=lead, to_stage=Stage.SAL, historical=False)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )


def attempt_log(
    *,
    lead_id: int,
    user: User,
    channel: str,
    outcome: str,
    note: str = "",
    at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> FollowUpAttempt:
    """Log one follow-up attempt on an accepted lead; ``at`` defaults to now."""
    now = now or timezone.now()
    at = at or now
    note = (note or "").strip()
    if channel not in FollowUpAttempt.Channel.values:
        raise LeadError(f"Choose a channel: {', '.join(str(c.label) for c in FollowUpAttempt.Channel)}.")
    if outcome not in FollowUpAttempt.Outcome.values:
        raise LeadError(f"Choose an outcome: {', '.join(str(o.label) for o in FollowUpAttempt.Outcome)}.")
    if len(note) > NOTE_MAX:
        raise LeadError(f"Keep the note under {NOTE_MAX} characters.")
    if at > now + dt.timedelta(minutes=1):
        raise AttemptTimeError("An attempt cannot be logged in the future.")
    if at < now - BACKDATE_LIMIT:
        raise AttemptTimeError("An attempt can be back-dated by at most 24 hours.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update(of=("self",)).select_related("team").filter(pk=lead_id).first()
        if lead is None:
            raise LeadError("This lead no longer exists.")
        if not may_log_attempt(user, lead):
            raise LeadError("Only the lead's owner, its team's manager or a leader can log follow-up attempts.")
        if lead.stage == Stage.MQL:
            raise LeadError(f"Accept {lead} first: follow-up attempts count from acceptance.")
        if lead.stage != Stage.SAL:
            raise LeadError(
                f"{lead} is {lead.get_stage_display()}: follow-up attempts are logged on accepted (SAL) leads only."
            )
        since = accepted_at(lead)
        if since is not None and at < since:
            raise AttemptTimeError(
                f"An attempt cannot be dated before {lead} was accepted ({timezone.localtime(since):%d %b %H:%M})."
            )
        return FollowUpAttempt.objects.create(
            lead=lead, channel=channel, outcome=outcome, note=note, at=at, logged_by=user, logged_at=now
        )


@dataclass(frozen=True)
class FollowUpStatus:
    done: int  # attempts since acceptance
    required: int  # attempts the terms ask for
    due_at: dt.datetime | None  # end of the follow-up period (business days after acceptance)
    on_time: int  # attempts within the period

    @property
    def kept(self) -> bool:
        return self.on_time >= self.required

    @property
    def label(self) -> str:
        return f"{self.done} of {self.required} attempts"

    def css(self, now: dt.datetime) -> str:
        """Green once kept, red when the period ran out first, amber while attempts are missing."""
        if self.kept:
            return "sla-ok"
        if self.due_at is not None and now >= self.due_at:
            return "sla-breach"
        return "sla-warn"

    @property
    def css_now(self) -> str:
        return self.css(timezone.now())


def _terms(version) -> tuple[int, int, BusinessCalendar]:
    sla = ((version.spec if version else {}) or {}).get("sla") or {}
    followup = sla.get("followup") or {}
    calendar = BusinessCalendar.from_spec(sla.get("calendar") or {})
    return int(followup.get("attempts") or 3), int(followup.get("days") or 5), calendar


def followup_status(lead: Lead, version, *, since: dt.datetime | None = None, times=None) -> FollowUpStatus:
    """The lead's attempts since acceptance against ``version``'s follow-up terms and business calendar."""
    required, days, calendar = _terms(version)
    since = since if since is not None else accepted_at(lead)
    if since is None:
        return FollowUpStatus(done=0, required=required, due_at=None, on_time=0)
    due = calendar.add_hours(since, days * calendar.hours_per_day)
    if times is None:
        times = list(FollowUpAttempt.objects.filter(lead=lead, at__gte=since).values_list("at", flat=True))
    times = [t for t in times if t >= since]
    return FollowUpStatus(done=len(times), required=required, due_at=due, on_time=sum(t <= due for t in times))


def followup_statuses(leads, version) -> dict[int, FollowUpStatus]:
    """The status of every SAL lead of ``leads`` (an inbox page) in one query, whatever the page size:
    the acceptances and the attempts of the page's SAL leads, read together."""
    ids = [lead.pk for lead in leads if lead.stage == Stage.SAL]
    if not ids:
        return {}
    acceptances = (
        Transition.objects.filter(lead_id__in=ids, to_stage=Stage.SAL, historical=False)
        .annotate(attempt=Value(False, output_field=BooleanField()))
        .values_list("lead_id", "at", "attempt")
    )
    attempts = (
        FollowUpAttempt.objects.filter(lead_id__in=ids)
        .annotate(attempt=Value(True, output_field=BooleanField()))
        .values_list("lead_id", "at", "attempt")
    )
    since: dict[int, dt.datetime] = {}
    times: dict[int, list] = {pk: [] for pk in ids}
    # No ORDER BY on either side (the models' default ordering): SQLite refuses one inside a UNION.
    for lead_id, at, is_attempt in acceptances.order_by().union(attempts.order_by(), all=True):
        if is_attempt:
            times[lead_id].append(at)
        elif lead_id not in since or at > since[lead_id]:
            since[lead_id] = at
    return {
        lead.pk: followup_status(lead, version, since=since[lead.pk], times=times[lead.pk])
        for lead in leads
        if lead.pk in since
    }
