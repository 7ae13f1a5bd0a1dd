"""Weekly SLA reports: immutable snapshots, e-mail with CSV, the Monday job and the command."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from leads.models import Transition
from portal.access import Role
from sla import services, tasks
from sla.models import Notification, WeeklyReport
from tests.factories import LeadFactory, TeamFactory, UserFactory
from tests.sla.conftest import at, history

# ISO week 2026-W10: Monday 2 March – Sunday 8 March (London = UTC then).
NOW = at("2026-03-09 08:00")


@pytest.fixture
def leaders(db):
    return [
        UserFactory(username="marketing", roles=[Role.MARKETING]),
        UserFactory(username="sales", roles=[Role.SALES]),
    ]


@pytest.fixture
def week_history(agreement, sdr, sdr2, team):
    """Three MQLs in W10: accepted in time, rejected late, still open (breached); one MQL in W09."""
    a = LeadFactory(owner=sdr, team=team, grade="A")
    history(a, ("new", at("2026-03-01 10:00")), ("mql", at("2026-03-02 09:00")), ("sal", at("2026-03-02 10:00"), sdr))
    b = LeadFactory(owner=sdr2, team=team, grade="B")
    history(
        b,
        ("new", at("2026-03-01 10:00")),
        ("mql", at("2026-03-03 09:00")),
        ("rejected", at("2026-03-05 09:00"), sdr2, "bad_fit"),
    )
    c = LeadFactory(owner=sdr, team=team, grade="A")
    history(c, ("new", at("2026-03-01 10:00")), ("mql", at("2026-03-04 09:00")))
    d = LeadFactory(owner=sdr2, team=team, grade="A")
    history(d, ("new", at("2026-02-20 10:00")), ("mql", at("2026-02-24 09:00")), ("sal", at("2026-02-24 09:30"), sdr2))
    return [a, b, c, d]


def generate(team, **kwargs):
    return services.report_generate(team_id=team.pk, iso_year=2026, iso_week=10, now=NOW, **kwargs)


def test_a_report_snapshots_the_weeks_figures(week_history, team, manager, agreement):
    report = generate(team, user=manager)
    f = report.figures
    assert (report.iso_year, report.iso_week, report.week_label) == (2026, 10, "2026-W10")
    assert report.week_start == at("2026-03-02 00:00") and report.week_end == at("2026-03-09 00:00")
    assert report.agreement_version == agreement and report.generated_by == manager
    assert f["mql"]["delivered"] == 3
    assert f["decisions"]["accepted"] == 1 and f["decisions"]["rejected"] == 1 and f["decisions"]["open"] == 1
    assert f["breaches"] == 2  # rejected after 17 business hours (target 8), open one past 4 hours
    assert f["reasons"]["rejected"][0]["code"] == "bad_fit"
    assert f["comparison"]["previous_week"]["mqls"] == 1
    assert f["comparison"]["eight_week_average"]["mqls"] == pytest.approx(1 / 8)
    assert {s["name"] for s in f["sdrs"]} == {services._name(u) for u in (week_history[0].owner, week_history[1].owner)}


def test_a_report_never_changes_after_it_is_generated(week_history, team, sdr):
    report = generate(team)
    before = dict(report.figures)
    open_lead = week_history[2]
    Transition.objects.create(lead=open_lead, from_stage="mql", to_stage="sal", at=at("2026-03-04 09:30"), actor=sdr)
    report.refresh_from_db()
    assert report.figures == before
    report.figures = {"tampered": True}
    with pytest.raises(ValueError, match="immutable"):
        report.save()
    again = generate(team)
    assert again.pk != report.pk
    assert again.figures["decisions"]["accepted"] == 2
    report.refresh_from_db()
    assert report.figures == before
    assert WeeklyReport.objects.count() == 2


def test_the_report_is_emailed_as_html_with_a_csv_to_the_manager_and_both_leaders(
    week_history, team, manager, leaders, on_commit
):
    UserFactory(username="sdr-not-a-recipient", roles=[Role.SDR])
    report = generate(team)
    assert mail.outbox == []  # the caller queues the e-mail
    tasks.send_weekly_report.delay(report.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([manager.email, *(u.email for u in leaders)])
    assert message.subject == "Weekly SLA report · Inside Sales · 2026-W10"
    assert "MQLs delivered: 3" in message.body
    html = message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    assert "Weekly SLA report" in html and "Per SDR" in html and "8-week average" in html
    name, content, mimetype = message.attachments[0]
    assert name == "sla-report-inside-sales-2026-W10.csv" and mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(content)))
    assert rows[0] == ["section", "item", "value", "previous_week", "eight_week_average"]
    assert ["marketing", "mqls_delivered", "3", "1", "0.125"] in rows
    assert ["sales", "breaches", "2", "0", "0.0"] in rows
    report.refresh_from_db()
    assert sorted(report.sent_to) == sorted(message.to)
    assert Notification.objects.filter(kind="report").count() == 3


def test_a_retried_send_does_not_email_twice(week_history, team, manager):
    report = generate(team)
    tasks.send_weekly_report.delay(report.pk)
    services.report_send(report_id=report.pk)
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-03-08 23:00", 0),  # Sunday night
        ("2026-03-09 06:59", 0),  # Monday before 07:00
        ("2026-03-09 07:00", 1),
        ("2026-03-11 15:00", 1),  # missed Monday (beat was down): caught up later in the week
    ],
)
def test_the_monday_job_reports_the_previous_week_from_07_00_local_time(week_history, team, manager, now, expected):
    services.report_generate(team_id=team.pk, iso_year=2026, iso_week=9, now=at("2026-03-02 07:00"))
    created = services.reports_due(now=at(now))
    assert len(created) == expected
    if expected:
        assert (created[0].iso_year, created[0].iso_week) == (2026, 10)
        assert services.reports_due(now=at(now)) == []  # the week has its report now


def test_the_monday_job_respects_each_teams_time_zone(week_history, team, manager):
    TeamFactory(name="East Coast", time_zone="America/New_York")
    created = services.reports_due(now=at("2026-03-09 08:00"))  # 03:00 in New York
    assert [r.team.name for r in created] == ["Inside Sales"]
    created = services.reports_due(now=at("2026-03-09 12:00"))  # 07:00 in New York (EST)
    assert [r.team.name for r in created] == ["East Coast"]


def test_the_command_reports_a_chosen_week_and_skips_existing_with_if_missing(week_history, team, manager):
    out = io.StringIO()
    call_command("weekly_report", "--team", "Inside Sales", "--week", "2026-W10", "--no-email", stdout=out)
    assert "report #" in out.getvalue()
    call_command("weekly_report", "--week", "2026-W10", "--if-missing", stdout=out)
    assert "skipped" in out.getvalue()
    assert WeeklyReport.objects.count() == 1


def test_the_command_defaults_to_the_previous_week_of_every_team(week_history, team, manager, time_machine):
    time_machine.move_to(at("2026-03-10 09:00"))
    call_command("weekly_report", "--no-email", stdout=io.StringIO())
    assert WeeklyReport.objects.get().week_label == "2026-W10"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "Nobody"], "No team is called 'Nobody'"),
        (["--week", "2026-14"], "is not an ISO week"),
        (["--week", "2026-W60"], "is not an ISO week"),
    ],
)
def test_the_command_explains_bad_input(team, agreement, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("weekly_report", *args, stdout=io.StringIO())


def test_a_week_that_has_not_started_cannot_be_reported(team, agreement):
    with pytest.raises(services.SlaError, match="has not started"):
        services.report_generate(team_id=team.pk, iso_year=2026, iso_week=20, now=NOW)


def test_recipients_are_the_manager_and_leaders_once_each(team, manager, leaders):
    both = UserFactory(username="both", roles=[Role.MARKETING, Role.SALES])
    UserFactory(username="noemail", email="", roles=[Role.SALES])
    assert [u.username for u in services.report_recipients(team)] == sorted(
        ["manager", "marketing", "sales", both.username]
    )
