"""One capacity for routing, claiming and the inbox; what a publish's new MQLs became; managers told
when MQLs wait for an owner (sla.backlog), once per episode; the banner on the inbox and dashboard."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads import tasks
from leads.inbox.routing import WaitReason, route_mqls, waiting_mqls
from leads.inbox.services import LeadError, lead_claim_next
from leads.models import Lead, RescoreJob, Stage, TeamMember
from leads.scoring.job_result import job_result
from sla.backlog import backlog_check
from sla.models import Backlog, Notification
from tests.factories import AgreementVersionFactory, LeadFactory, MqlFactory, TeamFactory, UserFactory
from tests.sla.conftest import refreshed

pytestmark = pytest.mark.django_db

INBOX = reverse("leads:inbox")


def _waiting_mqls(team, n):
    return [MqlFactory(team=team) for _ in range(n)]


def test_an_sdr_with_four_mqls_in_mine_and_many_accepted_or_closed_leads_may_claim(team, sdr, login):
    AgreementVersionFactory()
    TeamMember.objects.filter(user=sdr).update(capacity=5)
    for _ in range(4):
        MqlFactory(team=team, owner=sdr)
    for stage in (Stage.SAL,) * 6 + (Stage.SQL, Stage.WON, Stage.LOST, Stage.REJECTED):
        LeadFactory(team=team, owner=sdr, stage=stage)
    free = MqlFactory(team=team)

    page = login(sdr).get(INBOX).content.decode()
    assert "4 of 5 open — your capacity" in page
    assert 'data-testid="tab-mine"' in page

    assert lead_claim_next(user=sdr).pk == free.pk


def test_a_refused_claim_quotes_the_figure_the_inbox_shows(team, sdr, login):
    AgreementVersionFactory()
    TeamMember.objects.filter(user=sdr).update(capacity=2)
    MqlFactory(team=team, owner=sdr)
    MqlFactory(team=team, owner=sdr)
    LeadFactory(team=team, owner=sdr, stage=Stage.SAL)
    MqlFactory(team=team)

    assert "2 of 2 open — your capacity" in login(sdr).get(INBOX).content.decode()
    with pytest.raises(LeadError, match="You hold 2 of 2 open — your capacity"):
        lead_claim_next(user=sdr)

    response = login(sdr).post(reverse("leads:claim_next"), follow=True)
    assert "2 of 2 open — your capacity" in response.content.decode()


def test_routing_claiming_and_the_display_count_the_same_leads(team, sdr, sdr2):
    TeamMember.objects.filter(user=sdr).update(capacity=3)
    TeamMember.objects.filter(user=sdr2).update(capacity=0)
    MqlFactory(team=team, owner=sdr)
    LeadFactory(team=team, owner=sdr, stage=Stage.SAL)
    leads = [MqlFactory(team=team) for _ in range(4)]

    assert route_mqls(lead_ids=[lead.id for lead in leads]) == 2  # 1 + 2 = 3 MQLs in her Mine tab

    assert Lead.objects.filter(owner=sdr, stage=Stage.MQL).count() == 3
    with pytest.raises(LeadError, match="3 of 3 open"):
        lead_claim_next(user=sdr)


def test_a_publish_result_counts_new_mqls_routed_and_waiting(
    team, sdr, sdr2, manager, django_capture_on_commit_callbacks
):
    TeamMember.objects.filter(user=sdr).update(capacity=2)
    TeamMember.objects.filter(user=sdr2).update(capacity=1)
    version = AgreementVersionFactory()
    leads = [LeadFactory(budget="confirmed") for _ in range(5)]  # fit 60: MQLs under the default spec
    LeadFactory()  # stays below the threshold

    with django_capture_on_commit_callbacks(execute=True):
        job = RescoreJob.objects.get(pk=tasks.rescore_all.delay(version.id).get())

    result = job_result(job)
    assert (result.new_mqls, result.routed, result.waiting) == (5, 3, 2)
    assert result.sentence == "+5 new MQLs: 3 routed, 2 waiting — all SDRs at capacity"
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=True).count() == 2
    # The manager was told at once, in the app and by e-mail, with a link to the queue.
    note = Notification.objects.get(user=manager, kind=Notification.Kind.BACKLOG)
    assert note.title.startswith("2 MQLs are waiting for an owner in Inside Sales — all SDRs at capacity")
    assert note.url == INBOX + "?tab=unassigned"
    assert [m.to for m in mail.outbox] == [[manager.email]]
    assert "all SDRs at capacity" in mail.outbox[0].subject


def test_a_rescore_in_several_chunks_checks_the_backlog_once_when_the_job_closes(
    team, sdr, manager, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.ACCORD_RESCORE_CHUNK = 2
    TeamMember.objects.filter(user=sdr).update(capacity=1)
    version = AgreementVersionFactory()
    leads = [LeadFactory(budget="confirmed") for _ in range(7)]  # MQLs under the default spec, four chunks
    checks = []

    def counted(**kwargs):
        checks.append(kwargs)
        return backlog_check(**kwargs)

    monkeypatch.setattr("sla.backlog.backlog_check", counted)
    with django_capture_on_commit_callbacks(execute=True):
        job = RescoreJob.objects.get(pk=tasks.rescore_all.delay(version.id).get())

    assert job.total_chunks == 4 and job.status == RescoreJob.Status.DONE
    # Not once per chunk: once, after the last chunk, for every round-robin team, with the final count.
    assert checks == [{"team_ids": [team.id]}]
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner=sdr).count() == 1
    # Every new MQL joined the team in the stage move itself (routing did not have to).
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], team=team).count() == 7
    note = Notification.objects.get(user=manager, kind=Notification.Kind.BACKLOG)
    assert note.title.startswith("6 MQLs are waiting for an owner in Inside Sales")
    assert Backlog.objects.get(team=team).leads == 6


def test_the_leaders_read_the_publish_result_on_the_agreement_page(
    team, sdr, marketing, login, django_capture_on_commit_callbacks
):
    TeamMember.objects.filter(user=sdr).update(capacity=1)
    version = AgreementVersionFactory()
    for _ in range(3):
        LeadFactory(budget="confirmed")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.rescore_all.delay(version.id).get()

    page = login(marketing).get(reverse("leads:rescore_status")).content.decode()

    assert "+3 new MQLs: 1 routed, 2 waiting — all SDRs at capacity." in page


def test_a_publish_whose_mqls_all_find_owners_says_so(team, sdr, manager, marketing, login):
    version = AgreementVersionFactory()
    LeadFactory(budget="confirmed")
    job = RescoreJob.objects.get(pk=tasks.rescore_all.delay(version.id).get())

    assert job_result(job).sentence == "+1 new MQL: all routed"
    assert "+1 new MQL: all routed." in login(marketing).get(reverse("leads:rescore_status")).content.decode()
    assert not Notification.objects.filter(kind=Notification.Kind.BACKLOG).exists()


def test_waiting_names_why_full_or_away(team, sdr):
    TeamMember.objects.filter(user=sdr).update(capacity=0)
    _waiting_mqls(team, 3)
    assert [(w.leads, w.reason) for w in waiting_mqls()] == [(3, WaitReason.FULL)]

    TeamMember.objects.filter(user=sdr).update(capacity=10, away_until=timezone.now() + dt.timedelta(days=1))
    assert [(w.leads, w.reason) for w in waiting_mqls()] == [(3, WaitReason.AWAY)]

    TeamMember.objects.filter(user=sdr).update(away_until=None)
    assert waiting_mqls() == []  # she has room: routing or a claim takes them

    TeamMember.objects.filter(user=sdr).delete()
    assert [(w.leads, w.reason) for w in waiting_mqls()] == [(3, WaitReason.NOBODY)]


def test_the_manager_is_told_once_per_episode_then_again_after_a_day_or_a_new_episode(team, sdr, manager):
    TeamMember.objects.filter(user=sdr).update(capacity=0)
    leads = _waiting_mqls(team, 2)
    now = timezone.now()

    assert backlog_check(now=now) == [team.id]
    assert backlog_check(now=now + dt.timedelta(minutes=5)) == []  # the sweep, five minutes later
    _waiting_mqls(team, 1)
    assert backlog_check(team_ids=[team.id], now=now + dt.timedelta(hours=2)) == []  # more routing
    assert Notification.objects.filter(user=manager, kind=Notification.Kind.BACKLOG).count() == 1
    assert Backlog.objects.get(team=team).leads == 3

    assert backlog_check(now=now + dt.timedelta(days=1, minutes=1)) == [team.id]  # still waiting a day later

    # The backlog clears: the episode ends; a new one is told at once.
    Lead.objects.filter(team=team, owner__isnull=True).update(stage=Stage.NURTURE)
    assert backlog_check(now=now + dt.timedelta(days=1, hours=1)) == []
    assert not Backlog.objects.exists()
    Lead.objects.filter(pk=leads[0].pk).update(stage=Stage.MQL)
    assert backlog_check(now=now + dt.timedelta(days=1, hours=2)) == [team.id]
    assert Notification.objects.filter(user=manager, kind=Notification.Kind.BACKLOG).count() == 3


def test_routing_after_intake_tells_the_manager_once(team, sdr, manager, django_capture_on_commit_callbacks):
    TeamMember.objects.filter(user=sdr).update(capacity=0)
    with django_capture_on_commit_callbacks(execute=True):
        route_mqls(lead_ids=[lead.id for lead in _waiting_mqls(team, 2)])
    with django_capture_on_commit_callbacks(execute=True):
        route_mqls(lead_ids=[lead.id for lead in _waiting_mqls(team, 2)])

    assert Notification.objects.filter(user=manager, kind=Notification.Kind.BACKLOG).count() == 1
    assert len(mail.outbox) == 1


def test_the_periodic_sweep_notices_a_backlog_nobody_routed(team, sdr, manager):
    from sla.services import breaches_check

    _waiting_mqls(team, 2)
    TeamMember.objects.filter(user=sdr).update(away_until=timezone.now() + dt.timedelta(days=3))

    assert breaches_check().backlog_teams == [team.id]
    assert "no SDR available (away)" in Notification.objects.get(kind=Notification.Kind.BACKLOG).title


def test_the_banner_shows_on_the_inbox_and_the_dashboard_for_the_manager_only(team, sdr, manager, login):
    AgreementVersionFactory()
    TeamMember.objects.filter(user=sdr).update(capacity=0)
    _waiting_mqls(team, 3)
    sentence = "3 MQLs are waiting for an owner in Inside Sales — all SDRs at capacity"

    assert sentence in login(manager).get(INBOX).content.decode()
    refreshed()  # the dashboard's figures are built by the refresh task, never inside a GET
    assert sentence in login(manager).get(reverse("sla:dashboard")).content.decode()
    assert sentence not in login(sdr).get(INBOX).content.decode()
    other_manager = UserFactory(username="boss2", roles=["Sales manager"])
    assert sentence not in login(other_manager).get(INBOX).content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_checks_tell_the_manager_once():
    manager = UserFactory(username="boss", roles=["Sales manager"])
    team = TeamFactory(manager=manager)
    _waiting_mqls(team, 3)  # a team without SDRs: every check finds them waiting
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run():
        try:
            barrier.wait()
            backlog_check(team_ids=[team.id])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert Notification.objects.filter(user=manager, kind=Notification.Kind.BACKLOG).count() == 1
    assert Backlog.objects.get(team=team).leads == 3


def test_leads_arriving_through_the_api_that_nobody_has_room_for_tell_the_manager(
    team, sdr, manager, django_capture_on_commit_callbacks
):
    from leads.intake import writes as intake

    AgreementVersionFactory()
    TeamMember.objects.filter(user=sdr).update(capacity=0)
    _, raw = intake.api_token_create(name="Web forms")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    lead = LeadFactory(team=team, budget="confirmed")  # fit 60: an MQL once it is scored
    occurred = timezone.now().isoformat()
    activity = {"email": lead.email, "kind": "web_visit", "occurred_at": occurred, "external_id": "e1"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/activities", json.dumps({"activities": [activity]}), content_type="application/json"
        )

    assert response.status_code in (200, 201, 202)
    lead.refresh_from_db()
    assert (lead.stage, lead.owner_id) == (Stage.MQL, None)
    note = Notification.objects.get(user=manager, kind=Notification.Kind.BACKLOG)
    assert note.title == "1 MQL is waiting for an owner in Inside Sales — all SDRs at capacity"
    assert [m.to for m in mail.outbox] == [[manager.email]]
