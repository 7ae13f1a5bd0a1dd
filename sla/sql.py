"""The few SQL dialect differences the SLA figures need (PostgreSQL and SQLite), in one place.

Text builders for business time over ``sla_businesshour``; statements themselves are run through
``leads.sql`` (``sla.pass_sql.run`` for the figures' reads).
"""

from __future__ import annotations

__all__ = ["cum", "greatest", "hour", "least", "param_dt", "parse_dt", "pg", "seconds"]

import datetime as dt

from django.db import connection


def pg() -> bool:
    return connection.vendor == "postgresql"


def hour(expr: str) -> str:
    """``expr`` (a UTC instant) truncated to its hour, comparable with ``BusinessHour.hour_start``."""
    if pg():
        return f"(date_trunc('hour', ({expr}) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"strftime('%%Y-%%m-%%d %%H:00:00', {expr})"


def seconds(start: str, end: str) -> str:
    if pg():
        return f"EXTRACT(EPOCH FROM (({end}) - ({start})))"
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def greatest(a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if pg() else f"MAX({a}, {b})"


def least(a: str, b: str) -> str:
    return f"LEAST({a}, {b})" if pg() else f"MIN({a}, {b})"


def cum(alias: str, instant: str) -> str:
    """Business seconds from the hour table's origin to ``instant`` (``alias`` is its hour row)."""
    offset = seconds(f"{alias}.hour_start", instant)
    return f"({alias}.cum_seconds + {greatest('0', least(f'{alias}.open_to', offset) + f' - {alias}.open_from')})"


def param_dt(value: dt.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def parse_dt(value):
    """Raw SQLite rows carry datetimes as text; PostgreSQL already returns aware datetimes."""
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
