"""The team settings page: managers set hours, time zone, routing, SDR capacity and out-of-office;
every change is recorded with who and when."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Team, TeamEvent, TeamMember
from portal.access import Role
from tests.factories import TeamFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def url(team) -> str:
    return reverse("leads:team_settings", args=[team.pk])


def post_data(team, members, **overrides) -> dict:
    data = {
        "team-time_zone": team.time_zone,
        "team-work_start": team.work_start.strftime("%H:%M"),
        "team-work_end": team.work_end.strftime("%H:%M"),
        "team-working_days": [str(d) for d in team.working_days],
        "team-routing": team.routing,
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": str(len(members)),
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    for i, member in enumerate(members):
        data[f"members-{i}-id"] = str(member.pk)
        data[f"members-{i}-capacity"] = str(member.capacity)
        data[f"members-{i}-away_until"] = ""
    data.update(overrides)
    return data


def test_anonymous_goes_to_login_and_other_roles_are_forbidden(client, login, team, sdr, marketing):
    assert client.get(url(team)).url.startswith(reverse("login"))
    assert login(sdr).get(url(team)).status_code == 403
    assert login(marketing).get(url(team)).status_code == 403


def test_a_manager_cannot_open_another_managers_team(login, manager):
    other = TeamFactory(name="Other team", manager=UserFactory(username="other", roles=[Role.MANAGER]))
    assert login(manager).get(url(other)).status_code == 404


def test_the_manager_lands_on_her_only_team(login, manager, team):
    assert login(manager).get(reverse("leads:team_list")).url == url(team)


def test_the_manager_changes_hours_zone_routing_and_an_sdrs_capacity_and_away_recorded_with_who_and_when(
    login, manager, team, sdr, django_assert_max_num_queries
):
    team.time_zone = "Europe/Berlin"
    team.save(update_fields=["time_zone"])
    member = TeamMember.objects.get(user=sdr)
    client = login(manager)
    with django_assert_max_num_queries(12):
        page = client.get(url(team))
    assert page.status_code == 200 and 'data-testid="sdr-row"' in page.content.decode()
    away = (timezone.now() + dt.timedelta(days=3)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    data = post_data(
        team,
        [member],
        **{
            "team-time_zone": "America/New_York",
            "team-work_start": "08:00",
            "team-work_end": "16:30",
            "team-working_days": ["0", "1", "2", "3"],
            "team-routing": Team.Routing.PULL,
            "members-0-capacity": "30",
            "members-0-away_until": away.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    response = client.post(url(team), data)
    assert response.status_code == 302
    team.refresh_from_db()
    member.refresh_from_db()
    assert (team.time_zone, team.routing, team.working_days) == ("America/New_York", "pull", [0, 1, 2, 3])
    assert (team.work_start, team.work_end) == (dt.time(8, 0), dt.time(16, 30))
    assert member.capacity == 30
    assert member.away_until == away.replace(second=0, microsecond=0)  # read in the team's zone (Berlin, UTC+1)
    events = list(TeamEvent.objects.filter(team=team).order_by("id"))
    assert [e.actor for e in events] == [manager, manager]
    assert "Routing: Round robin on MQL → Pull ('Next lead' button)" in events[0].changes
    assert "Time zone: Europe/Berlin → America/New_York" in events[0].changes
    assert "Working days: Mon, Tue, Wed, Thu, Fri → Mon, Tue, Wed, Thu" in events[0].changes
    assert events[1].member == member and any("capacity 50 → 30" in c for c in events[1].changes)
    history = client.get(url(team)).content.decode()
    assert "capacity 50 → 30" in history


def test_saving_unchanged_settings_records_nothing(login, manager, team, sdr):
    login(manager).post(url(team), post_data(team, [TeamMember.objects.get(user=sdr)]))
    assert not TeamEvent.objects.exists()


def test_a_day_that_ends_before_it_starts_and_a_past_away_date_are_refused(login, manager, team, sdr):
    member = TeamMember.objects.get(user=sdr)
    client = login(manager)
    bad_hours = client.post(url(team), post_data(team, [member], **{"team-work_end": "08:00"}), follow=True)
    assert b"must end after it starts" in bad_hours.content
    past = client.post(url(team), post_data(team, [member], **{"members-0-away_until": "2020-01-01T09:00"}))
    assert b"must be in the future" in past.content
    team.refresh_from_db()
    member.refresh_from_db()
    assert team.work_end == dt.time(17, 30) and member.away_until is None
    assert not TeamEvent.objects.exists()


def test_a_member_of_another_team_cannot_be_edited_through_this_page(login, manager, team, sdr):
    stranger = TeamMemberFactory(team=TeamFactory(name="Elsewhere"), capacity=50)
    data = post_data(team, [TeamMember.objects.get(user=sdr)])
    data["members-0-id"] = str(stranger.pk)
    data["members-0-capacity"] = "1"
    login(manager).post(url(team), data)
    stranger.refresh_from_db()
    assert stranger.capacity == 50
