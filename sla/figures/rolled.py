"""The dashboard statement answered from the daily roll-up (PostgreSQL) plus the passes it cannot answer for.

``plan_for`` decides which whole local days come from ``sla_rollup`` and which instants (stale
days, partial days of another time zone) are read from ``sla_pass``; ``rollup_figures_sql``
returns the same ``(section, k1, k2, n, v1, v2)`` rows as ``sla.figures.statement.figures_sql``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from leads.sql import Fragment, join, sql
from sla import sql as S
from sla.clock import SlaTerms
from sla.figures.statement import branch, count_branches
from sla.pass_sql import (
    DISTRIBUTION_EDGES,
    WARNING_RATIO,
    lead_filters,
    now_cum,
    pass_rows,
    target_case,
    week_index,
)
from sla.sql import fill
from sla.weeks import TREND_WEEKS, Scope, local_midnight

__all__ = ["Plan", "plan_for", "rollup_figures_sql"]


@dataclass(frozen=True)
class Plan:
    """Which roll-up days answer which part of a scope, and which instants must be read from passes.

    A calendar day (local date in the calendar's time zone) is taken from ``sla_rollup`` for the
    range, or for a trend week, only when it lies wholly inside it and is not stale; every other
    instant of the range and the weeks (``raw``) is read from ``sla_pass``.
    """

    days: list[dt.date]  # roll-up days used, with their role:
    in_range: list[int]  # 1 when the day counts for the range
    week_idx: list[int]  # trend week the day counts for, or -1
    raw: list[tuple[dt.datetime, dt.datetime]]  # merged [start, end) pieces read from the passes
    week_rolled: list[bool]  # the trend week is answered by roll-up days alone (its percentiles are cacheable)

    @property
    def range_days(self) -> list[dt.date]:
        return [d for d, r in zip(self.days, self.in_range, strict=True) if r]

    @property
    def week_days(self) -> list[dt.date]:
        return [d for d, w in zip(self.days, self.week_idx, strict=True) if w >= 0]


def _subtract(interval: tuple, spans: list[tuple]) -> list[tuple]:
    start, end = interval
    out = []
    for s, e in sorted(spans):
        if s > start:
            out.append((start, min(s, end)))
        start = max(start, e)
    if start < end:
        out.append((start, end))
    return [(a, b) for a, b in out if a < b]


def _merge(pieces: list[tuple]) -> list[tuple]:
    merged: list[list] = []
    for a, b in sorted(pieces):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def plan_for(scope: Scope, terms: SlaTerms, *, stale: set[dt.date]) -> Plan:
    weeks = scope.week_starts
    intervals = [(scope.start, scope.end)] + [(weeks[i], weeks[i + 1]) for i in range(TREND_WEEKS)]
    lo = min(a for a, _ in intervals)
    hi = max(b for _, b in intervals)
    cal_tz = terms.calendar.tz
    day = lo.astimezone(cal_tz).date()
    last = hi.astimezone(cal_tz).date()
    days, in_range, week_idx = [], [], []
    used: list[list[tuple]] = [[] for _ in intervals]
    while day <= last:
        ds, de = local_midnight(day, cal_tz), local_midnight(day + dt.timedelta(days=1), cal_tz)
        if day not in stale:
            roles = [a <= ds and de <= b for a, b in intervals]
            if any(roles):
                days.append(day)
                in_range.append(1 if roles[0] else 0)
                week_idx.append(next((i for i in range(TREND_WEEKS) if roles[i + 1]), -1))
                for j, role in enumerate(roles):
                    if role:
                        used[j].append((ds, de))
        day += dt.timedelta(days=1)
    pieces = [_subtract(interval, used[j]) for j, interval in enumerate(intervals)]
    raw = _merge([piece for p in pieces for piece in p])
    return Plan(days=days, in_range=in_range, week_idx=week_idx, raw=raw, week_rolled=[not p for p in pieces[1:]])


def _raw_predicate(plan: Plan) -> Fragment:
    """The instants read from the passes: merged [start, end) pieces on ``sla_pass_stage_start_idx``."""
    parts = [sql("(m.start_at >= {a} AND m.start_at < {b})", a=S.param_dt(a), b=S.param_dt(b)) for a, b in plan.raw]
    return sql("({parts})", parts=join(" OR ", parts)) if parts else Fragment("FALSE")


def rollup_figures_sql(scope: Scope, terms: SlaTerms, plan: Plan, *, pct_weeks: list[int] | None = None) -> Fragment:
    """``figures_sql`` answered from ``sla_rollup`` plus the passes the roll-up cannot answer for.

    Returns the same ``(section, k1, k2, n, v1, v2)`` rows. ``rr`` are the roll-up rows of whole
    days (ended passes; index ``sla_rollup_day_idx``). Read from ``sla_pass``: ``om`` and the open
    SALs — whose business time is still running — aggregated straight off the covering index
    ``sla_pass_open_cover_idx``, and ``xm`` and the ended SALs and funnel moves of the ``raw``
    pieces (stale days, partial days; ``sla_pass_stage_start_idx``). Percentiles are computed only
    for the trend weeks in ``pct_weeks`` (default: all).
    """
    pct = list(range(TREND_WEEKS)) if pct_weeks is None else list(pct_weeks)
    now = scope.now
    nb = len(DISTRIBUTION_EDGES) + 1
    bucket_names = [f"b{i}" for i in range(nb)]
    raw = _raw_predicate(plan)
    filters = lead_filters(scope, "m")
    rs, re = S.bind(S.param_dt(scope.start)), S.bind(S.param_dt(scope.end))
    in_r = sql("m.start_at >= {rs} AND m.start_at < {re}", rs=rs, re=re)
    v: dict = {
        "pct_weeks": S.bind(pct),
        "rs": rs,
        "re": re,
        "ur": S.bind(plan.range_days),
        "uw": S.bind(plan.week_days),
        "mdays": S.bind(plan.days),
        "mr": S.bind(plan.in_range),
        "mw": S.bind(plan.week_idx),
        "vdays": S.bind([d for d, r, w in zip(plan.days, plan.in_range, plan.week_idx, strict=True) if r or w in pct]),
        "key": S.bind(terms.key),
        "warn": S.bind(WARNING_RATIO),
        "sdr": sql(" AND sdr_id = {s}", s=scope.sdr_id) if scope.sdr_id else Fragment(""),
        "r_sdr": sql(" AND r.sdr_id = {s}", s=scope.sdr_id) if scope.sdr_id else Fragment(""),
        "owner_sdr": sql(" AND m.owner_id = {s}", s=scope.sdr_id) if scope.sdr_id else Fragment(""),
        "funnel_sdr": sql(" AND start_owner_id = {s}", s=scope.sdr_id) if scope.sdr_id else Fragment(""),
        "filters": filters,
        "rfilters": lead_filters(scope, "r"),
        "in_r": in_r,
        "week_of_m": week_index(scope, "m.start_at"),
        "target": target_case(terms),
        "open_elapsed": S.greatest("0", sql("{now} - m.start_cum", now=now_cum(terms, now))),
        "r_buckets": S.text(", ".join(f"r.{b}" for b in bucket_names)),
        "buckets": S.text(", ".join(bucket_names)),
        "raw_buckets": S.text(", ".join(f"CASE WHEN acted = 1 AND bucket = {i} THEN 1 ELSE 0 END" for i in range(nb))),
        "zeros": S.text(", ".join("0" for _ in range(nb))),
    }
    # An ended pass read from sla_pass counts for the range/a week unless its day came from the roll-up.
    v["raw_in_range"] = fill(
        "CASE WHEN start_at >= {rs} AND start_at < {re} AND NOT day = ANY({ur}::date[]) THEN 1 ELSE 0 END", v
    )
    v["raw_week"] = sql("CASE WHEN day = ANY({uw}::date[]) THEN -1 ELSE {w} END", uw=v["uw"], w=week_index(scope))
    v["mql_ended"] = pass_rows(
        terms,
        where=fill("m.stage = 'mql' AND m.end_id IS NOT NULL AND {raw}{filters}", {**v, "raw": raw}),
        stage="mql",
        now=now,
    )
    v["sal_ended"] = pass_rows(
        terms,
        where=fill("m.stage = 'sal' AND m.end_id IS NOT NULL AND {raw} AND {in_r}{filters}", {**v, "raw": raw}),
        stage="sal",
        now=now,
    )
    v["funnel"] = pass_rows(
        terms,
        where=fill("m.stage IN ('sal', 'sql', 'won') AND {raw} AND {in_r}{filters}", {**v, "raw": raw}),
        stage="",
        now=now,
        timed=False,
    )
    ctes = fill(
        """
        om AS (
          SELECT sdr_id, in_range, week_idx, COUNT(*) AS n,
                 SUM(CASE WHEN t IS NOT NULL AND e > t THEN 1 ELSE 0 END) AS breached,
                 SUM(CASE WHEN t IS NOT NULL AND e >= {warn} * t AND e <= t THEN 1 ELSE 0 END) AS at_risk
          FROM (
            SELECT m.owner_id AS sdr_id, m.start_at,
                   CASE WHEN {in_r} THEN 1 ELSE 0 END AS in_range,
                   {week_of_m} AS week_idx,
                   {target} AS t,
                   {open_elapsed} AS e
            FROM sla_pass m
            WHERE m.calendar_key = {key} AND m.stage = 'mql' AND m.end_id IS NULL{filters}
          ) o
          WHERE TRUE{sdr}
          GROUP BY sdr_id, in_range, week_idx
        ),
        xm AS (
          SELECT {raw_in_range} AS in_range, {raw_week} AS week_idx, x.*
          FROM ({mql_ended}) x WHERE TRUE{sdr}
        ),
        rr AS (
          SELECT u.in_range, u.week_idx, r.section, r.sdr_id, r.kind, r.reason_code, r.n, r.breached, r.within,
                 {r_buckets}, r.b_none
          FROM unnest({mdays}::date[], {mr}::int[], {mw}::int[]) AS u(day, in_range, week_idx)
          JOIN sla_rollup r ON r.day = u.day
          WHERE r.day = ANY({mdays}::date[]){rfilters}{r_sdr}
        ),
        um AS (
          SELECT in_range, week_idx, sdr_id, kind AS end_kind, reason_code, n, breached, within, {buckets}, b_none
          FROM rr WHERE section = 'mql'
          UNION ALL
          SELECT in_range, week_idx, sdr_id, end_kind, reason_key, 1, breached, acted * (1 - breached), {raw_buckets},
                 CASE WHEN acted = 1 AND bucket = -1 THEN 1 ELSE 0 END
          FROM xm WHERE in_range = 1 OR week_idx >= 0
          UNION ALL
          SELECT in_range, week_idx, sdr_id, 'open', '', n, breached, 0, {zeros}, 0
          FROM om WHERE in_range = 1 OR week_idx >= 0
        ),
        uv AS (
          -- The sorted values are read only for the days whose percentiles are computed (not cached).
          SELECT u.in_range, u.week_idx, r.sdr_id, v.x
          FROM unnest({mdays}::date[], {mr}::int[], {mw}::int[]) AS u(day, in_range, week_idx)
          JOIN sla_rollup r ON r.day = u.day
          CROSS JOIN LATERAL unnest(r.vals) AS v(x)
          WHERE r.day = ANY({vdays}::date[]) AND r.section = 'mql' AND r.vals IS NOT NULL
            AND (u.in_range = 1 OR u.week_idx = ANY({pct_weeks}::int[])){rfilters}{r_sdr}
          UNION ALL
          SELECT in_range, week_idx, sdr_id, elapsed_seconds FROM xm
          WHERE acted = 1 AND (in_range = 1 OR week_idx = ANY({pct_weeks}::int[]))
        )""",
        v,
    )
    values = "(array_agg(x ORDER BY x))"
    median, p90 = f"{values}[(COUNT(*) + 1) / 2]", f"{values}[(9 * COUNT(*) + 9) / 10]"
    unpivot = ", ".join(f"({i}, {b})" for i, b in enumerate(bucket_names)) + ", (-1, b_none)"
    # Open SAL passes are never rolled up: their follow-up attempts are read as they are logged.
    open_sal_rows = pass_rows(
        terms,
        where=fill("m.stage = 'sal' AND m.end_id IS NULL AND {in_r}{filters}{owner_sdr}", v),
        stage="sal",
        now=now,
    )
    v["open_sal"] = sql(
        "SELECT 1 AS n, CASE WHEN end_kind <> 'open' AND breached = 0 THEN 1 ELSE 0 END AS kept,"
        " breached AS missed FROM ({rows}) o",
        rows=open_sal_rows,
    )
    v["followup"] = S.text(branch("followup", n="SUM(n)", v1="SUM(kept)", v2="SUM(missed)"))
    v["funnel_branch"] = S.text(branch("funnel", "stage", n="SUM(n)"))
    v["pct_week_branch"] = S.text(branch("pct_week", "week_idx", n="COUNT(*)", v1=median, v2=p90))
    branches = [
        *[S.text(b) for b in count_branches("um", n="SUM(n)", within="SUM(within)")],
        S.text(
            branch("dist", "bk.k", n="SUM(bk.c)")
            + f" FROM um CROSS JOIN LATERAL (VALUES {unpivot}) AS bk(k, c) WHERE in_range = 1 GROUP BY bk.k"
            + " HAVING SUM(bk.c) > 0"
        ),
        S.text(branch("pct", n="COUNT(*)", v1=median, v2=p90) + " FROM uv WHERE in_range = 1"),
        fill("{pct_week_branch} FROM uv WHERE week_idx = ANY({pct_weeks}::int[]) GROUP BY week_idx", v),
        S.text(
            branch("pct_sdr", "sdr_id", n="COUNT(*)", v1=median, v2=p90) + " FROM uv WHERE in_range = 1 GROUP BY sdr_id"
        ),
        S.text(branch("risk", n="SUM(n)", v1="SUM(at_risk)", v2="SUM(breached)") + " FROM om"),
        S.text(
            branch("risk_sdr", "sdr_id", n="SUM(n)", v1="SUM(at_risk)", v2="SUM(breached)") + " FROM om GROUP BY sdr_id"
        ),
        fill(
            "{followup} FROM (SELECT n, within AS kept, breached AS missed FROM rr"
            " WHERE section = 'sal' AND in_range = 1"
            " UNION ALL SELECT 1, CASE WHEN breached = 0 THEN 1 ELSE 0 END, breached FROM ({sal_ended}) s"
            " WHERE {raw_in_range} = 1{sdr}"
            " UNION ALL {open_sal}) f",
            v,
        ),
        fill(
            "{funnel_branch} FROM (SELECT substr(section, 8) AS stage, n FROM rr"
            " WHERE section IN ('funnel_sal', 'funnel_sql', 'funnel_won') AND in_range = 1"
            " UNION ALL SELECT stage, 1 FROM ({funnel}) x WHERE {raw_in_range} = 1{funnel_sdr}) f GROUP BY stage",
            v,
        ),
    ]
    return sql("WITH {ctes}\n{branches}", ctes=ctes, branches=join("\nUNION ALL\n", branches))
