"""Daily roll-ups of the ended passes (``sla_rollup``, PostgreSQL): what keeps the dashboard cheap at 1 M leads.

Why
---
A dashboard request needs the passes of its range and of 12 trend weeks (~115,000 at a million
leads) and the report needs 12 weeks for its comparisons. Read row by row from ``sla.Pass`` that
costs seconds. An *ended* pass (one with a next transition) never changes its figures unless its
lead changes — and every such change goes through the dirty-lead queue — so the ended passes are
summed once per day (local date in the calendar's time zone) × team × source × persona × SDR ×
end kind × reason, with the exact sorted business seconds of the acted passes (``vals``) so that
medians and p90 over any set of days are still the exact nearest-rank values.

What stays live
---------------
Open passes depend on *now* (their business time keeps running): figures always read them from
``sla_pass`` through the covering index ``sla_pass_open_cover_idx``. Days marked stale in
``sla.RollupDay`` and the slivers of a range that do not cover whole calendar days (a team in
another time zone) are read from ``sla_pass`` too, so a figure is exact whatever the roll-up's
state. When the terms that targets, buckets and business time depend on change (``fingerprint``),
the roll-up is unusable until rebuilt and every figure falls back to the passes.

Maintenance
-----------
``sla.passes.refresh`` (the task ``sla.tasks.refresh_sla``, never a web request) claims dirty
leads, rewrites their passes, and hands the days those passes started on (before and after) to
``mark_stale``; ``rebuild_days`` then re-aggregates whole days (delete + one ``INSERT … SELECT …
GROUP BY``). Days it leaves stale are read from the passes meanwhile. ``rebuild_all`` (command
``sla_refresh``) builds everything from scratch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

from django.db import connection
from django.utils import timezone

from leads.sql import Fragment, run, sql
from sla import sql as S
from sla.clock import SlaTerms
from sla.models import PassState, RollupDay
from sla.pass_sql import DISTRIBUTION_EDGES, day_expr, pass_rows
from sla.pass_sql import run as run_reporting

__all__ = [
    "BUCKETS",
    "days_of_leads",
    "fingerprint",
    "mark_stale",
    "rebuild_all",
    "rebuild_days",
    "stale_days",
    "usable",
]

BUCKETS = len(DISTRIBUTION_EDGES) + 1


def fingerprint(terms: SlaTerms, origin: dt.datetime) -> str:
    """Everything a rolled-up figure depends on besides the passes themselves."""
    payload = {
        "calendar": terms.key,
        "origin": origin.isoformat(),
        "tz": str(terms.calendar.tz),
        "targets": {str(k): v for k, v in sorted(terms.targets_by_version.items())},
        "response": terms.response_hours,
        "followup": terms.followup_days * terms.calendar.hours_per_day * 3600,
        "followup_attempts": terms.followup_attempts,
        "edges": DISTRIBUTION_EDGES,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _build_statement(terms: SlaTerms, *, days: list[dt.date] | None, now: dt.datetime) -> Fragment:
    """``INSERT INTO sla_rollup … SELECT … GROUP BY`` for ``days`` (all days when ``None``).

    Reads ``sla_pass`` by ``sla_pass_stage_start_idx``: one range scan on (stage, start_at) per day.
    """
    if days is None:
        window = Fragment("")
    else:
        # One index range scan on (stage, start_at) per day: the day's local midnights in UTC.
        tz = S.bind(str(terms.calendar.tz))
        window = sql(
            " AND EXISTS (SELECT 1 FROM unnest({days}::date[]) dd"
            " WHERE m.start_at >= (dd::timestamp AT TIME ZONE {tz})"
            " AND m.start_at < ((dd + 1)::timestamp AT TIME ZONE {tz}))",
            days=list(days),
            tz=tz,
        )
    mql = pass_rows(terms, where=sql("m.stage = 'mql' AND m.end_id IS NOT NULL{w}", w=window), stage="mql", now=now)
    sal = pass_rows(terms, where=sql("m.stage = 'sal' AND m.end_id IS NOT NULL{w}", w=window), stage="sal", now=now)
    funnel = pass_rows(
        terms, where=sql("m.stage IN ('sal', 'sql', 'won'){w}", w=window), stage="funnel", now=now, timed=False
    )
    buckets = ", ".join(f"SUM(CASE WHEN acted = 1 AND bucket = {i} THEN 1 ELSE 0 END)" for i in range(BUCKETS))
    zeros = ", ".join("0" for _ in range(BUCKETS))
    columns = (
        "day, section, team_id, source, persona_id, sdr_id, kind, reason_code, n, breached, within, "
        + ", ".join(f"b{i}" for i in range(BUCKETS))
        + ", b_none, vals"
    )
    return sql(
        """
        INSERT INTO sla_rollup ({columns})
        SELECT day, 'mql', team_id, source, persona_id, sdr_id, end_kind, reason_key, COUNT(*), SUM(breached),
               SUM(acted * (1 - breached)), {buckets},
               SUM(CASE WHEN acted = 1 AND bucket = -1 THEN 1 ELSE 0 END),
               array_agg(elapsed_seconds ORDER BY elapsed_seconds) FILTER (WHERE acted = 1)
        FROM ({mql}) x
        GROUP BY day, team_id, source, persona_id, sdr_id, end_kind, reason_key
        UNION ALL
        SELECT day, 'sal', team_id, source, persona_id, sdr_id, '', '', COUNT(*), SUM(breached), SUM(1 - breached),
               {zeros}, 0, NULL
        FROM ({sal}) x
        GROUP BY day, team_id, source, persona_id, sdr_id
        UNION ALL
        SELECT day, 'funnel_' || stage, team_id, source, persona_id, start_owner_id, '', '', COUNT(*), 0, 0,
               {zeros}, 0, NULL
        FROM ({funnel}) x
        GROUP BY day, stage, team_id, source, persona_id, start_owner_id""",
        columns=S.text(columns),
        buckets=S.text(buckets),
        zeros=S.text(zeros),
        mql=mql,
        sal=sal,
        funnel=funnel,
    )


def _delete_all() -> None:
    """Empty the roll-up (a full rebuild follows in the same transaction)."""
    run(Fragment("DELETE FROM sla_rollup"), fetch=False)


def _delete_days(days: list[dt.date]) -> None:
    """Drop whole days' rows before re-aggregating them; index ``sla_rollup_day_idx`` (day, section)."""
    run(sql("DELETE FROM sla_rollup WHERE day = ANY({days}::date[])", days=days), fetch=False)


def _analyze() -> None:
    run(Fragment("ANALYZE sla_rollup"), fetch=False)


def rebuild_all(terms: SlaTerms, *, origin: dt.datetime, now: dt.datetime | None = None) -> None:
    """Every roll-up row from scratch (caller holds the refresh lock, inside a transaction)."""
    now = now or timezone.now()
    _delete_all()
    RollupDay.objects.all().delete()
    run_reporting(_build_statement(terms, days=None, now=now))
    _analyze()
    PassState.objects.update(rollup_key=fingerprint(terms, origin), rollup_built_at=now, rollup_build=uuid.uuid4().hex)


def days_of_leads(terms: SlaTerms, lead_ids: list[int]) -> set[dt.date]:
    """The local days the leads' stored passes start on; index ``sla_pass_lead_idx``."""
    if not lead_ids:
        return set()
    day = day_expr(str(terms.calendar.tz))
    rows = run(sql("SELECT DISTINCT {day} FROM sla_pass m WHERE m.lead_id = ANY({ids})", day=day, ids=lead_ids))
    return {row[0] for row in rows}


def mark_stale(days: set[dt.date]) -> None:
    """Flag days whose roll-up rows no longer match the passes (figures read their passes instead).

    Upserts on the unique index of ``sla_rollupday.day``.
    """
    if not days:
        return
    run(
        sql(
            "INSERT INTO sla_rollupday (day, stale, generation) SELECT d, TRUE, 0 FROM unnest({days}::date[]) d"
            " ON CONFLICT (day) DO UPDATE SET stale = TRUE",
            days=sorted(days),
        ),
        fetch=False,
    )


def _clear_stale(days: list[dt.date]) -> None:
    """Stale flag off and generation up for re-aggregated days; unique index on ``sla_rollupday.day``."""
    run(
        sql(
            "UPDATE sla_rollupday SET stale = FALSE, generation = generation + 1 WHERE day = ANY({days}::date[])",
            days=days,
        ),
        fetch=False,
    )


def rebuild_days(terms: SlaTerms, days: list[dt.date], *, now: dt.datetime | None = None) -> int:
    """Re-aggregate whole days from the passes and clear their stale flag (caller holds the lock)."""
    if not days:
        return 0
    now = now or timezone.now()
    days = sorted(set(days))
    _delete_days(days)
    run_reporting(_build_statement(terms, days=days, now=now))
    _clear_stale(days)
    return len(days)


def stale_days(span: tuple[dt.date, dt.date] | None) -> tuple[set[dt.date], dict[dt.date, int]]:
    """Days whose roll-up lags the passes, and the generations of the days in ``span`` (a read).

    Scans ``sla_rollupday`` (one row per day ever re-aggregated: a few hundred rows).
    """
    in_span = sql(" OR day BETWEEN {a} AND {b}", a=span[0], b=span[1]) if span else Fragment("")
    rows = run(sql("SELECT day, stale, generation FROM sla_rollupday WHERE stale{span}", span=in_span))
    return {day for day, stale, _ in rows if stale}, {day: generation for day, _, generation in rows}


def usable(state: PassState | None, terms: SlaTerms, origin: dt.datetime) -> bool:
    return (
        connection.vendor == "postgresql"
        and state is not None
        and bool(state.rollup_key)
        and state.rollup_key == fingerprint(terms, origin)
    )
