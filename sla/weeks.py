"""Weeks and ranges of the SLA figures: ISO week names and bounds, local midnights, the figures' scope."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

__all__ = [
    "TREND_WEEKS",
    "Scope",
    "iso_week_bounds",
    "iso_week_label",
    "local_midnight",
    "previous_iso_week",
    "week_label",
]

TREND_WEEKS = 12


def local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def iso_week_label(iso_year: int, iso_week: int) -> str:
    """The ISO 8601 name of a week, as the portal writes and reads it: ``2026-W09``."""
    return f"{iso_year}-W{iso_week:02d}"


def iso_week_bounds(iso_year: int, iso_week: int, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    monday = dt.date.fromisocalendar(iso_year, iso_week, 1)
    return local_midnight(monday, tz), local_midnight(monday + dt.timedelta(days=7), tz)


def week_label(start: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """The ISO name of the week an instant falls in, in ``tz``."""
    year, week, _ = start.astimezone(tz).date().isocalendar()
    return iso_week_label(year, week)


def previous_iso_week(*, now: dt.datetime, tz: zoneinfo.ZoneInfo) -> tuple[int, int]:
    year, week, _ = (now.astimezone(tz).date() - dt.timedelta(days=7)).isocalendar()
    return year, week


@dataclass(frozen=True)
class Scope:
    """What the figures cover: a range of instants plus optional team, source, persona and SDR."""

    start: dt.datetime
    end: dt.datetime  # exclusive
    tz: zoneinfo.ZoneInfo
    now: dt.datetime
    team_id: int | None = None
    source: str = ""
    persona_id: int | None = None
    sdr_id: int | None = None

    @property
    def week_starts(self) -> list[dt.datetime]:
        """Monday 00:00 (local) of the 12 ISO weeks ending with the range's last week, plus the end."""
        last_day = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        monday = last_day - dt.timedelta(days=last_day.weekday())
        days = [monday - dt.timedelta(weeks=TREND_WEEKS - 1 - i) for i in range(TREND_WEEKS + 1)]
        return [local_midnight(d, self.tz) for d in days]
