"""Bulk writes: batching, COPY on PostgreSQL, multi-row INSERT elsewhere.

Two ways in, for two kinds of caller:

* ``insert_rows(model, rows)`` for intake: dicts of field values, ``ON CONFLICT DO NOTHING`` against
  the table's unique indexes, and the rows actually inserted back (who won a race, what is a
  duplicate). Many rows on PostgreSQL go through COPY into a temporary table and one
  ``INSERT … SELECT``.
* ``copy_rows(model, columns, rows)`` for rows known to be new (the demo generator, the lifecycle
  log written with them): tuples COPYed straight into the table.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, DateTimeField, ForeignKey, IntegerField, JSONField, Model

from leads.sql import Fragment, column, ident, join, sql, table

__all__ = ["COPY_MIN_ROWS", "SQL_CHUNK", "batches", "copy_rows", "copy_text", "insert_rows"]

# Rows per statement: keeps every statement under SQLite's 32,766 parameters.
SQL_CHUNK = 1000
# From this many rows on, PostgreSQL gets the rows through COPY into a temporary table and one
# ``INSERT … SELECT``: no per-value parameter quoting in psycopg2 and no 30,000-parameter statement
# to parse — about half the time of multi-row VALUES for an import chunk.
COPY_MIN_ROWS = 200
# Rows per COPY stream: bounds the memory of one buffer.
COPY_BATCH = 50_000
# Bytes psycopg2 reads from the buffer at a time (its default is 8 kB): a stream of an import
# chunk goes in a few reads instead of thousands of calls back into Python.
COPY_READ_SIZE = 8 << 20
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _copy_str(value: Any) -> str:
    return value.translate(_COPY_ESCAPES) if value.__class__ is str else copy_text(value)


def _copy_json(value: Any, encoder=None) -> str:
    return json.dumps(value, cls=encoder).translate(_COPY_ESCAPES)


def _copy_statement(target: Fragment, columns: Fragment) -> str:
    # COPY takes no parameters: the statement is names only, quoted by the backend.
    statement = sql("COPY {target} ({columns}) FROM STDIN", target=target, columns=columns)
    assert not statement.params
    return statement.text


def _copy_int(value: Any) -> str:
    return str(value) if value.__class__ is int else copy_text(value)


def _copy_bool(value: Any) -> str:
    return "t" if value is True else "f" if value is False else copy_text(value)


def _copy_formatter(f) -> Callable[[Any], str]:
    """The COPY text formatter of a non-text column: a plain ``str`` for whole numbers and keys,
    and for date-times one ``isoformat`` per distinct moment (an import chunk shares one "now")."""
    if isinstance(f, BooleanField):
        return _copy_bool
    if isinstance(f, IntegerField | ForeignKey):
        return _copy_int
    if isinstance(f, DateTimeField):
        seen: dict[Any, str] = {}

        def moment(value: Any) -> str:
            text = seen.get(value)
            if text is None:
                text = copy_text(value)
                if len(seen) < 1000:
                    seen[value] = text
            return text

        return moment
    return copy_text


def copy_rows(model: type[Model], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert tuples of database values, in ``columns`` order (column names), as fast as the database allows:
    COPY on PostgreSQL, multi-row INSERT elsewhere. No conflict handling: the rows must be new."""
    if not rows:
        return
    names = join(", ", [ident(name) for name in columns])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            statement = _copy_statement(table(model), names)
            for chunk in batches(rows, COPY_BATCH):
                buffer = io.StringIO()
                for row in chunk:
                    buffer.write("\t".join(map(copy_text, row)))
                    buffer.write("\n")
                buffer.seek(0)
                cursor.copy_expert(statement, buffer, COPY_READ_SIZE)
            return
        for chunk in batches(rows, max(1, SQL_CHUNK * 30 // len(columns))):
            values = join(", ", [sql("({row})", row=join(", ", row)) for row in chunk])
            statement = sql("INSERT INTO {t} ({names}) VALUES {values}", t=table(model), names=names, values=values)
            cursor.execute(statement.text, dict(statement.params))


def _insert_plan(model: type[Model], now: dt.datetime) -> tuple[list, list, dict]:
    """Columns of ``model`` to insert, a cheap adapter per column, and per-column defaults."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not getattr(f, "generated", False)]
    adapters = []
    defaults = {}
    for f in fields:
        if isinstance(f, DateTimeField):
            adapters.append(connection.ops.adapt_datetimefield_value)
        elif isinstance(f, JSONField):
            adapters.append(lambda value, encoder=f.encoder: json.dumps(value, cls=encoder))
        else:
            adapters.append(None)
        auto = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        defaults[f.attname] = now if auto else f.get_default()
    return fields, adapters, defaults


def _returning(model: type[Model], returning: Sequence[str]) -> Fragment:
    if not returning:
        return sql("")
    return sql(" RETURNING {names}", names=join(", ", [column(model, name) for name in returning]))


def insert_rows(
    model: type[Model], rows: Sequence[Mapping[str, Any]], *, now: dt.datetime, returning: Sequence[str] = ()
) -> list[tuple]:
    """``INSERT … ON CONFLICT DO NOTHING [RETURNING …]`` of plain dicts (field attname → value).

    Returns the rows actually inserted, none of the conflicts: ``bulk_create(ignore_conflicts=True)``
    cannot tell them apart, and that difference is what intake needs (who writes the first
    Transition, what is a duplicate). Dicts, not model instances, and no per-value field
    machinery: this is the hot path of a 100,000-row import. The conflicts are those of the
    table's unique indexes.
    """
    if not rows:
        return []
    if connection.vendor == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        return _copy_insert_rows(model, rows, now=now, returning=returning)
    fields, adapters, defaults = _insert_plan(model, now)
    names = join(", ", [column(model, f.name) for f in fields])
    back = _returning(model, returning)
    plan = list(zip([f.attname for f in fields], adapters, strict=True))
    inserted: list[tuple] = []
    for chunk in batches(rows, max(1, min(SQL_CHUNK, 30_000 // len(fields)))):
        values = []
        for row in chunk:
            cells = []
            for name, adapt in plan:
                value = row.get(name, defaults[name])
                cells.append(adapt(value) if adapt is not None and value is not None else value)
            values.append(sql("({cells})", cells=join(", ", cells)))
        statement = sql(
            "INSERT INTO {t} ({names}) VALUES {values} ON CONFLICT DO NOTHING{back}",
            t=table(model),
            names=names,
            values=join(", ", values),
            back=back,
        )
        with connection.cursor() as cursor:
            cursor.execute(statement.text, dict(statement.params))
            if returning:
                inserted.extend(cursor.fetchall())
    return inserted


def _copy_insert_rows(
    model: type[Model], rows: Sequence[Mapping[str, Any]], *, now: dt.datetime, returning: Sequence[str] = ()
) -> list[tuple]:
    """``insert_rows`` on PostgreSQL for many rows: COPY into a session temp table, then one
    ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``. Same result, same race safety (the
    conflict check is the target table's unique indexes, as with VALUES)."""
    fields, _, defaults = _insert_plan(model, now)
    # Only columns some row gives go through COPY; the others are one typed constant in the SELECT.
    given = set().union(*rows)
    copied = [f for f in fields if f.attname in given]
    constant = [f for f in fields if f.attname not in given]
    columns = join(", ", [column(model, f.name) for f in copied])
    # Named after the column list too, so a long-lived connection never reuses a stale shape.
    staging = ident(f"intake_copy_{model._meta.db_table}_{zlib.crc32(columns.text.encode()):08x}")
    plan = []
    for f in copied:
        if isinstance(f, JSONField):
            fmt = functools.partial(_copy_json, encoder=f.encoder)
        elif f.get_internal_type() in ("CharField", "TextField", "EmailField", "SlugField", "URLField"):
            fmt = _copy_str
        else:
            fmt = _copy_formatter(f)
        default = defaults[f.attname]
        plan.append((f.attname, fmt, fmt(default) if default is not None else "\\N"))
    buffer = io.StringIO()
    write = buffer.write
    missing = object()
    for row in rows:
        get = row.get
        write(
            "\t".join(
                [
                    default if (value := get(name, missing)) is missing else "\\N" if value is None else fmt(value)
                    for name, fmt, default in plan
                ]
            )
        )
        write("\n")
    buffer.seek(0)
    targets = join(", ", [column(model, f.name) for f in (*copied, *constant)])
    # The column types are the model's own (``db_type``), never input.
    constants = [
        sql(
            "CAST({value} AS {type})",
            value=f.get_db_prep_save(defaults[f.attname], connection),
            type=Fragment(f.db_type(connection)),
        )
        for f in constant
    ]
    selected = join(", ", [columns, *constants])
    create = sql(
        "CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS SELECT {columns} FROM {t} WITH NO DATA",
        staging=staging,
        columns=columns,
        t=table(model),
    )
    insert = sql(
        "INSERT INTO {t} ({targets}) SELECT {selected} FROM {staging} ON CONFLICT DO NOTHING{back}",
        t=table(model),
        targets=targets,
        selected=selected,
        staging=staging,
        back=_returning(model, returning),
    )
    # No savepoint of its own: a failure here fails the caller's transaction anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # A temp table of this session with the copied columns' types (no constraints, no indexes);
        # emptied at commit, and here in case this transaction used it before.
        cursor.execute(create.text)
        cursor.execute(sql("TRUNCATE {staging}", staging=staging).text)
        cursor.copy_expert(_copy_statement(staging, columns), buffer, COPY_READ_SIZE)
        cursor.execute(insert.text, dict(insert.params))
        return cursor.fetchall() if returning else []
