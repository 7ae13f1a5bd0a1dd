"""Writes of the inbox: claiming, lifecycle actions, reassignment, notes, out of office.

Every service is keyword-only and runs in one transaction that locks the lead row
(``SELECT … FOR UPDATE``), checks the state a person saw is still the state it is in, applies a
conditional ``UPDATE … WHERE stage = … AND owner …`` and writes exactly one ``Transition`` (and an
``Assignment`` whenever the owner changes). A double click or two SDRs on one lead therefore
give one transition; the loser gets a ``LeadError`` with a sentence to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from alignment.models import AgreementVersion
from alignment.spec import reason_choices
from leads import lifecycle
from leads.inbox.routing import OPEN_STAGES as OPEN_LOAD_STAGES
from leads.inbox.routing import capacity_of, open_loads
from leads.models import Assignment, Lead, ListPreference, Note, Stage, TeamMember, Transition
from portal.access import LEADERS, Role, display_name, has_role, is_admin
from portal.notifications import notify


class LeadError(Exception):
    """An action that cannot happen in the lead's current state; ``str(error)`` is for people."""


# What each action does: the lifecycle move it makes, and how to say it.
@dataclass(frozen=True)
class Action:
    move: lifecycle.Move
    verb: str  # "accept" — for "You cannot accept …"
    done: str  # "accepted" — for "sdr2 already accepted …"
    # Marketing's answer to a rejection is not the owner's action: the lead comes back from the SDR.
    owner_only: bool = True
    # An undo may find the lead unowned (a recycle released it); any other action needs the owner.
    takes_back: bool = False

    @property
    def from_stages(self) -> tuple[str, ...]:
        return self.move.from_stages

    @property
    def to_stage(self) -> str:
        return self.move.to_stage


ACCEPT = Action(lifecycle.ACCEPT, "accept", "accepted")
RECYCLE = Action(lifecycle.RECYCLE, "recycle", "recycled")
REJECT = Action(lifecycle.REJECT, "reject", "rejected")
DISQUALIFY = Action(lifecycle.DISQUALIFY, "disqualify", "disqualified")
CONVERT = Action(lifecycle.CONVERT, "convert", "converted")
MARK_WON = Action(lifecycle.MARK_WON, "mark as won", "marked as won")
MARK_LOST = Action(lifecycle.MARK_LOST, "mark as lost", "marked as lost")
RETURN_TO_NURTURE = Action(lifecycle.RETURN, "return to nurture", "returned to nurture", owner_only=False)
# Leads a manager can hand to another SDR.
REASSIGNABLE_STAGES = (Stage.MQL, Stage.SAL, Stage.SQL)


def active_version() -> AgreementVersion | None:
    return AgreementVersion.objects.active()


def _lock(lead_id: int) -> Lead:
    lead = Lead.objects.select_for_update(of=("self",)).filter(pk=lead_id).first()
    if lead is None:
        raise LeadError("This lead no longer exists.")
    return lead


def same_team(user, lead: Lead) -> bool:
    """Teams are a boundary: an SDR works leads of her own team or of no team (admins: any)."""
    if lead.team_id is None or is_admin(user):
        return True
    return TeamMember.objects.filter(user=user, team_id=lead.team_id).exists()


def may_claim(user, lead: Lead) -> bool:
    """May ``user`` take the unassigned MQL ``lead`` (claim it, or accept/recycle/reject it)?"""
    unassigned = lead.stage == Stage.MQL and lead.owner_id is None
    return unassigned and has_role(user, Role.SDR) and same_team(user, lead)


def _conflict_message(lead: Lead, action: Action, user) -> str:
    """Why ``user`` cannot ``action`` the lead any more, naming who got there first when known."""
    last = lead.transitions.select_related("actor").order_by("-at", "-id").first()
    if lead.stage == action.to_stage and last is not None and last.actor_id == user.id:
        return f"You already {action.done} {lead}."
    if lead.stage not in action.from_stages:
        by = f" by {display_name(last.actor, 'the system')}" if last is not None and last.to_stage == lead.stage else ""
        when = f" at {timezone.localtime(last.at):%H:%M}" if by else ""
        return f"{lead} was already moved to {lead.get_stage_display()}{by}{when}; it can no longer be {action.done}."
    owner = display_name(lead.owner, "the system")
    return f"{lead} belongs to {owner}. Only its owner can {action.verb} it; a manager can reassign it."


def _act(
    *,
    lead_id: int,
    user: User,
    action: Action,
    updates: dict,
    reason_code: str = "",
    note: str = "",
    now: dt.datetime | None = None,
) -> Lead:
    """Apply one lifecycle action. The row lock plus the conditional UPDATE make it race-free."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = _lock(lead_id)
        claimable = lead.stage == Stage.MQL and lead.owner_id is None
        mine = lead.owner_id == user.id or (action.takes_back and lead.owner_id is None)
        if lead.stage not in action.from_stages or not (mine or claimable or not action.owner_only):
            raise LeadError(_conflict_message(lead, action, user))
        if claimable and not mine:
            _check_may_claim(user, lead)
        from_stage, previous_owner_id = lead.stage, lead.owner_id
        score_then = lead.fit_score + lead.engagement_score
        values = {"stage": action.to_stage, "owner": user, "updated_at": now, **updates}
        if lead.first_action_at is None and from_stage == Stage.MQL:
            values["first_action_at"] = now  # stops the SLA clock
        unowned = Q(owner__isnull=True) if action.takes_back else Q(owner__isnull=True, stage=Stage.MQL)
        scope = Q(owner=user) | unowned if action.owner_only else Q()
        changed = Lead.objects.filter(pk=lead.pk, stage=from_stage).filter(scope).update(**values)
        if changed != 1:  # cannot happen while we hold the row lock; refuse rather than write a lie
            raise LeadError(_conflict_message(lead, action, user))
        new_owner = values["owner"]
        if (new_owner.id if new_owner else None) != previous_owner_id:
            Assignment.objects.create(
                lead=lead,
                from_owner_id=previous_owner_id,
                to_owner=new_owner,
                reason=Assignment.Reason.CLAIMED if new_owner else Assignment.Reason.RELEASED,
                actor=user,
                at=now,
            )
        for name, value in values.items():
            setattr(lead, name, value)
        lifecycle.transition_record(
            lead=lead,
            move=action.move,
            from_stage=from_stage,
            actor=user,
            # The owner the move takes the lead from (marketing's return takes it from the SDR).
            owner_id=user.id if action.owner_only else previous_owner_id,
            at=now,
            reason_code=reason_code,
            note=note.strip(),
            agreement_version=active_version(),
            score=score_then,
            grade=lead.grade,
        )
    return lead


def _check_may_claim(user, lead: Lead) -> None:
    if not has_role(user, Role.SDR):
        raise LeadError(f"{lead} is unassigned: an SDR claims it, or a manager assigns it to one.")
    if not same_team(user, lead):
        raise LeadError(f"{lead} is in the queue of the {lead.team} team; only its SDRs can take it.")


def _reason(code: str, kind: str, version: AgreementVersion | None) -> str:
    codes = dict(reason_choices(version.spec if version else {}, kind))
    if code not in codes:
        raise LeadError(f"Choose one of the agreement's {kind} reasons.")
    return code


def lead_accept(*, lead_id: int, user: User, now: dt.datetime | None = None) -> Lead:
    """MQL → SAL: the SDR takes the lead on (claiming it when it was unassigned)."""
    return _act(lead_id=lead_id, user=user, action=ACCEPT, updates={}, now=now)


def lead_recycle(
    *, lead_id: int, user: User, reason_code: str, revisit_on: dt.date, note: str = "", now: dt.datetime | None = None
) -> Lead:
    """→ nurture with a reason and a revisit date. Engagement restarts: only later activities count."""
    now = now or timezone.now()
    reason_code = _reason(reason_code, "recycle", active_version())
    if revisit_on is None or revisit_on <= timezone.localdate(now):
        raise LeadError("The revisit date must be in the future.")
    # Engagement counts only activities after recycled_at (= now), so it is zero right now.
    updates = {"recycled_at": now, "revisit_on": revisit_on, "owner": None, "engagement_score": 0}
    return _act(
        lead_id=lead_id, user=user, action=RECYCLE, updates=updates, reason_code=reason_code, note=note, now=now
    )


def lead_reject(*, lead_id: int, user: User, reason_code: str, note: str, now: dt.datetime | None = None) -> Lead:
    """MQL → rejected, back to marketing with one of the agreement's reject reasons and a note."""
    reason_code = _reason(reason_code, "reject", active_version())
    if not note.strip():
        raise LeadError("Say in a note why the lead is rejected: marketing reads it.")
    return _act(lead_id=lead_id, user=user, action=REJECT, updates={}, reason_code=reason_code, note=note, now=now)


def lead_return_to_nurture(*, lead_id: int, user: User, note: str, now: dt.datetime | None = None) -> Lead:
    """Rejected → nurture: marketing takes a rejected lead back to nurture it, saying why in a note.

    The lead leaves its SDR (no owner) and its engagement restarts, as after a recycle; the SDR who
    rejected it is told.
    """
    if not has_role(user, Role.MARKETING):
        raise LeadError("Only a marketing leader can return a rejected lead to nurture.")
    if not note.strip():
        raise LeadError("Say in a note what marketing will do with the lead: the SDR who rejected it reads it.")
    now = now or timezone.now()
    rejected_by = _rejected_by(lead_id)  # read before the move: the lead then leaves rejected
    updates = {"owner": None, "recycled_at": now, "revisit_on": None, "engagement_score": 0}
    with transaction.atomic():
        lead = _act(lead_id=lead_id, user=user, action=RETURN_TO_NURTURE, updates=updates, note=note, now=now)
        _tell_who_rejected(
            rejected_by,
            lead_id=lead.pk,
            user=user,
            title=f"{display_name(user)} returned {lead} to nurture",
            body=f"Marketing's note on the lead you rejected: {note.strip()}",
        )
    return lead


def _rejected_by(lead_id: int) -> User | None:
    last = (
        Transition.objects.filter(lead_id=lead_id, to_stage=Stage.REJECTED)
        .select_related("actor")
        .order_by("-at", "-id")
        .first()
    )
    return last.actor if last else None


def _tell_who_rejected(rejected_by: User | None, *, lead_id: int, user: User, title: str, body: str) -> None:
    """Marketing's answer or return reaches the SDR who rejected the lead, in the app and by e-mail."""
    notify(
        users=[rejected_by] if rejected_by else [],
        actor=user,
        kind="lead",
        title=title,
        body=body,
        url=reverse("leads:lead_detail", args=[lead_id]),
    )


def rejection_answer(*, lead_id: int, user: User, body: str) -> Note:
    """Marketing answers a rejection: a note on the lead, and the SDR who rejected it is told."""
    with transaction.atomic():
        note = note_add(lead_id=lead_id, user=user, body=body)
        _tell_who_rejected(
            _rejected_by(lead_id),
            lead_id=lead_id,
            user=user,
            title=f"{display_name(user)} answered your rejection of {note.lead}",
            body=note.body,
        )
    return note


def lead_disqualify(*, lead_id: int, user: User, note: str, now: dt.datetime | None = None) -> Lead:
    """MQL or SAL → disqualified for good (wrong person, fake data, no company)."""
    if not note.strip():
        raise LeadError("Say in a note why the lead is disqualified.")
    return _act(lead_id=lead_id, user=user, action=DISQUALIFY, updates={}, note=note, now=now)


def lead_convert(*, lead_id: int, user: User, amount: Decimal, note: str = "", now: dt.datetime | None = None) -> Lead:
    """SAL → SQL: an opportunity worth ``amount`` is opened."""
    if amount is None or amount <= 0:
        raise LeadError("The opportunity amount must be more than zero.")
    updates = {"opportunity_amount": amount}
    return _act(lead_id=lead_id, user=user, action=CONVERT, updates=updates, note=note, now=now)


def lead_mark_won(*, lead_id: int, user: User, note: str = "", now: dt.datetime | None = None) -> Lead:
    return _act(lead_id=lead_id, user=user, action=MARK_WON, updates={}, note=note, now=now)


def lead_mark_lost(*, lead_id: int, user: User, note: str, now: dt.datetime | None = None) -> Lead:
    if not note.strip():
        raise LeadError("Say in a note why the opportunity was lost.")
    return _act(lead_id=lead_id, user=user, action=MARK_LOST, updates={}, note=note, now=now)


# --- undo ---------------------------------------------------------------------------------------

# How long after an action its author may take it back. The inbox offers the undo for a few seconds;
# the server allows a little longer so a slow connection does not lose the click.
UNDO_WINDOW = dt.timedelta(seconds=30)
UNDO_REASON = lifecycle.UNDO_REASON
UNDOABLE = {a.to_stage: a for a in (ACCEPT, RECYCLE, REJECT, DISQUALIFY, CONVERT, MARK_WON, MARK_LOST)}


def _undo_updates(lead: Lead, last: Transition) -> dict:
    """The lead's own fields as they were before ``last`` (its latest transition) changed them."""
    if last.to_stage == Stage.NURTURE:
        earlier = (
            lead.transitions.filter(to_stage=Stage.NURTURE, reason_code__in=_recycle_codes(last), at__lt=last.at)
            .order_by("-at", "-id")
            .values_list("at", flat=True)
            .first()
        )
        engagement = max(0, (last.score or 0) - lead.fit_score)
        return {"recycled_at": earlier, "revisit_on": None, "engagement_score": engagement}
    if last.to_stage == Stage.SQL:
        return {"opportunity_amount": None}
    return {}


def _recycle_codes(last: Transition) -> list[str]:
    spec = last.agreement_version.spec if last.agreement_version else {}
    return [code for code, _ in reason_choices(spec, "recycle")]


def lead_undo(*, lead_id: int, user: User, transition_id: int, now: dt.datetime | None = None) -> Lead:
    """Take back one's own latest action on a lead, right after it: a transition back to the stage it
    left (reason "undo"), written like any other action. The lead stays with the SDR who undid it."""
    now = now or timezone.now()
    with transaction.atomic():
        lead = _lock(lead_id)
        last = lead.transitions.select_related("agreement_version").order_by("-at", "-id").first()
        action = UNDOABLE.get(last.to_stage) if last is not None else None
        if last is None or last.pk != transition_id or last.reason_code == UNDO_REASON or action is None:
            raise LeadError(f"{lead} has moved on since: only the latest action on a lead can be undone.")
        if last.actor_id != user.id:
            raise LeadError(f"Only {display_name(last.actor, 'the system')} can undo what they did to {lead}.")
        if now - last.at > UNDO_WINDOW:
            raise LeadError(f"Too late to undo: {lead} was {action.done} more than a few seconds ago.")
        back = Action(lifecycle.undo(action.move, last.from_stage), "undo", "undone", takes_back=True)
        return _act(
            lead_id=lead_id,
            user=user,
            action=back,
            updates=_undo_updates(lead, last),
            reason_code=UNDO_REASON,
            note=f"Undid “{action.done}”.",
            now=now,
        )


# --- assignment -------------------------------------------------------------------------------


def manages(user, lead: Lead) -> bool:
    """May ``user`` manage ``lead`` (reassign it)? Admins, and the manager of the lead's team."""
    return is_admin(user) or (lead.team_id is not None and lead.team.manager_id == user.id)


def _check_capacity(*, user: User, now) -> TeamMember:
    member = TeamMember.objects.filter(user=user).select_related("team").first()
    if member is None:
        raise LeadError("You are not on a team yet; ask your manager to add you.")
    if member.away_until and member.away_until > now:
        raise LeadError("You are marked out of office. Switch it off to claim leads.")
    capacity = capacity_of(member)
    if capacity.full:
        raise LeadError(
            f"You hold {capacity.sentence} (the MQLs of your Mine tab). Work some of them before claiming more."
        )
    return member


def lead_claim_next(*, user: User, now: dt.datetime | None = None) -> Lead:
    """Claim the most urgent unassigned MQL of the user's team.

    ``FOR UPDATE SKIP LOCKED``: concurrent claimers each lock a different row instead of queueing
    behind the same one, so 50 SDRs pressing "Next lead" at once get 50 different leads.
    """
    now = now or timezone.now()
    if not has_role(user, Role.SDR):
        raise LeadError("Only SDRs claim leads from the queue.")
    with transaction.atomic():
        member = _check_capacity(user=user, now=now)
        lead = (
            Lead.objects.filter(stage=Stage.MQL, owner__isnull=True)
            .filter(Q(team=member.team) | Q(team__isnull=True))
            .order_by("sla_due_at", "-score", "id")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if lead is None:
            raise LeadError("The unassigned queue is empty: every MQL has an owner. Well done!")
        _take(lead, user=user, member=member, now=now)
    return lead


def lead_claim(*, lead_id: int, user: User, now: dt.datetime | None = None) -> Lead:
    """Claim one unassigned MQL the SDR picked from the Unassigned tab."""
    now = now or timezone.now()
    if not has_role(user, Role.SDR):
        raise LeadError("Only SDRs claim leads.")
    with transaction.atomic():
        member = _check_capacity(user=user, now=now)
        lead = _lock(lead_id)
        if lead.owner_id == user.id:
            raise LeadError(f"You already own {lead}.")
        if lead.stage != Stage.MQL or lead.owner_id is not None:
            owner = f" by {display_name(lead.owner)}" if lead.owner_id else ""
            raise LeadError(f"{lead} was already taken{owner}; pick another lead.")
        _check_may_claim(user, lead)
        _take(lead, user=user, member=member, now=now)
    return lead


def _take(lead: Lead, *, user: User, member: TeamMember, now: dt.datetime) -> None:
    """``user`` claims the unassigned MQL ``lead`` (locked by the caller), with its Assignment row.

    The claim counts as the SDR's latest assignment: round robin serves the others first.
    """
    Lead.objects.filter(pk=lead.pk, stage=Stage.MQL, owner__isnull=True).update(
        owner=user, team=member.team, updated_at=now
    )
    TeamMember.objects.filter(pk=member.pk).update(last_assigned_at=now)
    Assignment.objects.create(
        lead=lead, from_owner=None, to_owner=user, reason=Assignment.Reason.CLAIMED, actor=user, at=now
    )
    lead.owner, lead.team = user, member.team


def reassign_candidates(lead: Lead):
    """Active SDRs of the lead's team: who a manager may hand the lead to."""
    return User.objects.filter(
        team_membership__team_id=lead.team_id, is_active=True, groups__name=Role.SDR.value
    ).order_by("username")


def may_reassign(user, lead: Lead) -> bool:
    """The manager of the lead's team, the marketing and sales leaders, and admins."""
    return manages(user, lead) or has_role(user, *LEADERS)


def lead_reassign(
    *,
    lead_id: int,
    user: User,
    to_user_id: int,
    over_capacity: bool = False,
    now: dt.datetime | None = None,
) -> Lead:
    """A manager hands an open lead (MQL, SAL, SQL) to another SDR of the team.

    Refused for an SDR who is away, or who already holds their capacity of open leads unless the
    manager says so with ``over_capacity``. The SDR's membership row is locked, so two managers
    handing leads to the same SDR at once cannot both slip under the capacity.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lead = _lock(lead_id)
        if not may_reassign(user, lead):
            raise LeadError("Only the manager of the lead's team or a leader can reassign it.")
        if lead.stage not in REASSIGNABLE_STAGES:
            raise LeadError(f"{lead} is {lead.get_stage_display()}; only open leads can be reassigned.")
        target = reassign_candidates(lead).filter(pk=to_user_id).first()
        if target is None:
            raise LeadError("Choose an active SDR of the lead's team.")
        if lead.owner_id == target.id:
            raise LeadError(f"{lead} already belongs to {display_name(target)}.")
        member = TeamMember.objects.select_for_update().get(user=target, team_id=lead.team_id)
        if member.away_until and member.away_until > now:
            until = timezone.localtime(member.away_until).strftime("%-d %b %H:%M")
            raise LeadError(f"{display_name(target)} is out of office until {until}; choose someone else.")
        load = open_loads([target.id]).get(target.id, 0)
        if load >= member.capacity and lead.stage in OPEN_LOAD_STAGES and not over_capacity:
            raise LeadError(
                f"{display_name(target)} already holds {load} of {member.capacity} open leads; "
                "tick “over capacity” to hand over more."
            )
        Lead.objects.filter(pk=lead.pk, owner_id=lead.owner_id).update(owner=target, updated_at=now)
        Assignment.objects.create(
            lead=lead,
            from_owner_id=lead.owner_id,
            to_owner=target,
            reason=Assignment.Reason.REASSIGNED,
            actor=user,
            at=now,
        )
        lead.owner = target
    return lead


# --- bulk -------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    done: list[Lead] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (lead id, why)


def _bulk(lead_ids: list[int], act) -> BulkResult:
    """Each lead in its own transaction: one failure does not undo the others."""
    result = BulkResult()
    for lead_id in dict.fromkeys(lead_ids):
        try:
            result.done.append(act(lead_id))
        except LeadError as error:
            result.failed.append((lead_id, str(error)))
    return result


def lead_bulk_reassign(*, lead_ids: list[int], user: User, to_user_id: int, over_capacity: bool = False) -> BulkResult:
    """Hand several leads to one SDR, each through ``lead_reassign`` (capacity counted as it fills)."""
    return _bulk(
        lead_ids,
        lambda pk: lead_reassign(lead_id=pk, user=user, to_user_id=to_user_id, over_capacity=over_capacity),
    )


def lead_bulk_accept(*, lead_ids: list[int], user: User) -> BulkResult:
    return _bulk(lead_ids, lambda pk: lead_accept(lead_id=pk, user=user))


def lead_bulk_recycle(
    *, lead_ids: list[int], user: User, reason_code: str, revisit_on: dt.date, note: str = ""
) -> BulkResult:
    return _bulk(
        lead_ids,
        lambda pk: lead_recycle(lead_id=pk, user=user, reason_code=reason_code, revisit_on=revisit_on, note=note),
    )


def lead_bulk_reject(*, lead_ids: list[int], user: User, reason_code: str, note: str) -> BulkResult:
    return _bulk(lead_ids, lambda pk: lead_reject(lead_id=pk, user=user, reason_code=reason_code, note=note))


# --- notes and availability -------------------------------------------------------------------


def note_add(*, lead_id: int, user: User, body: str) -> Note:
    body = body.strip()
    if not body:
        raise LeadError("A note cannot be empty.")
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        raise LeadError("This lead no longer exists.")
    return Note.objects.create(lead=lead, author=user, body=body)


def member_set_away(*, user: User, until: dt.datetime | None, now: dt.datetime | None = None) -> TeamMember:
    """Out of office until ``until`` (None = back now): round robin skips the SDR meanwhile."""
    now = now or timezone.now()
    if until is not None and until <= now:
        raise LeadError("'Away until' must be in the future.")
    with transaction.atomic():
        member = TeamMember.objects.select_for_update(of=("self",)).filter(user=user).order_by("pk").first()
        if member is None:
            raise LeadError("You are not on a team, so no leads are routed to you anyway.")
        member.away_until = until
        member.save(update_fields=["away_until"])
    return member


__all__ = [
    "BulkResult",
    "LeadError",
    "lead_accept",
    "lead_bulk_accept",
    "lead_bulk_recycle",
    "lead_bulk_reject",
    "lead_claim",
    "lead_claim_next",
    "lead_convert",
    "lead_disqualify",
    "lead_mark_lost",
    "lead_mark_won",
    "lead_bulk_reassign",
    "lead_reassign",
    "may_reassign",
    "lead_recycle",
    "lead_reject",
    "lead_return_to_nurture",
    "lead_undo",
    "member_set_away",
    "note_add",
    "rejection_answer",
]


def list_columns_set(*, user: User, columns: list[str]) -> list[str]:
    """Remember the attribute columns ``user`` shows on the lead list (keys already checked against
    the data dictionary by the caller), for every browser they sign in from."""
    ListPreference.objects.update_or_create(user=user, defaults={"columns": list(columns)})
    return list(columns)
