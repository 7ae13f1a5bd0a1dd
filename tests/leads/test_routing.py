"""Round-robin routing of new MQLs (leads.inbox.routing.route_mqls)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from leads.inbox.routing import route_mqls
from leads.models import Assignment, Lead, Stage, Team, TeamMember
from portal.access import Role
from tests.factories import LeadFactory, TeamFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _mqls(team, n, **kwargs):
    now = timezone.now()
    return [
        LeadFactory(stage=Stage.MQL, team=team, sla_due_at=now + dt.timedelta(hours=i + 1), **kwargs) for i in range(n)
    ]


def test_round_robin_spreads_mqls_evenly_and_records_why(team, sdr, sdr2):
    leads = _mqls(team, 6)

    assert route_mqls(lead_ids=[lead.id for lead in leads]) == 6

    owners = [Lead.objects.get(pk=lead.pk).owner_id for lead in leads]
    assert owners.count(sdr.id) == 3
    assert owners.count(sdr2.id) == 3
    # Alternates: the most urgent lead first, each next lead to the least recently assigned SDR.
    assert owners[0] != owners[1] and owners[1] != owners[2]
    rows = Assignment.objects.filter(lead__in=leads)
    assert rows.count() == 6
    assert set(rows.values_list("reason", flat=True)) == {Assignment.Reason.ROUND_ROBIN}
    assert set(rows.values_list("actor", flat=True)) == {None}
    assert set(rows.values_list("from_owner", flat=True)) == {None}


def test_rotation_continues_across_batches(team, sdr, sdr2):
    first = _mqls(team, 1)
    route_mqls(lead_ids=[first[0].id])
    first_owner = Lead.objects.get(pk=first[0].pk).owner_id

    second = _mqls(team, 1)
    route_mqls(lead_ids=[second[0].id])

    assert Lead.objects.get(pk=second[0].pk).owner_id not in (None, first_owner)


def test_sdr_out_of_office_gets_no_leads(team, sdr, sdr2):
    TeamMember.objects.filter(user=sdr2).update(away_until=timezone.now() + dt.timedelta(days=2))
    leads = _mqls(team, 3)

    route_mqls(lead_ids=[lead.id for lead in leads])

    assert set(Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("owner", flat=True)) == {sdr.id}


def test_sdr_back_from_leave_is_routed_again(team, sdr):
    TeamMember.objects.filter(user=sdr).update(away_until=timezone.now() - dt.timedelta(minutes=1))
    lead = _mqls(team, 1)[0]

    route_mqls(lead_ids=[lead.id])

    lead.refresh_from_db()
    assert lead.owner == sdr


def test_capacity_counts_the_mqls_of_the_mine_tab_only(team, sdr, sdr2):
    TeamMember.objects.filter(user=sdr).update(capacity=2)
    LeadFactory(stage=Stage.MQL, owner=sdr, team=team)  # in her Mine tab: counts
    LeadFactory(stage=Stage.SAL, owner=sdr, team=team)  # accepted (Accepted tab): does not count
    LeadFactory(stage=Stage.SQL, owner=sdr, team=team)  # not open: does not count
    LeadFactory(stage=Stage.LOST, owner=sdr, team=team)
    leads = _mqls(team, 4)

    route_mqls(lead_ids=[lead.id for lead in leads])

    owners = list(Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("owner", flat=True))
    assert owners.count(sdr.id) == 1
    assert owners.count(sdr2.id) == 3


def test_leads_stay_unassigned_when_everyone_is_full(team, sdr):
    TeamMember.objects.filter(user=sdr).update(capacity=1)
    leads = _mqls(team, 3)

    assert route_mqls(lead_ids=[lead.id for lead in leads]) == 1

    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=True).count() == 2
    # The one assigned is the most urgent.
    assert Lead.objects.get(pk=leads[0].pk).owner == sdr


def test_pull_mode_team_leaves_mqls_unassigned(team, sdr):
    team.routing = Team.Routing.PULL
    team.save()
    leads = _mqls(team, 2)

    assert route_mqls(lead_ids=[lead.id for lead in leads]) == 0

    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=True).count() == 2
    assert not Assignment.objects.exists()


def test_only_unassigned_mqls_are_routed(team, sdr, sdr2):
    owned = LeadFactory(stage=Stage.MQL, team=team, owner=sdr2)
    nurture = LeadFactory(stage=Stage.NURTURE, team=team)

    assert route_mqls(lead_ids=[owned.id, nurture.id]) == 0

    owned.refresh_from_db()
    nurture.refresh_from_db()
    assert owned.owner == sdr2
    assert nurture.owner is None


def test_managers_and_users_without_the_sdr_role_are_not_routed(team, manager):
    TeamMemberFactory(team=team, user=manager)
    lead = _mqls(team, 1)[0]

    assert route_mqls(lead_ids=[lead.id]) == 0


def test_a_lead_without_a_team_joins_the_only_team(team, sdr):
    lead = LeadFactory(stage=Stage.MQL, team=None)

    assert route_mqls(lead_ids=[lead.id]) == 1

    lead.refresh_from_db()
    assert (lead.team, lead.owner) == (team, sdr)


def test_each_team_routes_to_its_own_sdrs(team, sdr):
    other = TeamFactory(name="Enterprise")
    other_sdr = UserFactory(username="ent1", roles=[Role.SDR])
    TeamMemberFactory(team=other, user=other_sdr)
    mine, theirs = _mqls(team, 1)[0], _mqls(other, 1)[0]

    assert route_mqls(lead_ids=[mine.id, theirs.id]) == 2

    assert Lead.objects.get(pk=mine.pk).owner == sdr
    assert Lead.objects.get(pk=theirs.pk).owner == other_sdr


def test_routing_queries_grow_with_sdrs_not_with_leads(team, sdr, sdr2, django_assert_max_num_queries):
    # One UPDATE per SDR that receives leads; everything else is a fixed handful of statements.
    leads = _mqls(team, 60)
    with django_assert_max_num_queries(13):
        route_mqls(lead_ids=[lead.id for lead in leads])


@pytest.mark.django_db(transaction=True)
def test_concurrent_routing_never_exceeds_capacity_or_double_assigns():
    team = TeamFactory()
    sdrs = [UserFactory(username=f"rr{i}", roles=[Role.SDR]) for i in range(3)]
    for user in sdrs:
        TeamMemberFactory(team=team, user=user, capacity=5)
    batches = [[lead.id for lead in _mqls(team, 6)] for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(batches))

    def run(ids):
        try:
            barrier.wait()
            route_mqls(lead_ids=ids)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(ids,)) for ids in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    for user in sdrs:
        assert Lead.objects.filter(owner=user, stage=Stage.MQL).count() == 5
    assert Assignment.objects.count() == 15
    assert Assignment.objects.values("lead").distinct().count() == 15
    assert Lead.objects.filter(owner__isnull=True).count() == 24 - 15
