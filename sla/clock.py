"""The SLA clock: which calendar and targets apply, and the hour table that lets SQL measure business time.

Business time is measured in SQL with the ``sla.BusinessHour`` lookup table (one row per UTC
hour: business seconds before the hour and the business part of the hour). Elapsed business time
between two instants is ``cum(end) - cum(start)``, where each ``cum`` is one equality join on the
hour — no per-row Python, and the same answer as ``BusinessCalendar.hours_between`` (tests compare
them across weekends, holidays, overnight gaps and DST changes).

The table is derived from the calendar alone: it is built on first use, extended forward as time
passes, rebuilt from scratch when it must reach further back, and keyed by a hash of the calendar
terms so that a changed calendar never mixes with an old one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from alignment.calendar import BusinessCalendar, working_windows
from alignment.models import AgreementVersion
from alignment.spec import GRADES, default_spec
from sla.models import BusinessHour
from sla.sql import parse_dt

__all__ = [
    "SlaTerms",
    "calendar_key",
    "current_terms",
    "ensure_hours",
    "hour_rows",
]

HOUR = dt.timedelta(hours=1)
# How far the table reaches past "now", and how far back it starts at least.
FORWARD_MARGIN = dt.timedelta(days=60)
BACKWARD_MARGIN = dt.timedelta(days=7)


def calendar_key(calendar: dict) -> str:
    canonical = json.dumps(calendar or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SlaTerms:
    """The SLA terms figures are measured against: the active agreement's, or the defaults."""

    version_id: int | None
    version_number: int | None
    calendar_spec: dict
    calendar: BusinessCalendar
    key: str
    response_hours: dict[str, float]
    followup_days: int
    followup_attempts: int
    monthly_quota: int
    # Response targets of every published version, so a pass is held to the terms in force.
    targets_by_version: dict[int, dict[str, float]]


def _sla_section(spec: dict) -> dict:
    return (spec or {}).get("sla") or {}


def current_terms() -> SlaTerms:
    """Terms of the active agreement (two queries); the default spec's when none is active yet."""
    active = AgreementVersion.objects.active()
    spec = active.spec if active else default_spec()
    sla = _sla_section(spec)
    calendar_spec = sla.get("calendar") or {}
    published = AgreementVersion.objects.filter(
        status__in=[AgreementVersion.Status.ACTIVE, AgreementVersion.Status.RETIRED]
    ).values_list("id", "spec__sla__response_hours")
    targets_by_version = {
        vid: {g: float(h) for g, h in (hours or {}).items() if h is not None and g in GRADES}
        for vid, hours in published
    }
    followup = sla.get("followup") or {}
    return SlaTerms(
        version_id=active.id if active else None,
        version_number=active.number if active else None,
        calendar_spec=calendar_spec,
        calendar=BusinessCalendar.from_spec(calendar_spec),
        key=calendar_key(calendar_spec),
        response_hours={g: float(h) for g, h in (sla.get("response_hours") or {}).items() if h is not None},
        followup_days=int(followup.get("days") or 5),
        followup_attempts=int(followup.get("attempts") or 3),
        monthly_quota=int(sla.get("monthly_mql_quota") or 0),
        targets_by_version=targets_by_version,
    )


def _floor_hour(value: dt.datetime) -> dt.datetime:
    value = value.astimezone(dt.UTC)
    return value.replace(minute=0, second=0, microsecond=0)


def hour_rows(
    calendar: BusinessCalendar, key: str, first_hour: dt.datetime, last_hour: dt.datetime, cum_start: int = 0
) -> list[BusinessHour]:
    """Rows for every UTC hour from ``first_hour`` to ``last_hour`` inclusive, cumulating from ``cum_start``."""
    pad = dt.timedelta(days=2)
    windows = working_windows(calendar, (first_hour - pad).date(), (last_hour + pad).date())
    rows: list[BusinessHour] = []
    cum = cum_start
    i = 0
    hour = first_hour
    while hour <= last_hour:
        end = hour + HOUR
        while i < len(windows) and windows[i][1] <= hour:
            i += 1
        open_from = open_to = 0
        parts = []
        j = i
        while j < len(windows) and windows[j][0] < end:
            lo, hi = max(windows[j][0], hour), min(windows[j][1], end)
            if lo < hi:
                parts.append((int((lo - hour).total_seconds()), int((hi - hour).total_seconds())))
            j += 1
        if parts:
            if len(parts) > 1:
                raise ValueError("Business hours must leave at least an hour between closing and opening.")
            open_from, open_to = parts[0]
        rows.append(
            BusinessHour(calendar_key=key, hour_start=hour, cum_seconds=cum, open_from=open_from, open_to=open_to)
        )
        cum += open_to - open_from
        hour = end
    return rows


def _lock(key: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(key[:15], 16)])


def _needed(now: dt.datetime, since: dt.datetime | None, first_at: dt.datetime | None):
    candidates = [now] + [v for v in (first_at, since) if v is not None]
    need_first = _floor_hour(min(candidates) - BACKWARD_MARGIN)
    return need_first, _floor_hour(now + dt.timedelta(days=1)), _floor_hour(now + FORWARD_MARGIN)


def _coverage(key: str) -> tuple[dt.datetime | None, dict]:
    """The first transition and the hour table's first and last hour, in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            # Imported history never enters SLA: the hour table starts at the first live transition.
            "SELECT (SELECT MIN(at) FROM leads_transition WHERE NOT historical),"
            " (SELECT MIN(hour_start) FROM sla_businesshour WHERE calendar_key = %s),"
            " (SELECT MAX(hour_start) FROM sla_businesshour WHERE calendar_key = %s)",
            [key, key],
        )
        first_at, first, last = (parse_dt(v) for v in cursor.fetchone())
    return first_at, {"first": first, "last": last}


def _have(key: str) -> dict:
    return BusinessHour.objects.filter(calendar_key=key).aggregate(first=Min("hour_start"), last=Max("hour_start"))


def ensure_hours(terms: SlaTerms, *, now: dt.datetime | None = None, since: dt.datetime | None = None) -> dt.datetime:
    """Make sure the hour table covers every transition (and ``since``) and reaches past ``now``.

    Returns the table's first hour (its origin). Two index-only queries when it already covers
    everything; builds or extends the table under a lock otherwise.
    """
    now = now or timezone.now()
    first_at, have = _coverage(terms.key)
    need_first, need_last, target_last = _needed(now, since, first_at)
    if have["first"] is not None and have["first"] <= need_first and have["last"] >= need_last:
        return have["first"]
    with transaction.atomic():
        _lock(terms.key)
        have = _have(terms.key)  # another process may have built it while we waited
        if have["first"] is None or have["first"] > need_first:
            # Reaching further back shifts every cumulative value: rebuild the key's rows at once.
            BusinessHour.objects.filter(calendar_key=terms.key).delete()
            last = max(target_last, have["last"] or target_last)
            BusinessHour.objects.bulk_create(hour_rows(terms.calendar, terms.key, need_first, last), batch_size=5000)
        elif have["last"] < need_last:
            tail = BusinessHour.objects.get(calendar_key=terms.key, hour_start=have["last"])
            rows = hour_rows(
                terms.calendar,
                terms.key,
                have["last"] + HOUR,
                target_last,
                cum_start=tail.cum_seconds + tail.open_to - tail.open_from,
            )
            BusinessHour.objects.bulk_create(rows, batch_size=5000)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE sla_businesshour")  # fresh statistics: figures join every pass to it
        return _have(terms.key)["first"]
