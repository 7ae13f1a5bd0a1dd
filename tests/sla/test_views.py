"""SLA pages: who may open them, what they show, how many queries they cost."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from alignment.spec import default_spec, reason_choices
from sla import services
from sla.models import Notification, WeeklyReport
from tests.factories import LeadFactory
from tests.sla.conftest import history, recent, refreshed


def dashboard_url(**params):
    from urllib.parse import urlencode

    return reverse("sla:dashboard") + ("?" + urlencode(params) if params else "")


# --- permissions -----------------------------------------------------------------------------------

DASHBOARD_URLS = [
    reverse("sla:dashboard"),
    reverse("sla:drill") + "?metric=mqls",
    reverse("sla:export", args=["funnel"]),
]
REPORT_URLS = [reverse("sla:report_list")]


@pytest.mark.django_db
@pytest.mark.parametrize("url", DASHBOARD_URLS + REPORT_URLS + [reverse("sla:notification_list")])
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("url", DASHBOARD_URLS + REPORT_URLS)
def test_users_without_a_role_are_refused(login, outsider, agreement, url):
    assert login(outsider).get(url).status_code == 403


@pytest.mark.parametrize("url", REPORT_URLS)
def test_sdrs_cannot_open_the_reports_of_the_whole_team(login, sdr, agreement, url):
    assert login(sdr).get(url).status_code == 403


@pytest.mark.parametrize("role", ["manager", "marketing", "sales", "admin_user"])
def test_managers_leaders_and_admins_open_the_dashboard(request, login, agreement, figures_data, role):
    user = request.getfixturevalue(role)
    response = login(user).get(dashboard_url(team=""))
    assert response.status_code == 200
    assert response.context["f"]["mql"]["delivered"] == 6


def test_an_sdr_sees_only_their_own_figures(login, sdr, sdr2, figures_data):
    response = login(sdr2).get(dashboard_url())
    assert response.status_code == 200
    f = response.context["f"]
    assert f["mql"]["delivered"] == 2 and f["decisions"]["accepted"] == 2
    assert [s["name"] for s in f["sdrs"]] == [sdr2.get_full_name()]
    assert "My SLA figures" in response.content.decode()
    drill = login(sdr2).get(reverse("sla:drill") + f"?metric=mqls&sdr={sdr.pk}")
    assert {r["lead"].owner for r in drill.context["rows"]} == {sdr2}


def test_the_manager_lands_on_the_dashboard_after_login(client, manager, agreement):
    client.force_login(manager)
    assert client.get("/").url == reverse("sla:dashboard")


def test_sdrs_find_their_sla_figures_in_the_navigation(login, sdr, agreement):
    items = login(sdr).get(reverse("sla:dashboard")).context["nav_items"]
    assert "SLA" in [i["label"] for i in items] and "Reports" not in [i["label"] for i in items]


# --- dashboard -------------------------------------------------------------------------------------


def test_dashboard_shows_tiles_charts_and_tables(login, manager, figures_data):
    response = login(manager).get(dashboard_url())
    html = response.content.decode()
    f = response.context["f"]
    assert f["decisions"]["acceptance_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert f["reasons"]["rejected"][0]["label"] == "Not our ideal customer"
    for key in ("funnel", "response", "trends", "breaches_by_sdr", "rejections", "recycles"):
        assert f'data-testid="card-{key}"' in html
    assert 'id="sla-chart-data"' in html and "chart.umd.min.js" in html
    assert reverse("sla:drill") + "?" in html


def test_dashboard_costs_a_fixed_number_of_queries(login, manager, figures_data, django_assert_max_num_queries):
    client = login(manager)
    # 16 for the figures, one for the SDR filter's choices, one for the MQLs waiting for an owner (the banner).
    with django_assert_max_num_queries(18):
        assert client.get(dashboard_url()).status_code == 200


def test_filters_narrow_the_figures(login, manager, figures_data):
    client = login(manager)
    assert client.get(dashboard_url(source="website")).context["f"]["mql"]["delivered"] == 3
    dates = {"date_from": recent(4).date().isoformat(), "date_to": timezone.now().date().isoformat()}
    assert client.get(dashboard_url(**dates)).context["f"]["mql"]["delivered"] == 1


def test_a_bad_filter_is_explained_and_the_defaults_are_used(login, manager, figures_data):
    response = login(manager).get(dashboard_url(date_from="2026-05-01", date_to="2026-04-01"), follow=True)
    assert response.status_code == 200
    assert "“From” must be on or before “To”." in [str(m) for m in response.context["messages"]]
    assert response.context["f"]["mql"]["delivered"] == 6
    response = login(manager).get(dashboard_url(date_from="yesterday"))
    assert any("From" in str(m) for m in response.context["messages"])


def test_each_chart_table_downloads_as_csv(login, manager, figures_data):
    response = login(manager).get(reverse("sla:export", args=["funnel"]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0] == "Stage,Count,Conversion from previous stage"
    assert lines[1].startswith("MQL,6")
    assert login(manager).get(reverse("sla:export", args=["nope"])).status_code == 404


# --- drill-down ------------------------------------------------------------------------------------


def test_every_number_drills_down_to_its_leads(login, manager, sdr, figures_data):
    client = login(manager)
    url = reverse("sla:drill")
    rejected = client.get(url + "?metric=rejected&reason=bad_fit")
    assert [r["lead"] for r in rejected.context["rows"]] == [figures_data[3]]
    label = dict(reason_choices(default_spec(), "reject"))["bad_fit"]
    assert [r["reason_label"] for r in rejected.context["rows"]] == [label]
    assert f'<span class="small text-secondary">{label}</span>' in rejected.content.decode()
    assert client.get(url + "?metric=accepted").context["page"].paginator.count == 5
    assert client.get(url + "?metric=sal").context["page"].paginator.count == 5
    assert client.get(url + "?metric=unknown").status_code == 404
    assert client.get(url + "?metric=mqls&week=99").status_code == 404
    # The per-SDR table links each figure to that SDR's leads.
    page = client.get(reverse("sla:dashboard")).content.decode()
    link = re.search(rf'href="([^"]*metric=breached[^"]*&amp;sdr={sdr.pk})"', page)
    assert link, "no breaches link for the SDR"
    assert client.get(link.group(1).replace("&amp;", "&")).status_code == 200


def test_drill_down_lists_are_paginated_and_cheap(login, manager, agreement, sdr, team, django_assert_max_num_queries):
    for i in range(55):
        lead = LeadFactory(owner=sdr, team=team, grade="C")
        history(lead, ("new", recent(2) - dt.timedelta(days=1)), ("mql", recent(2) + dt.timedelta(minutes=i)))
    refreshed()
    client = login(manager)
    first = client.get(reverse("sla:drill") + "?metric=mqls")
    assert len(first.context["rows"]) == 50 and first.context["page"].paginator.count == 55
    with django_assert_max_num_queries(19):
        second = client.get(reverse("sla:drill") + "?metric=mqls&page=2")
    assert len(second.context["rows"]) == 5
    assert 'data-testid="drill-count">55<' in second.content.decode()


# --- reports ---------------------------------------------------------------------------------------


def test_report_archive_and_printable_page(login, manager, figures_data, team, django_assert_max_num_queries):
    year, week = services.previous_iso_week(now=timezone.now(), tz=dt.UTC)
    report = services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)
    client = login(manager)
    with django_assert_max_num_queries(10):
        archive = client.get(reverse("sla:report_list"))
    assert report.week_label in archive.content.decode()
    page = client.get(reverse("sla:report_detail", args=[report.pk]))
    assert page.status_code == 200 and "Weekly SLA report" in page.content.decode()
    csv = client.get(reverse("sla:report_csv", args=[report.pk]))
    assert csv["Content-Type"].startswith("text/csv") and b"mqls_delivered" in csv.content


def test_a_manager_generates_a_report_on_demand(login, manager, figures_data, team, on_commit):
    year, week = services.previous_iso_week(now=timezone.now(), tz=dt.UTC)
    with on_commit(execute=True):
        response = login(manager).post(reverse("sla:report_generate"), {"team": team.pk, "week": f"{year}-W{week:02d}"})
    report = WeeklyReport.objects.get()
    assert response.url == reverse("sla:report_detail", args=[report.pk])
    assert report.generated_by == manager


def test_a_bad_week_is_refused_with_a_message(login, manager, team, agreement):
    response = login(manager).post(reverse("sla:report_generate"), {"team": team.pk, "week": "2026-W77"}, follow=True)
    assert "2026-W77 is not a week of 2026." in response.content.decode()
    assert not WeeklyReport.objects.exists()


def test_sdrs_cannot_generate_reports(login, sdr, team, agreement):
    assert login(sdr).post(reverse("sla:report_generate"), {"team": team.pk, "week": "2026-W10"}).status_code == 403


# --- notifications ---------------------------------------------------------------------------------


def _note(user, **kw):
    return Notification.objects.create(
        user=user, kind="breach", title="SLA breached: someone", url="/leads/", created_at=timezone.now(), **kw
    )


def test_the_badge_counts_unread_notifications(login, sdr, sdr2):
    _note(sdr)
    _note(sdr)
    _note(sdr2)
    response = login(sdr).get(reverse("sla:notification_badge"))
    assert "2 unread" in response.content.decode()


def test_opening_a_notification_marks_it_read_and_follows_its_link(login, sdr, sdr2):
    mine, theirs = _note(sdr), _note(sdr2)
    client = login(sdr)
    response = client.post(reverse("sla:notification_open", args=[mine.pk]))
    assert response.url == "/leads/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert client.post(reverse("sla:notification_open", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_as_read(login, sdr, django_assert_max_num_queries):
    for _ in range(3):
        _note(sdr)
    client = login(sdr)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("sla:notification_list")).context["unread"] == 3
    client.post(reverse("sla:notifications_read_all"))
    assert not Notification.objects.unread().exists()
