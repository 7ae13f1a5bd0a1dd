"""Keep ``sla.Pass`` — every pass of the lifecycle log with its end and business seconds — up to date.

Triggers (migration 0002) queue the lead of every new transition, and of every change to a lead's
team, source, persona or owner, in ``sla_dirtylead`` within the writing transaction. ``refresh``
takes the queue (``DELETE … RETURNING``) and recomputes those leads' passes from
``leads_transition`` in one ``INSERT … SELECT … ON CONFLICT DO UPDATE``. A changed calendar or
hour-table origin (the stored business seconds are relative to it) rebuilds every pass. Refreshes
are serialised by an advisory lock so that an older snapshot can never overwrite a newer one. On
PostgreSQL the same refresh keeps ``sla_rollup`` (see ``sla.rollup``) in step.

Only tasks and commands call ``refresh`` (``sla.tasks.refresh_sla``: every minute from beat, and on
commit after an SDR moves a lead). Pages read ``freshness``: it writes nothing, and says how far
the figures lag (``as_of`` and ``refreshing``) instead of catching up inside a request.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from leads.lifecycle import UNDO_REASON
from leads.sql import Fragment, run, sql
from sla import rollup
from sla import sql as S
from sla.clock import SlaTerms, ensure_hours
from sla.models import PassState

__all__ = ["FiguresPreparing", "Freshness", "freshness", "refresh", "vacuum"]

LOCK_KEY = 0x51A9A55  # pg_advisory_xact_lock key of the pass refresh
PASS_STAGES = ("mql", "sal", "sql", "won")
# Beyond this many dirty leads one full rebuild is cheaper than an id list.
FULL_REBUILD_AT = 200_000


class FiguresPreparing(Exception):
    """The pass table or roll-up is being built by a background task; figures are not available yet."""


@dataclass(frozen=True)
class Freshness:
    """How far the stored passes and roll-up may be trusted, read without writing anything."""

    as_of: dt.datetime | None  # when the last refresh finished
    refreshing: bool  # changes wait in the dirty-lead queue: figures lag behind them until the task runs
    rollup: bool  # sla_rollup is usable (PostgreSQL, built with the current terms)
    stale: frozenset = frozenset()  # roll-up days that lag the passes (figures read those days' passes)
    generations: dict = field(default_factory=dict)  # roll-up day → generation, for the asked span
    build: str = ""  # random id of the last full roll-up build


COLUMNS = (
    "pass_id, lead_id, stage, start_at, start_owner_id, grade, version_id, team_id, source, persona_id, owner_id,"
    " end_id, end_at, end_to_stage, end_actor_id, end_owner_id, end_reason_code, calendar_key, start_cum, end_cum"
)


def _counts(alias: str) -> Fragment:
    """Whether the transition aliased ``alias`` counts for the SLA: neither an undo nor a move undone.

    An SDR may take an action back within seconds (``leads.lifecycle.undo``, reason ``undo``): the
    action and its undo are then read as if neither happened, so the pass they interrupted goes on.
    A move is undone when the lead's very next transition is an undo (one probe of
    ``transition_lead_at_idx``).
    """
    a = S.text(alias)
    return sql(
        "{a}.reason_code <> {undo} AND COALESCE((SELECT u.reason_code FROM leads_transition u"
        " WHERE u.lead_id = {a}.lead_id AND (u.at, u.id) > ({a}.at, {a}.id) ORDER BY u.at, u.id LIMIT 1), '')"
        " <> {undo}",
        a=a,
        undo=UNDO_REASON,
    )


def _upsert(terms: SlaTerms, lead_ids: list[int] | None) -> None:
    """Recompute the passes of ``lead_ids`` (every lead when ``None``) from the log.

    Each pass's next transition is one probe of ``transition_lead_at_idx`` (lead, at, id); the
    lead's transitions come from the same index, and both business-time lookups are equality
    joins on the unique ``sla_businesshour_unique`` (calendar_key, hour_start).
    """
    stages = S.text(", ".join(f"'{s}'" for s in PASS_STAGES))
    key = S.bind(terms.key)
    if lead_ids is None:
        lead_filter = Fragment("")
    elif S.pg():
        lead_filter = sql(" AND t.lead_id = ANY({ids})", ids=lead_ids)
    else:
        lead_filter = sql(" AND t0.lead_id IN (SELECT value FROM json_each({ids}))", ids=json.dumps(lead_ids))
    if S.pg():
        source = sql(
            """
          FROM leads_transition t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN LATERAL (
            SELECT x.id, x.at, x.to_stage, x.actor_id, x.owner_id, x.reason_code FROM leads_transition x
            WHERE x.lead_id = t.lead_id AND (x.at, x.id) > (t.at, t.id) AND {counts_x}
            ORDER BY x.at, x.id LIMIT 1) n ON TRUE""",
            counts_x=_counts("x"),
        )
        # Historical transitions (a past lead's imported path) never start an SLA pass.
        where = sql(
            "t.to_stage IN ({stages}) AND NOT t.historical AND {counts_t}{lead_filter}",
            stages=stages,
            counts_t=_counts("t"),
            lead_filter=lead_filter,
        )
    else:
        source = sql(
            """
          FROM (SELECT t0.*, (SELECT x.id FROM leads_transition x
                               WHERE x.lead_id = t0.lead_id AND (x.at, x.id) > (t0.at, t0.id) AND {counts_x}
                               ORDER BY x.at, x.id LIMIT 1) AS next_id
                FROM leads_transition t0
                WHERE t0.to_stage IN ({stages}) AND NOT t0.historical AND {counts_t0}{lead_filter}) t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN leads_transition n ON n.id = t.next_id""",
            stages=stages,
            counts_x=_counts("x"),
            counts_t0=_counts("t0"),
            lead_filter=lead_filter,
        )
        where = sql("t.to_stage IN ({stages})", stages=stages)
    updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in COLUMNS.split(",")[1:])
    statement = sql(
        """
        INSERT INTO sla_pass ({columns})
        SELECT t.id, t.lead_id, t.to_stage, t.at, t.owner_id, COALESCE(NULLIF(t.grade, ''), 'D'),
               t.agreement_version_id, l.team_id, l.source, l.persona_id, l.owner_id,
               n.id, n.at, n.to_stage, n.actor_id, n.owner_id, n.reason_code, {key},
               {start_cum}, CASE WHEN n.id IS NULL THEN NULL ELSE {end_cum} END
        {source}
          JOIN sla_businesshour hs ON hs.calendar_key = {key} AND hs.hour_start = {start_hour}
          LEFT JOIN sla_businesshour he ON he.calendar_key = {key} AND he.hour_start = {end_hour}
        WHERE {where}
        ON CONFLICT (pass_id) DO UPDATE SET {updates}""",
        columns=S.text(COLUMNS),
        key=key,
        start_cum=S.cum("hs", "t.at"),
        end_cum=S.cum("he", "n.at"),
        source=source,
        start_hour=S.hour("t.at"),
        end_hour=S.hour("n.at"),
        where=where,
        updates=S.text(updates),
    )
    run(statement, fetch=False)


def _forget(lead_ids: list[int]) -> None:
    """Drop the stored passes of ``lead_ids`` that no longer start one (their move was undone since).

    Only those rows: every deleted pass marks its days stale for the roll-up (migration 0004).
    Indexes ``sla_pass_lead_idx`` and the transition's primary key.
    """
    if S.pg():
        ids = sql("m.lead_id = ANY({ids})", ids=lead_ids)
    else:
        ids = sql("m.lead_id IN (SELECT value FROM json_each({ids}))", ids=json.dumps(lead_ids))
    run(
        sql(
            "DELETE FROM sla_pass WHERE pass_id IN (SELECT m.pass_id FROM sla_pass m"
            " JOIN leads_transition t ON t.id = m.pass_id WHERE {ids} AND NOT ({counts}))",
            ids=ids,
            counts=_counts("t"),
        ),
        fetch=False,
    )


def _lock() -> None:
    """Serialise refreshes (transaction-scoped advisory lock; no table lock, readers never wait)."""
    if S.pg():
        run(sql("SELECT pg_advisory_xact_lock({key})", key=LOCK_KEY))


def _empty() -> None:
    """Forget every pass and queued lead before a full rebuild."""
    run(Fragment("DELETE FROM sla_dirtylead"), fetch=False)
    run(Fragment("DELETE FROM sla_pass"), fetch=False)


def _claim(limit: int | None) -> list[int]:
    """Take dirty leads off the queue (oldest first by the primary key), at most ``limit``."""
    if limit is None:
        rows = run(Fragment("DELETE FROM sla_dirtylead RETURNING lead_id"))
    else:
        rows = run(
            sql(
                "DELETE FROM sla_dirtylead WHERE id IN (SELECT id FROM sla_dirtylead ORDER BY id LIMIT {n})"
                " RETURNING lead_id",
                n=limit,
            )
        )
    return sorted({row[0] for row in rows})


def _rebuild(terms: SlaTerms, origin: dt.datetime, now: dt.datetime) -> int:
    _empty()
    _upsert(terms, None)
    PassState.objects.all().delete()
    PassState.objects.create(calendar_key=terms.key, hours_origin=origin, built_at=now, refreshed_at=now)
    if S.pg():
        run(Fragment("ANALYZE sla_pass"), fetch=False)
        rollup.rebuild_all(terms, origin=origin, now=now)
    return -1


def vacuum() -> None:
    """After a full build: set the visibility map so open passes come from index-only scans.

    Without it the planner sees no all-visible page and reads open MQLs with a sequential scan of
    the whole pass table (~0.5 s at 1 M leads). VACUUM cannot run inside a transaction, so this is
    for the command and the tasks, which run in autocommit.
    """
    if S.pg() and not connection.in_atomic_block:
        run(Fragment("VACUUM (ANALYZE) sla_pass"), fetch=False)
        run(Fragment("VACUUM (ANALYZE) sla_rollup"), fetch=False)


def refresh(
    *, terms: SlaTerms, now: dt.datetime | None = None, leads: int | None = None, days: int | None = None
) -> int:
    """Bring the pass table and the roll-up up to date; the number of leads recomputed (-1 after a rebuild).

    ``leads`` and ``days`` bound the work of one run (dirty leads claimed, stale roll-up days
    re-aggregated); what is left stays queued or stale for the next run and figures stay exact.
    """
    now = now or timezone.now()
    origin = ensure_hours(terms, now=now)
    with transaction.atomic():
        _lock()
        state = PassState.objects.first()
        if state is None or state.calendar_key != terms.key or state.hours_origin != origin:
            return _rebuild(terms, origin, now)
        claimed = _claim(leads)
        if len(claimed) > FULL_REBUILD_AT:
            return _rebuild(terms, origin, now)
        use_rollup = rollup.usable(state, terms, origin)
        if claimed:
            before = rollup.days_of_leads(terms, claimed) if use_rollup else set()
            _forget(claimed)
            _upsert(terms, claimed)
            if use_rollup:
                rollup.mark_stale(before | rollup.days_of_leads(terms, claimed))
        if S.pg():
            if not use_rollup:
                rollup.rebuild_all(terms, origin=origin, now=now)
            else:
                stale, _ = rollup.stale_days(None)
                ordered = sorted(stale, reverse=True)  # recent days first: they are the ones people look at
                rollup.rebuild_days(terms, ordered if days is None else ordered[:days], now=now)
        PassState.objects.filter(pk=state.pk).update(refreshed_at=now)
        return len(claimed)


def _coverage(key: str) -> tuple:
    """The hour table's first and last hour for ``key`` (index ``sla_businesshour_unique``) and
    whether any lead waits in the dirty-lead queue, in one read."""
    row = run(
        sql(
            "SELECT (SELECT MIN(hour_start) FROM sla_businesshour WHERE calendar_key = {key}),"
            " (SELECT MAX(hour_start) FROM sla_businesshour WHERE calendar_key = {key}),"
            " EXISTS (SELECT 1 FROM sla_dirtylead)",
            key=key,
        )
    )[0]
    return S.parse_dt(row[0]), S.parse_dt(row[1]), bool(row[2])


def _any_transition() -> bool:
    """Whether the log holds anything at all (one probe of the transition table's primary key)."""
    return bool(run(Fragment("SELECT EXISTS (SELECT 1 FROM leads_transition)"))[0][0])


def freshness(*, terms: SlaTerms, now: dt.datetime, span: tuple | None = None) -> Freshness:
    """What the stored passes and roll-up can answer for, read without writing (pages call this).

    Raises ``FiguresPreparing`` when the passes were never built for these terms, or the hour table
    no longer matches them: only the background refresh may build them. ``span`` (first and last
    local day) asks for the roll-up days' generations in that span.
    """
    state = PassState.objects.first()
    if state is None and not _any_transition():
        return Freshness(as_of=None, refreshing=False, rollup=False)  # a new installation: nothing to count yet
    first, last, dirty = _coverage(terms.key)
    hour_now = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    if (
        state is None
        or state.calendar_key != terms.key
        or first is None
        or state.hours_origin != first
        or last < hour_now
    ):
        raise FiguresPreparing("The SLA figures are being prepared; this takes a few minutes.")
    as_of = state.refreshed_at or state.built_at
    if not rollup.usable(state, terms, first):
        return Freshness(as_of=as_of, refreshing=dirty, rollup=False)
    stale, generations = rollup.stale_days(span)
    return Freshness(
        as_of=as_of,
        refreshing=dirty,
        rollup=True,
        stale=frozenset(stale),
        generations=generations,
        build=state.rollup_build,
    )
