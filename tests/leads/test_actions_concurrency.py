"""Race-freedom with real threads and real PostgreSQL connections (no mocks)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from leads.inbox.services import LeadError, lead_accept, lead_claim_next, lead_reject
from leads.models import Assignment, Lead, Stage, Transition
from portal.access import Role
from tests.factories import AgreementVersionFactory, MqlFactory, TeamFactory, TeamMemberFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _race(callables) -> tuple[list, list[BaseException]]:
    """Run every callable in its own thread (own DB connection), released at the same instant."""
    results, errors = [], []
    barrier = threading.Barrier(len(callables))
    lock = threading.Lock()

    def run(fn):
        try:
            barrier.wait()
            value = fn()
            with lock:
                results.append(value)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in callables]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_fifty_sdrs_claiming_at_once_never_get_the_same_lead():
    AgreementVersionFactory()
    team = TeamFactory()
    sdrs = []
    for i in range(50):
        user = UserFactory(username=f"claimer{i}", roles=[Role.SDR])
        TeamMemberFactory(team=team, user=user)
        sdrs.append(user)
    leads = [MqlFactory(team=team) for _ in range(40)]  # fewer leads than claimers

    results, errors = _race([lambda u=u: lead_claim_next(user=u).pk for u in sdrs])

    assert len(results) == 40
    assert len(set(results)) == 40  # nobody got a lead twice
    assert all(isinstance(e, LeadError) and "queue is empty" in str(e) for e in errors)
    assert len(errors) == 10
    assert Lead.objects.filter(pk__in=[x.pk for x in leads], owner__isnull=True).count() == 0
    claims = Counter(Assignment.objects.filter(reason=Assignment.Reason.CLAIMED).values_list("lead_id", flat=True))
    assert len(claims) == 40 and set(claims.values()) == {1}
    # Every owner holds exactly the lead its claim returned.
    assert sorted(Lead.objects.filter(owner__isnull=False).values_list("pk", flat=True)) == sorted(results)


def test_two_sdrs_acting_on_one_unassigned_lead_give_one_transition():
    AgreementVersionFactory()
    team = TeamFactory()
    a = UserFactory(username="racer_a", roles=[Role.SDR])
    b = UserFactory(username="racer_b", roles=[Role.SDR])
    for user in (a, b):
        TeamMemberFactory(team=team, user=user)
    lead = MqlFactory(team=team)

    results, errors = _race(
        [
            lambda: lead_accept(lead_id=lead.pk, user=a),
            lambda: lead_reject(lead_id=lead.pk, user=b, reason_code="bad_fit", note="Not ours"),
        ]
    )

    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], LeadError)
    assert "already moved" in str(errors[0])
    moves = Transition.objects.filter(lead=lead).exclude(to_stage=Stage.MQL)
    assert moves.count() == 1
    lead.refresh_from_db()
    assert lead.stage == moves.get().to_stage
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_a_double_submitted_accept_gives_one_transition():
    AgreementVersionFactory()
    team = TeamFactory()
    sdr = UserFactory(username="double", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    lead = MqlFactory(team=team, owner=sdr)

    results, errors = _race([lambda: lead_accept(lead_id=lead.pk, user=sdr) for _ in range(5)])

    assert len(results) == 1 and len(errors) == 4
    assert all("You already accepted" in str(e) for e in errors)
    assert Transition.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1


def test_double_click_through_the_real_view_gives_one_transition(live_server):
    """Two POSTs of the same button over HTTP at the same instant: one 200, one 409."""
    import http.client
    from urllib.parse import urlparse

    from django.contrib.auth import get_user_model
    from django.test import Client

    AgreementVersionFactory()
    team = TeamFactory()
    sdr = UserFactory(username="clicker", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    lead = MqlFactory(team=team, owner=sdr)
    client = Client()
    client.force_login(get_user_model().objects.get(pk=sdr.pk))
    session = client.cookies["sessionid"].value
    host = urlparse(live_server.url)

    def post():
        page = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        page.request("GET", "/leads/inbox/", headers={"Cookie": f"sessionid={session}"})
        response = page.getresponse()
        response.read()
        token = response.getheader("Set-Cookie", "").split("csrftoken=")[1].split(";")[0]
        conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        conn.request(
            "POST",
            f"/leads/{lead.pk}/accept/",
            body="ctx=row",
            headers={
                "Cookie": f"sessionid={session}; csrftoken={token}",
                "X-CSRFToken": token,
                "HX-Request": "true",
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": live_server.url + "/leads/inbox/",
            },
        )
        return conn.getresponse().status

    results, errors = _race([post, post])

    assert not errors
    assert sorted(results) == [200, 409]
    assert Transition.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1
