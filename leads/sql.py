"""SQL fragments: statement text plus named parameters that compose without collisions.

Raw SQL is kept for the statements where the ORM cannot reach the speed we need (set-based
rescoring, COPY, the SLA figures). Every such statement is built from ``Fragment`` values:

    lead = table(Lead)
    where = sql("stage = {stage} AND score >= {floor}", stage="mql", floor=threshold)
    stmt = sql("UPDATE {lead} SET grade = {grade} WHERE {where}", lead=lead, grade="A", where=where)
    run(stmt)

A plain value becomes a bound parameter with a name no other fragment uses, so fragments built in
different functions can be nested freely; a ``Fragment`` is inlined with its parameters; table and
column names come from ``_meta`` and are quoted by the database backend. Nothing a caller passes as a
value is ever spliced into the text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from string import Formatter
from typing import Any

from django.db import connection

__all__ = ["Fragment", "column", "ident", "join", "query", "run", "sql", "table"]

_names = itertools.count(1)
_FORMATTER = Formatter()


@dataclass(frozen=True)
class Fragment:
    """SQL text with ``%(name)s`` placeholders and the values they name."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # for logging and tests; never executed as such
        return self.text


def _param(value: Any) -> Fragment:
    name = f"p{next(_names)}"
    return Fragment(f"%({name})s", {name: value})


def _as_fragment(value: Any) -> Fragment:
    return value if isinstance(value, Fragment) else _param(value)


def sql(template: str, /, **parts: Any) -> Fragment:
    """Fill ``{name}`` slots of ``template``: a ``Fragment`` is inlined, anything else is bound.

    A literal ``%`` in the template must be written ``%%`` (the DB-API paramstyle), braces ``{{ }}``.
    """
    text: list[str] = []
    params: dict[str, Any] = {}
    used: set[str] = set()
    for literal, name, spec, conversion in _FORMATTER.parse(template):
        text.append(literal)
        if name is None:
            continue
        if spec or conversion or name not in parts:
            raise KeyError(f"SQL slot {{{name}}} has no value")
        used.add(name)
        piece = _as_fragment(parts[name])
        text.append(piece.text)
        params.update(piece.params)
    unused = set(parts) - used
    if unused:
        raise KeyError(f"SQL parts not used by the template: {sorted(unused)}")
    return Fragment("".join(text), params)


def join(separator: str, pieces: Iterable[Any]) -> Fragment:
    """Join fragments (or bound values) with a literal separator such as ``", "`` or ``" AND "``."""
    parts = [_as_fragment(p) for p in pieces]
    params: dict[str, Any] = {}
    for part in parts:
        params.update(part.params)
    return Fragment(separator.join(p.text for p in parts), params)


def ident(name: str) -> Fragment:
    """A quoted identifier (a CTE, alias or column name written in code, never from input)."""
    return Fragment(connection.ops.quote_name(name))


def table(model) -> Fragment:
    """A model's table, named from ``_meta``."""
    return ident(model._meta.db_table)


def column(model, field_name: str) -> Fragment:
    """A model field's column, named from ``_meta``."""
    return ident(model._meta.get_field(field_name).column)


def run(statement: Fragment, *, fetch: bool = True) -> list[tuple]:
    """Execute ``statement`` on the default connection; rows when the statement returns any."""
    with connection.cursor() as cursor:
        cursor.execute(statement.text, dict(statement.params))
        return cursor.fetchall() if fetch and cursor.description else []


_PLACEHOLDER = re.compile(r"%%|%s")


def query(queryset) -> Fragment:
    """A queryset's compiled SQL as a fragment, its positional parameters bound by name, so that an
    ORM-built SELECT (filters, annotations) can be nested in a hand-written statement."""
    text, params = queryset.query.sql_with_params()
    values = iter(params)
    bound: dict[str, Any] = {}

    def bind(match: re.Match) -> str:
        if match.group() == "%%":
            return "%%"
        piece = _param(next(values))
        bound.update(piece.params)
        return piece.text

    return Fragment(_PLACEHOLDER.sub(bind, text), bound)
