"""Pages that only read never write: dashboard, drill-downs, exports and report pages leave every table as it was."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead, Transition
from sla import services
from sla.models import DirtyLead, WeeklyReport
from tests.sla.conftest import recent, refreshed

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b|\bAS\s*\(\s*(INSERT|UPDATE|DELETE)\b", re.I | re.S)


def _row_changes() -> int:
    """Rows inserted, updated or deleted so far in this transaction, over every table."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
        return int(cursor.fetchone()[0])


@contextmanager
def no_writes():
    statements: list[str] = []

    def spy(execute, sql, params, many, context):
        statements.extend(part for part in str(sql).split(";") if WRITE.search(part))
        return execute(sql, params, many, context)

    before = _row_changes()
    with connection.execute_wrapper(spy):
        yield
    assert statements == []
    assert _row_changes() == before


READ_URLS = [
    reverse("sla:dashboard"),
    reverse("sla:dashboard") + "?source=website",
    reverse("sla:drill") + "?metric=mqls",
    reverse("sla:drill") + "?metric=rejected&reason=bad_fit",
    reverse("sla:drill") + "?metric=open_now",
    reverse("sla:drill") + "?metric=sal",
    reverse("sla:export", args=["funnel"]),
    reverse("sla:export", args=["rejections"]),
    reverse("sla:export", args=["sdrs"]),
]


@pytest.mark.parametrize("url", READ_URLS)
def test_a_read_leaves_every_table_unchanged_even_with_changes_waiting(login, manager, figures_data, url):
    client = login(manager)
    client.get(reverse("sla:dashboard"))  # session and first-request work out of the way
    lead = figures_data[0]
    Lead.objects.filter(pk=lead.pk).update(owner=None)  # a change the refresh task has not seen yet
    assert DirtyLead.objects.exists()
    with no_writes():
        response = client.get(url)
    assert response.status_code == 200
    assert DirtyLead.objects.exists()  # still waiting for the task, not caught up by the page


def test_the_dashboard_says_how_old_the_figures_are_while_a_refresh_is_due(login, manager, figures_data, sdr):
    client = login(manager)
    lead = figures_data[0]
    Transition.objects.create(lead=lead, from_stage="sal", to_stage="sql", at=recent(1), actor=sdr, owner=sdr)
    Lead.objects.filter(pk=lead.pk).update(stage="sql")
    page = client.get(reverse("sla:dashboard"))
    assert page.context["f"]["refreshing"] is True
    assert 'data-testid="refreshing"' in page.content.decode()
    assert page.context["f"]["funnel"][2]["count"] == 0  # not counted until the task runs
    refreshed()
    page = client.get(reverse("sla:dashboard"))
    assert page.context["f"]["refreshing"] is False and page.context["f"]["funnel"][2]["count"] == 1


def test_report_pages_only_read(login, manager, figures_data, team):
    year, week = services.previous_iso_week(now=timezone.now(), tz=timezone.get_current_timezone())
    report = services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)
    client = login(manager)
    client.get(reverse("sla:report_list"))
    for url in (
        reverse("sla:report_list"),
        reverse("sla:report_detail", args=[report.pk]),
        reverse("sla:report_csv", args=[report.pk]),
    ):
        with no_writes():
            assert client.get(url).status_code == 200
    assert WeeklyReport.objects.count() == 1


def test_a_new_installation_shows_empty_figures_without_building_anything(login, manager, agreement):
    client = login(manager)
    client.get(reverse("sla:notification_badge"))  # the session row is written on the first request
    with no_writes():
        response = client.get(reverse("sla:dashboard"))
    assert response.status_code == 200 and response.context["f"]["mql"]["delivered"] == 0
