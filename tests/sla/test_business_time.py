"""Business-time arithmetic: weekends, holidays, overnight gaps and daylight-saving changes,
in Python (``BusinessCalendar``) and in SQL (the ``sla.BusinessHour`` table) alike."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from alignment.calendar import BusinessCalendar, sla_due_at, working_windows
from alignment.spec import default_spec
from leads.sql import run, sql
from sla import sql as S
from sla.clock import calendar_key, current_terms, ensure_hours
from sla.models import BusinessHour

LONDON = zoneinfo.ZoneInfo("Europe/London")
CAL = BusinessCalendar.from_spec(default_spec()["sla"]["calendar"])  # Mon–Fri 09:00–17:30 London


def london(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LONDON)


def test_due_time_within_one_working_day():
    assert CAL.add_hours(london("2026-03-03 10:00"), 4) == london("2026-03-03 14:00").astimezone(dt.UTC)


def test_due_time_runs_overnight_into_the_next_morning():
    # 16:00 + 4 h: 1.5 h today, 2.5 h from 09:00 tomorrow.
    assert CAL.add_hours(london("2026-03-03 16:00"), 4) == london("2026-03-04 11:30")


def test_due_time_skips_the_weekend():
    assert CAL.add_hours(london("2026-03-06 16:30"), 4) == london("2026-03-09 12:00")


def test_mql_arriving_on_saturday_starts_its_clock_on_monday_morning():
    assert CAL.add_hours(london("2026-03-07 11:00"), 2) == london("2026-03-09 11:00")


def test_mql_arriving_at_night_starts_its_clock_at_opening():
    assert CAL.add_hours(london("2026-03-03 22:00"), 1) == london("2026-03-04 10:00")


def test_due_time_skips_christmas_holidays():
    # Thu 24 Dec 2026 16:00 + 8 h: 1.5 h on the 24th; 25th (holiday), weekend, 28th (holiday) skipped.
    assert CAL.add_hours(london("2026-12-24 16:00"), 8) == london("2026-12-29 15:30")


def test_spring_forward_keeps_the_working_day_at_eight_and_a_half_hours():
    # Clocks go forward on Sunday 29 March 2026; Friday 17:00 + 1 h lands at Monday 09:30 BST.
    due = CAL.add_hours(london("2026-03-27 17:00"), 1)
    assert due == london("2026-03-30 09:30")
    assert due.utcoffset() == dt.timedelta(0) and due.hour == 8  # 09:30 BST is 08:30 UTC


def test_autumn_back_keeps_wall_clock_hours():
    # Clocks go back on Sunday 25 October 2026.
    assert CAL.add_hours(london("2026-10-23 17:00"), 1) == london("2026-10-26 09:30")
    assert CAL.hours_between(london("2026-10-23 09:00"), london("2026-10-26 17:30")) == 17.0


def test_hours_between_is_the_inverse_of_add_hours():
    start = london("2026-03-26 15:10")
    for hours in (0.5, 3, 8.5, 12, 40):
        assert CAL.hours_between(start, CAL.add_hours(start, hours)) == pytest.approx(hours)


def test_hours_between_counts_nothing_outside_business_hours():
    assert CAL.hours_between(london("2026-03-07 08:00"), london("2026-03-08 20:00")) == 0
    assert CAL.hours_between(london("2026-03-03 18:00"), london("2026-03-04 08:59")) == 0


def test_sla_due_at_uses_the_grades_target_and_d_for_blank_grades():
    spec = default_spec()
    start = london("2026-03-03 09:00")
    assert sla_due_at(spec, start, "A") == london("2026-03-03 13:00")
    assert sla_due_at(spec, start, "") == CAL.add_hours(start, 24)


def test_working_windows_follow_local_time_across_dst():
    windows = working_windows(CAL, dt.date(2026, 3, 27), dt.date(2026, 3, 30))
    assert [w[0].hour for w in windows] == [9, 8]  # Friday 09:00 GMT, Monday 09:00 BST = 08:00 UTC
    assert all((close - open_).total_seconds() == 8.5 * 3600 for open_, close in windows)


@pytest.mark.django_db
def test_the_hour_table_measures_business_time_like_the_python_calendar(agreement):
    terms = current_terms()
    ensure_hours(terms, now=london("2026-04-10 12:00"), since=london("2026-03-01 00:00"))
    instants = [
        ("2026-03-06 16:45", "2026-03-09 09:15"),  # weekend
        ("2026-03-27 17:10", "2026-03-30 10:05"),  # spring forward
        ("2026-03-03 22:00", "2026-03-04 09:30"),  # overnight
        ("2026-03-03 09:00", "2026-03-03 17:30"),  # one full day
        ("2026-03-29 00:30", "2026-03-29 03:30"),  # the night the clocks change
    ]
    for start, end in instants:
        a, b = london(start), london(end)
        end_at, start_at, key = S.bind(b), S.bind(a), S.bind(terms.key)
        statement = sql(
            "SELECT ({e}) - ({s}) FROM sla_businesshour he, sla_businesshour hs "
            "WHERE he.calendar_key = {k} AND hs.calendar_key = {k} "
            "AND he.hour_start = {he} AND hs.hour_start = {hs}",
            e=S.cum("he", end_at),
            s=S.cum("hs", start_at),
            k=key,
            he=S.hour(end_at),
            hs=S.hour(start_at),
        )
        seconds = float(run(statement)[0][0])
        assert seconds == pytest.approx(CAL.hours_between(a, b) * 3600), (start, end)


@pytest.mark.django_db
def test_the_hour_table_grows_forward_and_rebuilds_backward_without_gaps(agreement):
    terms = current_terms()
    ensure_hours(terms, now=london("2026-03-10 12:00"))
    first = BusinessHour.objects.filter(calendar_key=terms.key).count()
    ensure_hours(terms, now=london("2026-06-10 12:00"))
    ensure_hours(terms, now=london("2026-06-10 12:00"), since=london("2025-12-01 00:00"))
    hours = list(BusinessHour.objects.filter(calendar_key=terms.key).order_by("hour_start"))
    assert len(hours) > first
    for before, after in zip(hours, hours[1:], strict=False):
        assert after.hour_start - before.hour_start == dt.timedelta(hours=1)
        assert after.cum_seconds == before.cum_seconds + before.open_to - before.open_from
    assert terms.key == calendar_key(default_spec()["sla"]["calendar"])
