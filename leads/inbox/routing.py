"""Routing new MQLs to SDRs: round robin among available SDRs under capacity, or the pull queue.

The scoring code calls ``route_mqls`` in the same transaction that moves leads into ``mql``, so
an MQL is never visible to a round-robin team without an owner for longer than that transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from leads.lifecycle import new_lead_team_id
from leads.models import Assignment, Lead, Stage, Team, TeamMember
from portal.access import Role

# What "capacity" limits: the MQLs an SDR owns and has not acted on yet, exactly the leads of her
# Mine tab. Accepted (SAL) leads are worked in the Accepted tab at the SDR's own pace and do not
# keep new MQLs away from her; counting them refused SDRs whose Mine tab held a handful of leads.
OPEN_STAGES = (Stage.MQL,)

# Sent with ``team_ids`` after routing, in the router's transaction: ``sla`` checks on commit
# whether MQLs of those teams wait for an owner and tells their managers.
mqls_routed = Signal()


class WaitReason:
    """Why the unassigned MQLs of a round-robin team wait (the words of banners and notifications)."""

    FULL = "all SDRs at capacity"
    AWAY = "no SDR available (away)"
    NOBODY = "the team has no SDR"


@dataclass(frozen=True)
class Waiting:
    """Unassigned open MQLs of one round-robin team that routing could not give to anyone."""

    team_id: int
    team_name: str
    leads: int
    reason: str

    @property
    def sentence(self) -> str:
        noun = "MQL" if self.leads == 1 else "MQLs"
        verb = "is" if self.leads == 1 else "are"
        return f"{self.leads:,} {noun} {verb} waiting for an owner in {self.team_name} — {self.reason}"


@dataclass
class _Seat:
    member: TeamMember
    load: int

    @property
    def free(self) -> bool:
        return self.load < self.member.capacity

    def sort_key(self) -> tuple:
        # Least recently assigned first; never-assigned SDRs before everyone, then by member id.
        last = self.member.last_assigned_at
        return (last is not None, last or dt.datetime.min.replace(tzinfo=dt.UTC), self.member.id)


def routable_members(team: Team, now: dt.datetime):
    """The team's active SDRs who are not out of office (a queryset; lock it with select_for_update)."""
    return routable_members_of(team, now).select_related("user").order_by("id")


def routable_members_of(team, now: dt.datetime):
    """Who routing may give a lead to in ``team`` (a team, its id or an ``OuterRef``)."""
    return TeamMember.objects.filter(team=team, user__is_active=True, user__groups__name=Role.SDR.value).filter(
        Q(away_until__isnull=True) | Q(away_until__lte=now)
    )


def open_loads(user_ids: list[int]) -> dict[int, int]:
    """Open leads (``OPEN_STAGES``: the Mine tab) per owner, in one aggregate over the (owner, stage) index.

    The one count behind routing, claiming and the "n of m open" line of the inbox.
    """
    rows = (
        Lead.objects.filter(owner_id__in=user_ids, stage__in=OPEN_STAGES)
        .values_list("owner_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


@dataclass(frozen=True)
class Capacity:
    """An SDR's open leads against her limit: the figure the inbox shows and a refused claim quotes."""

    open: int
    limit: int

    @property
    def full(self) -> bool:
        return self.open >= self.limit

    @property
    def sentence(self) -> str:
        return f"{self.open:,} of {self.limit:,} open — your capacity"


def capacity_of(member: TeamMember) -> Capacity:
    """``member``'s open leads (what her Mine tab lists) and her capacity, in one query."""
    return Capacity(open=open_loads([member.user_id]).get(member.user_id, 0), limit=member.capacity)


def route_mqls(
    *, lead_ids: list[int], now: dt.datetime | None = None, teamed: bool = False, announce: bool = True
) -> int:
    """Give owners to the unassigned MQLs among ``lead_ids`` whose team routes round robin.

    Each lead goes to the team's available SDR (not away, open MQLs below capacity)
    who was assigned least recently; one ``Assignment`` (reason ``round_robin``, no actor) per
    lead. Pull-mode teams, and leads no SDR has room for, stay unassigned for the "Next lead"
    button. A lead without a team joins the team the lifecycle gives a new lead (``new_lead_team_id``);
    ``teamed``: the caller already did that in the write that made them MQLs (a rescore's stage move).
    ``announce``: send ``mqls_routed`` (the backlog check); a rescore job checks once when it
    closes instead of after each of its chunks. Returns the number of leads assigned.
    """
    if not lead_ids:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        single_team = new_lead_team_id()
        if single_team is not None:
            if not teamed:
                Lead.objects.filter(id__in=lead_ids, team__isnull=True).update(team_id=single_team)
            # One team holds every lead: no need to look for the teams of thousands of new MQLs
            # (``_route_team`` skips a team with nothing to route).
            team_ids = list(
                Team.objects.filter(id=single_team, routing=Team.Routing.ROUND_ROBIN).values_list("id", flat=True)
            )
        else:
            team_ids = list(
                Team.objects.filter(
                    routing=Team.Routing.ROUND_ROBIN,
                    leads__id__in=lead_ids,
                    leads__stage=Stage.MQL,
                    leads__owner__isnull=True,
                )
                .values_list("id", flat=True)
                .distinct()
                .order_by("id")
            )
        assigned = 0
        for team in Team.objects.filter(id__in=team_ids).order_by("id"):
            assigned += _route_team(team=team, lead_ids=lead_ids, now=now)
        if team_ids and announce:
            mqls_routed.send(sender=None, team_ids=team_ids)
        return assigned


def waiting_mqls(*, team_ids: Iterable[int] | None = None, now: dt.datetime | None = None) -> list[Waiting]:
    """Round-robin teams whose unassigned MQLs wait because every SDR is at capacity or away.

    ``team_ids`` may be a subquery (``values("id")``). A team with an SDR who has room is not listed:
    its next routing (or a claim) takes them. One query whatever the number of teams (the loads
    counted as ``open_loads`` counts them, over the (owner, stage) index).
    """
    now = now or timezone.now()
    teams = Team.objects.filter(routing=Team.Routing.ROUND_ROBIN)
    if team_ids is not None:
        teams = teams.filter(id__in=team_ids)
    unassigned = Lead.objects.filter(team_id=OuterRef("pk"), stage=Stage.MQL, owner__isnull=True)
    load = Lead.objects.filter(owner_id=OuterRef("user_id"), stage__in=OPEN_STAGES)
    present = routable_members_of(OuterRef("pk"), now)
    with_room = present.annotate(load=_count(load)).filter(load__lt=F("capacity"))
    sdrs = TeamMember.objects.filter(team=OuterRef("pk"), user__is_active=True, user__groups__name=Role.SDR.value)
    rows = (
        teams.annotate(
            waiting=_count(unassigned), sdrs=_count(sdrs), present=_count(present), with_room=_count(with_room)
        )
        .filter(waiting__gt=0, with_room=0)
        .order_by("id")
        .values_list("id", "name", "waiting", "sdrs", "present")
    )
    return [
        Waiting(team_id=pk, team_name=name, leads=n, reason=_why(sdrs=sdrs, present=present))
        for pk, name, n, sdrs, present in rows
    ]


def _why(*, sdrs: int, present: int) -> str:
    if not sdrs:
        return WaitReason.NOBODY
    return WaitReason.FULL if present else WaitReason.AWAY


def _count(qs) -> Coalesce:
    """``SELECT count(*)`` of ``qs`` (correlated with ``OuterRef``) as an expression."""
    counted = qs.order_by().annotate(_one=Value(1)).values("_one").annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _route_team(*, team: Team, lead_ids: list[int], now: dt.datetime) -> int:
    # Locking the team's member rows serialises routing per team: two concurrent batches cannot
    # both read the same loads and overfill one SDR. Lock order (members, then leads, by id) is
    # the same everywhere, so concurrent routers do not deadlock.
    members = list(routable_members(team, now).select_for_update(of=("self",)))
    if not members:
        return 0
    loads = open_loads([m.user_id for m in members])
    seats = [_Seat(member=m, load=loads.get(m.user_id, 0)) for m in members]
    if not any(seat.free for seat in seats):
        # Everyone is at capacity (common while a publish turns thousands of leads into MQLs at
        # once): the leads wait in the pull queue, and there is no need to lock them.
        return 0
    leads = list(
        Lead.objects.filter(id__in=lead_ids, team=team, stage=Stage.MQL, owner__isnull=True)
        .select_for_update(of=("self",))
        .order_by("sla_due_at", "-score", "id")
        .only("id")
    )
    if not leads:
        return 0

    picks: dict[int, list[int]] = defaultdict(list)  # user id → lead ids
    assignments: list[Assignment] = []
    stamp = now
    for lead in leads:
        free = [s for s in seats if s.free]
        if not free:
            break
        seat = min(free, key=_Seat.sort_key)
        # Distinct stamps keep the rotation order exact across batches even within one instant.
        stamp = stamp + dt.timedelta(microseconds=1)
        seat.load += 1
        seat.member.last_assigned_at = stamp
        picks[seat.member.user_id].append(lead.id)
        assignments.append(
            Assignment(
                lead_id=lead.id,
                from_owner=None,
                to_owner_id=seat.member.user_id,
                reason=Assignment.Reason.ROUND_ROBIN,
                at=now,
            )
        )

    for user_id, ids in picks.items():
        Lead.objects.filter(id__in=ids).update(owner_id=user_id, updated_at=now)
    Assignment.objects.bulk_create(assignments)
    TeamMember.objects.bulk_update([s.member for s in seats if s.member.user_id in picks], ["last_assigned_at"])
    return len(assignments)
