"""Team settings for managers (outside the Django admin): hours, time zone, routing, SDR capacity."""

from __future__ import annotations

import zoneinfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from leads.inbox.routing import open_loads
from leads.models import TeamEvent, TeamMember
from leads.teams.forms import MemberFormSet, TeamSettingsForm
from leads.teams.services import TeamError, manageable_teams, team_settings_save
from portal.access import Role, role_required


@role_required(Role.MANAGER)
def team_list(request: HttpRequest) -> HttpResponse:
    teams = list(manageable_teams(request.user).order_by("name"))
    if len(teams) == 1:
        return redirect("leads:team_settings", pk=teams[0].pk)
    return render(request, "leads/team_list.html", {"teams": teams})


@role_required(Role.MANAGER)
def team_settings(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(manageable_teams(request.user), pk=pk)
    members = TeamMember.objects.filter(team=team).select_related("user").order_by("user__first_name", "user__username")
    # "Out of office until" is read and shown in the team's own time zone.
    with timezone.override(zoneinfo.ZoneInfo(team.time_zone)):
        form = TeamSettingsForm(request.POST or None, instance=team, prefix="team")
        formset = MemberFormSet(request.POST or None, queryset=members, prefix="members")
        if request.method == "POST" and form.is_valid() and formset.is_valid():
            rows = {f.instance.pk: f.cleaned_data for f in formset.forms}
            try:
                changes = team_settings_save(team=team, user=request.user, values=form.cleaned_data, members=rows)
            except TeamError as exc:
                messages.error(request, str(exc))
            else:
                n = len(changes)
                messages.success(request, f"Saved {n} change{'s' if n != 1 else ''}." if n else "Nothing changed.")
                return redirect("leads:team_settings", pk=team.pk)
        elif request.method == "POST":
            messages.error(request, "Nothing was saved yet: fix the fields marked below.")
        loads = open_loads([m.user_id for m in members])
        rows = [(f, f.instance, loads.get(f.instance.user_id, 0)) for f in formset.forms]
        events = TeamEvent.objects.filter(team=team).select_related("actor", "member__user")[:30]
        return render(
            request,
            "leads/team_settings.html",
            {"team": team, "form": form, "formset": formset, "rows": rows, "events": events},
            status=422 if request.method == "POST" else 200,
        )
