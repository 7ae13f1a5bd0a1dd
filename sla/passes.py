"""Keep ``sla.Pass`` — every pass of the lifecycle log with its end and business seconds — up to date.

Triggers (migration 0002) queue the lead of every new transition, and of every change to a lead's
team, source, persona or owner, in ``sla_dirtylead`` within the writing transaction. ``refresh``
runs before any figure is read: it takes the queue (``DELETE … RETURNING``) and recomputes those
leads' passes from ``leads_transition`` in one ``INSERT … SELECT … ON CONFLICT DO UPDATE``. A
changed calendar or hour-table origin (the stored business seconds are relative to it) rebuilds
every pass. Refreshes are serialised by an advisory lock so that an older snapshot can never
overwrite a newer one.

On PostgreSQL the same refresh keeps ``sla_rollup`` (see ``sla.rollup``) in step: the days the
recomputed passes start on are marked stale and re-aggregated. A web request (``bounded=True``)
does a bounded amount of that work — at most ``REQUEST_LEADS`` dirty leads and
``rollup.REQUEST_DAYS`` days, and never a build of the whole history on a large log — and queues
``sla.tasks.refresh_sla`` for the rest; the figures stay exact meanwhile because stale days are
read from the passes. The command ``sla_refresh`` builds everything ahead of time.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from sla import rollup
from sla import sql as S
from sla.clock import SlaTerms, ensure_hours
from sla.models import PassState

LOCK_KEY = 0x51A9A55  # pg_advisory_xact_lock key of the pass refresh
PASS_STAGES = ("mql", "sal", "sql", "won")
# Beyond this many dirty leads one full rebuild is cheaper than an id list.
FULL_REBUILD_AT = 200_000
# A web request recomputes at most this many dirty leads; the task takes the rest.
REQUEST_LEADS = 2_000
# A web request builds the whole pass table itself only for a log this small (estimated rows).
REQUEST_BUILD_TRANSITIONS = 100_000


class FiguresPreparing(Exception):
    """The pass table or roll-up is being built by a background task; figures are not available yet."""


@dataclass(frozen=True)
class Sync:
    """What ``sync`` did and what the figures may rely on."""

    leads: int  # leads recomputed; -1 after a full rebuild
    rollup: bool  # sla_rollup is usable (PostgreSQL, built with the current terms)
    pending: bool  # dirty leads remain for the task (figures lag behind them)
    stale: frozenset = frozenset()  # roll-up days left stale (figures read those days' passes)
    generations: dict = field(default_factory=dict)  # roll-up day → generation, for the asked span
    build: str = ""  # random id of the last full roll-up build


COLUMNS = (
    "pass_id, lead_id, stage, start_at, start_owner_id, grade, version_id, team_id, source, persona_id, owner_id,"
    " end_id, end_at, end_to_stage, end_actor_id, end_owner_id, end_reason_code, calendar_key, start_cum, end_cum"
)


def _upsert_sql(*, by_ids: bool) -> str:
    stages = ", ".join(f"'{s}'" for s in PASS_STAGES)
    if S.pg():
        lead_filter = " AND t.lead_id = ANY(%(ids)s)" if by_ids else ""
        source = """
          FROM leads_transition t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN LATERAL (
            SELECT x.id, x.at, x.to_stage, x.actor_id, x.owner_id, x.reason_code FROM leads_transition x
            WHERE x.lead_id = t.lead_id AND (x.at, x.id) > (t.at, t.id) ORDER BY x.at, x.id LIMIT 1) n ON TRUE"""
    else:
        lead_filter = " AND t0.lead_id IN (SELECT value FROM json_each(%(ids)s))" if by_ids else ""
        source = f"""
          FROM (SELECT t0.*, (SELECT x.id FROM leads_transition x
                               WHERE x.lead_id = t0.lead_id AND (x.at, x.id) > (t0.at, t0.id)
                               ORDER BY x.at, x.id LIMIT 1) AS next_id
                FROM leads_transition t0 WHERE t0.to_stage IN ({stages}){lead_filter}) t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN leads_transition n ON n.id = t.next_id"""
        lead_filter = ""
    updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in COLUMNS.split(",")[1:])
    return f"""
        INSERT INTO sla_pass ({COLUMNS})
        SELECT t.id, t.lead_id, t.to_stage, t.at, t.owner_id, COALESCE(NULLIF(t.grade, ''), 'D'),
               t.agreement_version_id, l.team_id, l.source, l.persona_id, l.owner_id,
               n.id, n.at, n.to_stage, n.actor_id, n.owner_id, n.reason_code, %(key)s,
               {S.cum("hs", "t.at")}, CASE WHEN n.id IS NULL THEN NULL ELSE {S.cum("he", "n.at")} END
        {source}
          JOIN sla_businesshour hs ON hs.calendar_key = %(key)s AND hs.hour_start = {S.hour("t.at")}
          LEFT JOIN sla_businesshour he ON he.calendar_key = %(key)s AND he.hour_start = {S.hour("n.at")}
        WHERE t.to_stage IN ({stages}){lead_filter}
        ON CONFLICT (pass_id) DO UPDATE SET {updates}"""


def _rebuild(terms: SlaTerms, origin: dt.datetime, now: dt.datetime) -> int:
    S.run("DELETE FROM sla_dirtylead", {})
    S.run("DELETE FROM sla_pass", {})
    S.run(_upsert_sql(by_ids=False), {"key": terms.key})
    PassState.objects.all().delete()
    PassState.objects.create(calendar_key=terms.key, hours_origin=origin, built_at=now)
    if S.pg():
        S.run("ANALYZE sla_pass", {})
        rollup.rebuild_all(terms, origin=origin, now=now)
    return -1


def _large_log() -> bool:
    if not S.pg():
        return False  # the embedded SQLite demo is small
    rows = S.run("SELECT reltuples FROM pg_class WHERE oid = 'leads_transition'::regclass", {})
    return bool(rows) and float(rows[0][0] or 0) > REQUEST_BUILD_TRANSITIONS


def _queue_task() -> None:
    """Queue one background refresh (at most one a minute from web requests)."""
    if cache.add("sla:refresh-queued", 1, timeout=60):
        from sla import tasks  # tasks import services, which import this module

        transaction.on_commit(lambda: tasks.refresh_sla.delay())


def vacuum() -> None:
    """After a full build: set the visibility map so open passes come from index-only scans.

    Without it the planner sees no all-visible page and reads open MQLs with a sequential scan of
    the whole pass table (~0.5 s at 1 M leads). VACUUM cannot run inside a transaction, so this is
    for the command and the tasks, which run in autocommit.
    """
    if S.pg() and not connection.in_atomic_block:
        S.run("VACUUM (ANALYZE) sla_pass", {})
        S.run("VACUUM (ANALYZE) sla_rollup", {})


def refresh(*, terms: SlaTerms, now: dt.datetime | None = None) -> int:
    """Bring the pass table (and roll-up) fully up to date; the number of leads recomputed (-1 after a rebuild)."""
    return sync(terms=terms, now=now).leads


def sync(*, terms: SlaTerms, now: dt.datetime | None = None, bounded: bool = False, span: tuple | None = None) -> Sync:
    """Bring the pass table and the roll-up up to date — all of it, or a request's bounded share.

    ``span`` (first and last local day) asks for the roll-up days' generations in that span.
    """
    now = now or timezone.now()
    origin = ensure_hours(terms, now=now)
    with transaction.atomic():
        if S.pg():
            S.run("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
        state = PassState.objects.first()
        if state is None or state.calendar_key != terms.key or state.hours_origin != origin:
            if bounded and _large_log():
                # Queued on this block's commit; raising inside the block would discard it.
                _queue_task()
            else:
                _rebuild(terms, origin, now)
                return _fresh(terms, span, leads=-1)
        else:
            return _sync_dirty(state, terms=terms, origin=origin, now=now, bounded=bounded, span=span)
    raise FiguresPreparing("The SLA figures are being prepared; this takes a few minutes.")


def _sync_dirty(
    state: PassState, *, terms: SlaTerms, origin, now: dt.datetime, bounded: bool, span: tuple | None
) -> Sync:
    """The passes of the leads marked dirty (a request's bounded share, or all), inside ``sync``'s lock."""
    limit = f" WHERE id IN (SELECT id FROM sla_dirtylead ORDER BY id LIMIT {REQUEST_LEADS})" if bounded else ""
    claim = f"DELETE FROM sla_dirtylead{limit} RETURNING lead_id"
    use_rollup = rollup.usable(state, terms, origin)
    if use_rollup:
        # One round trip: the claimed leads, the days left stale by earlier bounded refreshes and
        # the generations of the span's days (cache keys of finished weeks).
        in_span = " OR day BETWEEN %(a)s AND %(b)s" if span else ""
        rows = S.run(
            f"WITH d AS ({claim}) SELECT lead_id, NULL::date, NULL::boolean, NULL::integer FROM d UNION ALL"
            f" SELECT NULL, day, stale, generation FROM sla_rollupday WHERE stale{in_span}",
            {"a": span[0], "b": span[1]} if span else {},
        )
        stale = {row[1] for row in rows if row[1] is not None and row[2]}
        generations = {row[1]: row[3] for row in rows if row[1] is not None}
        rows = [row for row in rows if row[0] is not None]
    else:
        rows, stale, generations = S.run(claim, {}), set(), {}
    claimed = sorted({row[0] for row in rows})
    pending = bounded and len(rows) >= REQUEST_LEADS  # more may wait: the task takes them
    if len(claimed) > FULL_REBUILD_AT:
        _rebuild(terms, origin, now)
        return _fresh(terms, span, leads=-1)
    if claimed:
        ids = claimed if S.pg() else json.dumps(claimed)
        before = rollup.days_of_leads(terms, claimed) if use_rollup else set()
        S.run(_upsert_sql(by_ids=True), {"key": terms.key, "ids": ids})
        if use_rollup:
            changed = before | rollup.days_of_leads(terms, claimed)
            rollup.mark_stale(changed)
            stale |= changed
    if not S.pg():
        return Sync(leads=len(claimed), rollup=False, pending=False)
    if not use_rollup:
        if bounded and _large_log():
            _queue_task()  # figures read the passes until the roll-up is rebuilt
            return Sync(leads=len(claimed), rollup=False, pending=pending)
        rollup.rebuild_all(terms, origin=origin, now=now)
        return _fresh(terms, span, leads=len(claimed), pending=pending)
    ordered = sorted(stale, reverse=True)  # recent days first: they are the ones people look at
    todo = ordered[: rollup.REQUEST_DAYS] if bounded else ordered
    rollup.rebuild_days(terms, todo, now=now)
    for day in todo:
        generations[day] = generations.get(day, 0) + 1
    if len(ordered) > len(todo) or pending:
        _queue_task()
    return Sync(
        leads=len(claimed),
        rollup=True,
        pending=pending,
        stale=frozenset(ordered[len(todo) :]),
        generations=generations,
        build=state.rollup_build,
    )


def _fresh(terms: SlaTerms, span: tuple | None, *, leads: int, pending: bool = False) -> Sync:
    """After a full build: nothing stale, every generation 0, a new build time."""
    if not S.pg():
        return Sync(leads=leads, rollup=False, pending=pending)
    build = PassState.objects.values_list("rollup_build", flat=True).first() or ""
    return Sync(leads=leads, rollup=True, pending=pending, build=build)
