"""The few SQL dialect differences the SLA figures need (PostgreSQL and SQLite), in one place."""

from __future__ import annotations

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


# Figures statements are many small CTEs whose estimates exceed jit_above_cost: on PostgreSQL the JIT
# compile alone took ~300 ms of a 1 M-lead dashboard, and parallel workers cost more than they save
# on ~50,000 rows; the 4 MB default work_mem sent the 12 weeks' percentile sort to disk. ``SET LOCAL``
# in the same round trip keeps the settings to this statement's transaction.
_REPORTING = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '32MB'; "


def run(sql: str, params: dict, *, reporting: bool = False) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute((_REPORTING if reporting and pg() else "") + sql, params)
        return cursor.fetchall() if cursor.description else []


def parse_dt(value):
    """Raw SQLite rows carry datetimes as text; PostgreSQL returns datetimes, naive where a CTE
    column lost its time zone (the session runs in UTC, so a naive value is UTC)."""
    if value is None:
        return value
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
