"""Team settings, written by the team's manager: hours, time zone, routing, each SDR's capacity and
out-of-office. Every save appends a ``TeamEvent`` naming who changed what, and when."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from alignment import spec as vocab
from leads.models import Team, TeamEvent, TeamMember
from portal.access import Role, display_name, has_role, is_admin


class TeamError(Exception):
    """A change the team's settings do not allow; the message is shown as is."""


def manageable_teams(user) -> QuerySet[Team]:
    """Teams ``user`` may configure: those they manage (every team for an admin)."""
    if is_admin(user):
        return Team.objects.all()
    if not has_role(user, Role.MANAGER):
        return Team.objects.none()
    return Team.objects.filter(manager=user)


def _days(days) -> str:
    names = [vocab.WEEKDAYS[d][:3] for d in sorted(days)]
    return ", ".join(names) or "none"


def _when(value: dt.datetime | None, tz: zoneinfo.ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%d %b %Y %H:%M") if value else "back"


def team_settings_save(*, team: Team, user, values: dict, members: dict[int, dict]) -> list[str]:
    """Apply the settings page: ``values`` of the team, ``members`` (member id → capacity, away_until).

    Returns the changes, one sentence each (also stored as one ``TeamEvent`` per team or SDR).
    """
    if values["work_end"] <= values["work_start"]:
        raise TeamError("The working day must end after it starts.")
    if not values["working_days"]:
        raise TeamError("Choose at least one working day.")
    try:
        tz = zoneinfo.ZoneInfo(values["time_zone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TeamError(f"'{values['time_zone']}' is not a time zone such as Europe/Berlin.") from None
    now = timezone.now()
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        labels = {
            "time_zone": ("Time zone", str),
            "routing": ("Routing", lambda v: Team.Routing(v).label),
            "working_days": ("Working days", _days),
            "work_start": ("Day starts", lambda v: v.strftime("%H:%M")),
            "work_end": ("Day ends", lambda v: v.strftime("%H:%M")),
            "escalate_breaches": ("Return breached leads to the pool", lambda v: "yes" if v else "no"),
        }
        team_changes = []
        for name, (label, show) in labels.items():
            new = sorted(values[name]) if name == "working_days" else values[name]
            if getattr(team, name) != new:
                team_changes.append(f"{label}: {show(getattr(team, name))} → {show(new)}")
                setattr(team, name, new)
        if team_changes:
            team.save(update_fields=list(labels))
            TeamEvent.objects.create(team=team, actor=user, at=now, changes=team_changes)
        changes = list(team_changes)
        rows = TeamMember.objects.select_for_update().filter(team=team, pk__in=members).select_related("user")
        for member in rows.order_by("pk"):
            wanted = members[member.pk]
            name = display_name(member.user)
            member_changes = []
            if wanted["capacity"] != member.capacity:
                member_changes.append(f"{name}: capacity {member.capacity} → {wanted['capacity']}")
                member.capacity = wanted["capacity"]
            away = wanted["away_until"]
            if away is not None and away <= now and away != member.away_until:
                raise TeamError(f"{name}: 'away until' must be in the future.")
            if away != member.away_until:
                member_changes.append(f"{name}: away until {_when(member.away_until, tz)} → {_when(away, tz)}")
                member.away_until = away
            if member_changes:
                member.save(update_fields=["capacity", "away_until"])
                TeamEvent.objects.create(team=team, member=member, actor=user, at=now, changes=member_changes)
                changes += member_changes
    return changes
