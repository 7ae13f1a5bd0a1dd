"""Business-time arithmetic for the SLA terms of an agreement.

The calendar lives with the agreement (both sides signed it); ``leads`` uses it to stamp a new
MQL's due time and ``sla`` to measure response times. All arithmetic happens in the calendar's
own time zone, day by day, so weekends, holidays, overnight gaps and daylight-saving changes
fall out of plain wall-clock reasoning: a working day of 09:00–17:30 is 8.5 business hours even
on the day the clocks change.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass


def _parse_time(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


@dataclass(frozen=True)
class BusinessCalendar:
    tz: zoneinfo.ZoneInfo
    working_days: frozenset[int]  # Monday = 0
    start: dt.time
    end: dt.time
    holidays: frozenset[dt.date]

    @classmethod
    def from_spec(cls, calendar: dict) -> BusinessCalendar:
        return cls(
            tz=zoneinfo.ZoneInfo(calendar.get("time_zone") or "UTC"),
            working_days=frozenset(int(d) for d in calendar.get("working_days", [0, 1, 2, 3, 4])),
            start=_parse_time(calendar.get("start", "09:00")),
            end=_parse_time(calendar.get("end", "17:00")),
            holidays=frozenset(dt.date.fromisoformat(h) for h in calendar.get("holidays", [])),
        )

    @property
    def hours_per_day(self) -> float:
        return (
            dt.datetime.combine(dt.date.min, self.end) - dt.datetime.combine(dt.date.min, self.start)
        ).seconds / 3600

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """Opening and closing instants of a working day, as aware datetimes in the calendar's zone."""
        opens = dt.datetime.combine(day, self.start, tzinfo=self.tz)
        closes = dt.datetime.combine(day, self.end, tzinfo=self.tz)
        return opens, closes

    def add_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The instant ``hours`` business hours after ``start`` (an aware datetime), in UTC."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not self.working_days or self.hours_per_day <= 0:
            raise ValueError("the calendar has no working time")
        remaining = dt.timedelta(hours=hours)
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # ten years of days: a guard, never reached with a sane calendar
            if self.is_working_day(day):
                opens, closes = self._window(day)
                begin = max(local, opens)
                if begin < closes:
                    available = closes.astimezone(dt.UTC) - begin.astimezone(dt.UTC)
                    if remaining <= available:
                        return (begin.astimezone(dt.UTC) + remaining).astimezone(dt.UTC)
                    remaining -= available
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time.min, tzinfo=self.tz)
        raise ValueError("no business time found within ten years")

    def hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Business hours elapsed from ``start`` to ``end`` (0 when end precedes start)."""
        if end <= start:
            return 0.0
        a, b = start.astimezone(self.tz), end.astimezone(self.tz)
        total = dt.timedelta()
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                opens, closes = self._window(day)
                lo, hi = max(a, opens), min(b, closes)
                if lo < hi:
                    total += hi.astimezone(dt.UTC) - lo.astimezone(dt.UTC)
            day += dt.timedelta(days=1)
        return total.total_seconds() / 3600


def sla_due_at(spec: dict, start: dt.datetime, grade: str) -> dt.datetime | None:
    """When the first SDR action on an MQL of ``grade`` is due under the agreement's SLA terms."""
    terms = spec.get("sla") or {}
    hours = (terms.get("response_hours") or {}).get(grade or "D")
    if hours is None:
        return None
    return BusinessCalendar.from_spec(terms.get("calendar") or {}).add_hours(start, float(hours))


def working_windows(calendar: BusinessCalendar, first: dt.date, last: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every working day's opening and closing instant from ``first`` to ``last`` (inclusive), in UTC.

    Each window is resolved in the calendar's zone on its own day, so a day on which the clocks
    change keeps its wall-clock hours (09:00–17:30 stays 8.5 hours).
    """
    windows = []
    day = first
    while day <= last:
        if calendar.is_working_day(day):
            opens, closes = calendar._window(day)
            if opens < closes:
                windows.append((opens.astimezone(dt.UTC), closes.astimezone(dt.UTC)))
        day += dt.timedelta(days=1)
    return windows
