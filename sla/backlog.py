"""MQLs waiting for an owner: tell the team's managers once per episode.

Routing (after a rescore, a publish, an import or the API) sends ``leads.inbox.routing.mqls_routed``
and ``sla.handlers.check_backlog`` calls ``backlog_check`` on commit; the five-minute breach sweep
calls it for every team, so a backlog that builds up without routing (an SDR marking herself away)
is noticed too, and an episode that cleared is closed.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leads.inbox.routing import waiting_mqls
from leads.models import Team
from portal.notifications import notify
from sla.models import Backlog, Notification

# A backlog that lasts is told again after this long.
REMIND_AFTER = dt.timedelta(days=1)


def backlog_check(*, team_ids: list[int] | None = None, now: dt.datetime | None = None) -> list[int]:
    """Notify the managers of teams whose MQLs wait (in-app and e-mail) unless told in this episode
    within ``REMIND_AFTER``; close the episodes of teams among ``team_ids`` (None: every team) whose
    backlog cleared. Returns the ids of the teams whose managers were told now."""
    now = now or timezone.now()
    told: list[int] = []
    with transaction.atomic():
        waiting = {w.team_id: w for w in waiting_mqls(team_ids=team_ids, now=now)}
        cleared = Backlog.objects.exclude(team_id__in=waiting)
        if team_ids is not None:
            cleared = cleared.filter(team_id__in=team_ids)
        cleared.delete()
        if not waiting:
            return told
        # Locking the teams serialises checks of one team (the chunks of a rescore finish together):
        # the second reads the episode the first recorded, so the manager is told once.
        teams = list(
            Team.objects.filter(id__in=waiting).select_for_update(of=("self",)).select_related("manager").order_by("id")
        )
        episodes = {b.team_id: b for b in Backlog.objects.filter(team_id__in=waiting)}
        queue_url = reverse("leads:inbox") + "?tab=unassigned"
        for team in teams:
            wait = waiting[team.id]
            episode = episodes.get(team.id)
            due = episode is None or episode.notified_at <= now - REMIND_AFTER
            if episode is None:
                episode = Backlog(team=team, since=now, notified_at=now)
            if due:
                notify(
                    users=[team.manager],
                    kind=Notification.Kind.BACKLOG,
                    title=f"{wait.sentence}",
                    body=(
                        f"{wait.sentence}. Their SLA clocks are running. Raise the SDRs' capacities in the "
                        "team settings, bring someone back from leave, or hand leads out from the unassigned queue."
                    ),
                    url=queue_url,
                )
                episode.notified_at = now
                told.append(team.id)
            episode.leads, episode.reason = wait.leads, wait.reason
            episode.save()
    return told
