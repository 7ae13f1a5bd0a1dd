"""The few SQL dialect differences the SLA figures need (PostgreSQL and SQLite), in one place.

Builders of ``leads.sql`` fragments for business time over ``sla_businesshour``. An argument is a
``Fragment`` or a piece of SQL written in code (a column such as ``"t.at"``), never a value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from string import Formatter
from typing import Any

from django.db import connection

from leads.sql import Fragment, sql

__all__ = [
    "Sql",
    "bind",
    "cum",
    "fill",
    "greatest",
    "hour",
    "least",
    "param_dt",
    "parse_dt",
    "pg",
    "seconds",
    "text",
]

Sql = Fragment | str
_FORMATTER = Formatter()


def pg() -> bool:
    return connection.vendor == "postgresql"


def text(piece: Sql) -> Fragment:
    """SQL written in code (never input) as a fragment."""
    return piece if isinstance(piece, Fragment) else Fragment(piece)


def bind(value: Any) -> Fragment:
    """One bound value as a fragment that may be used in several places of a statement."""
    return sql("{v}", v=value)


def fill(template: str, values: Mapping[str, Any]) -> Fragment:
    """``sql(template, …)`` with the slots the template names taken from ``values`` (a statement's named parts)."""
    slots = {name for _, name, _, _ in _FORMATTER.parse(template) if name is not None}
    return sql(template, **{name: values[name] for name in slots})


def hour(expr: Sql) -> Fragment:
    """``expr`` (a UTC instant) truncated to its hour, comparable with ``BusinessHour.hour_start``."""
    if pg():
        return sql("(date_trunc('hour', ({e}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')", e=text(expr))
    return sql("strftime('%%Y-%%m-%%d %%H:00:00', {e})", e=text(expr))


def seconds(start: Sql, end: Sql) -> Fragment:
    if pg():
        return sql("EXTRACT(EPOCH FROM (({end}) - ({start})))", start=text(start), end=text(end))
    return sql("((julianday({end}) - julianday({start})) * 86400.0)", start=text(start), end=text(end))


def greatest(a: Sql, b: Sql) -> Fragment:
    return sql("GREATEST({a}, {b})" if pg() else "MAX({a}, {b})", a=text(a), b=text(b))


def least(a: Sql, b: Sql) -> Fragment:
    return sql("LEAST({a}, {b})" if pg() else "MIN({a}, {b})", a=text(a), b=text(b))


def cum(alias: str, instant: Sql) -> Fragment:
    """Business seconds from the hour table's origin to ``instant`` (``alias`` is its hour row)."""
    offset = seconds(f"{alias}.hour_start", instant)
    used = sql("{least} - {alias}.open_from", least=least(f"{alias}.open_to", offset), alias=text(alias))
    return sql("({alias}.cum_seconds + {used})", alias=text(alias), used=greatest("0", used))


def param_dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def parse_dt(value):
    """Raw SQLite rows carry datetimes as text; PostgreSQL returns datetimes, naive where a CTE column
    lost its time zone (SQLite's naive values too): the session runs in UTC, so a naive value is UTC."""
    if value is None:
        return value
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
