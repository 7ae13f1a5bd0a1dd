"""The breach job: 75 % warnings, breaches, manager notifications, escalation — once per pass and threshold."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection

from alignment.signals import agreement_published
from leads.models import Assignment, Lead, Stage
from portal.celery import app as celery_app
from sla import services, tasks
from sla.models import Alert, Notification
from tests.factories import AgreementVersionFactory
from tests.sla.conftest import at, history

# Grade A: 4 business hours. MQL Monday 09:00 (London = UTC in March before the 29th).
MQL_AT = at("2026-03-02 09:00")


def check(now: str):
    """What the beat task does: the check, then one e-mail per breach alert whose manager has an address."""
    result = services.breaches_check(now=at(now))
    for alert_id in result.to_email:
        tasks.send_breach_email.delay(alert_id)
    return result


def test_no_alert_while_less_than_three_quarters_of_the_time_is_used(agreement, sdr, manager, make_mql):
    make_mql(sdr, MQL_AT)
    result = check("2026-03-02 11:59")
    assert (result.warnings, result.breaches) == (0, 0)
    assert not Alert.objects.exists()


def test_owner_is_warned_at_75_percent(agreement, sdr, manager, make_mql):
    lead = make_mql(sdr, MQL_AT)
    result = check("2026-03-02 12:00")
    assert (result.warnings, result.breaches) == (1, 0)
    alert = Alert.objects.get()
    assert (alert.lead, alert.threshold, alert.owner, alert.manager) == (lead, "warning", sdr, manager)
    assert alert.due_at == at("2026-03-02 13:00")
    note = Notification.objects.get()
    assert note.user == sdr and note.kind == "warning" and str(lead) in note.title
    assert mail.outbox == []  # warnings stay in the app


def test_breach_notifies_owner_and_manager_in_app_and_manager_by_email(agreement, sdr, manager, make_mql, on_commit):
    lead = make_mql(sdr, MQL_AT)
    with on_commit(execute=True):
        result = check("2026-03-02 13:01")
    assert (result.warnings, result.breaches) == (0, 1)
    assert Alert.objects.get().threshold == "breach"
    assert set(Notification.objects.values_list("user__username", "kind")) == {
        ("sdr1", "breach"),
        ("manager", "breach"),
    }
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [manager.email]
    assert str(lead) in message.subject and "SLA breached" in message.subject
    assert f"/leads/{lead.pk}/" in message.body
    assert message.alternatives and "SLA breached" in message.alternatives[0][0]


def test_the_clock_does_not_run_over_the_weekend(agreement, sdr, manager, make_mql):
    make_mql(sdr, at("2026-03-06 15:00"))  # Friday 15:00 + 4 h = Monday 10:30
    assert check("2026-03-08 23:00").breaches == 0
    assert check("2026-03-09 10:31").breaches == 1


def test_running_the_job_again_raises_nothing_new(agreement, sdr, manager, make_mql, on_commit):
    make_mql(sdr, MQL_AT)
    with on_commit(execute=True):
        check("2026-03-02 12:00")
        check("2026-03-02 12:05")
        check("2026-03-02 13:30")
        again = check("2026-03-02 13:35")
    assert (again.warnings, again.breaches) == (0, 0)
    assert sorted(Alert.objects.values_list("threshold", flat=True)) == ["breach", "warning"]
    assert Notification.objects.filter(kind="breach").count() == 2
    assert len(mail.outbox) == 1


def test_a_first_action_stops_the_clock(agreement, sdr, manager, make_mql):
    lead = make_mql(sdr, MQL_AT)
    history_rows = lead.transitions.order_by("at")
    assert history_rows.count() == 2
    from leads.models import Transition

    Transition.objects.create(lead=lead, from_stage="mql", to_stage="sal", at=at("2026-03-02 10:00"), actor=sdr)
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.SAL)
    assert check("2026-03-03 17:00").breaches == 0
    assert not Alert.objects.exists()


def test_a_recycled_lead_that_returns_gets_a_new_clock_and_new_alerts(agreement, sdr, manager, team):
    from tests.factories import LeadFactory

    lead = LeadFactory(owner=sdr, team=team, grade="A")
    history(
        lead,
        ("new", at("2026-02-01 09:00")),
        ("mql", at("2026-02-02 09:00")),
        ("nurture", at("2026-02-03 09:00"), sdr, "bad_timing"),  # late: the first pass breached
        ("mql", MQL_AT),
    )
    assert check("2026-03-02 13:30").breaches == 1
    assert Alert.objects.get().mql_transition == lead.transitions.order_by("-at").first()


def test_escalation_returns_a_breached_lead_to_the_pool_and_records_it(agreement, sdr, manager, team, make_mql):
    team.escalate_breaches = True
    team.save()
    lead = make_mql(sdr, MQL_AT)
    result = check("2026-03-02 14:00")
    assert result.escalated == 1
    lead.refresh_from_db()
    assert lead.owner is None and lead.stage == Stage.MQL
    assignment = Assignment.objects.get(lead=lead)
    assert (assignment.from_owner, assignment.to_owner, assignment.reason, assignment.actor) == (
        sdr,
        None,
        Assignment.Reason.ESCALATED,
        None,
    )
    assert Alert.objects.get().escalated
    assert Notification.objects.filter(user=sdr, kind="escalation").exists()
    assert check("2026-03-02 15:00").escalated == 0
    assert Assignment.objects.count() == 1


def test_without_escalation_the_owner_keeps_the_lead(agreement, sdr, manager, make_mql):
    lead = make_mql(sdr, MQL_AT)
    check("2026-03-02 14:00")
    lead.refresh_from_db()
    assert lead.owner == sdr
    assert not Assignment.objects.exists()


def test_unassigned_breach_goes_to_the_team_manager(agreement, manager, make_mql, on_commit):
    make_mql(None, MQL_AT)
    with on_commit(execute=True):
        check("2026-03-02 14:00")
    # The breach, and (from the same sweep) that the team's MQLs wait: it has no SDR to take them.
    assert list(Notification.objects.values_list("user__username", "kind").order_by("kind")) == [
        ("manager", Notification.Kind.BACKLOG),
        ("manager", Notification.Kind.BREACH),
    ]
    assert [m.to for m in mail.outbox] == [[manager.email]] * 2


def test_missing_due_times_of_open_mqls_are_filled_in(agreement, sdr, manager, make_mql):
    lead = make_mql(sdr, MQL_AT)
    assert lead.sla_due_at is None
    assert check("2026-03-02 09:30").due_times_filled == 1
    lead.refresh_from_db()
    assert lead.sla_due_at == at("2026-03-02 13:00")
    assert lead.mql_at == MQL_AT


def test_a_filled_in_due_time_runs_from_the_mql_an_undo_restored_not_from_the_undo(agreement, sdr, make_mql):
    from leads.lifecycle import UNDO_REASON
    from leads.models import Transition

    lead = make_mql(sdr, MQL_AT)
    accepted = MQL_AT + dt.timedelta(minutes=20)
    Transition.objects.create(lead=lead, from_stage=Stage.MQL, to_stage=Stage.SAL, at=accepted, actor=sdr)
    Transition.objects.create(  # accepted by mistake, undone a few seconds later
        lead=lead, from_stage=Stage.SAL, to_stage=Stage.MQL, at=accepted + dt.timedelta(seconds=5),
        actor=sdr, reason_code=UNDO_REASON,
    )  # fmt: skip
    assert check("2026-03-02 09:30").due_times_filled == 1
    lead.refresh_from_db()
    assert lead.sla_due_at == at("2026-03-02 13:00")
    assert lead.mql_at == MQL_AT


def test_publishing_an_agreement_re_times_open_mqls_once_the_rescore_has_finished(
    agreement, sdr, manager, make_mql, on_commit
):
    lead = make_mql(sdr, MQL_AT, budget="confirmed")  # fit 60: still an A-grade MQL under the new version
    check("2026-03-02 09:30")
    assert Lead.objects.get(pk=lead.pk).sla_due_at == at("2026-03-02 13:00")
    agreement.status = "retired"
    agreement.save()
    newer = AgreementVersionFactory()
    newer.spec["sla"]["response_hours"]["A"] = 2
    newer.save()
    with on_commit(execute=True):
        agreement_published.send(sender=None, version_id=newer.pk)  # the leads rescore runs (eager)
    # One place re-times open MQLs: the leads rescore after its last chunk, with final grades.
    assert not any(key[0] == "sla-recompute-due-times" for key, *_ in agreement_published.receivers)
    assert "sla.tasks.recompute_due_times" not in celery_app.tasks
    lead.refresh_from_db()
    assert (lead.stage, lead.grade, lead.scored_version) == (Stage.MQL, "A", newer)
    assert lead.sla_due_at == at("2026-03-02 11:00")


def test_periodic_tasks_are_registered_under_the_scheduled_names():
    assert {"sla.tasks.check_breaches", "sla.tasks.weekly_reports_due"} <= set(celery_app.tasks.keys())


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_raise_each_alert_once(team):
    from portal.access import Role
    from tests.factories import AgreementVersionFactory, LeadFactory, TeamMemberFactory, UserFactory

    AgreementVersionFactory()
    manager = UserFactory(username="manager", roles=[Role.MANAGER])
    team.manager = manager
    team.save()
    sdr = UserFactory(username="sdr1", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    for _ in range(6):
        lead = LeadFactory(owner=sdr, team=team, grade="A")
        history(lead, ("new", MQL_AT - dt.timedelta(days=1)), ("mql", MQL_AT))
    services.breaches_check(now=at("2026-03-02 09:05"))  # builds the hour table once, outside the race
    barrier = threading.Barrier(3)
    errors = []

    def run():
        try:
            barrier.wait()
            check("2026-03-02 14:00")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Alert.objects.filter(threshold="breach").count() == 6
    assert Notification.objects.filter(user=manager).count() == 6
    assert len(mail.outbox) == 6
