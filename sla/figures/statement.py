"""The dashboard statement over the pass table: every aggregate as ``(section, k1, k2, n, v1, v2)`` rows.

CTEs select the passes of the range and of the 12 trend weeks, the open MQLs and the range's SALs
(``sla.pass_sql``); a ``UNION ALL`` of small ``GROUP BY`` branches returns every aggregate. Percentiles
use the nearest-rank definition (the value at rank ceil(p·n) in ascending order), identical on
PostgreSQL and SQLite. ``sla.figures.rolled`` answers the same rows from the daily roll-up.
"""

from __future__ import annotations

from leads.models import Stage
from leads.sql import Fragment, join, sql
from sla import sql as S
from sla.clock import SlaTerms
from sla.pass_sql import lead_filters, passes_ctes
from sla.weeks import Scope

__all__ = ["branch", "count_branches", "figures_sql"]

_F = "CAST({} AS DOUBLE PRECISION)"
_T = "CAST({} AS VARCHAR(64))"


def branch(section: str, k1: str = "NULL", k2: str = "NULL", n: str = "0", v1: str = "0", v2: str = "0") -> str:
    """The select list of one ``UNION ALL`` branch; every argument is SQL written in code."""
    return (
        f"SELECT '{section}' AS section, {_T.format(k1)} AS k1, {_T.format(k2)} AS k2, "
        f"{_F.format(n)} AS n, {_F.format(v1)} AS v1, {_F.format(v2)} AS v2"
    )


def count_branches(source: str, *, n: str, within: str) -> list[str]:
    """End kinds, reasons, per SDR and per trend week: the grouped counts both statements share."""
    return [
        branch("kind", "end_kind", n=n, v1="SUM(breached)", v2=within)
        + f" FROM {source} WHERE in_range = 1 GROUP BY end_kind",
        branch("reason", "end_kind", "reason_code", n=n)
        + f" FROM {source} WHERE in_range = 1 AND end_kind IN ('rejected', 'recycled') GROUP BY end_kind, reason_code",
        branch("sdr", "sdr_id", "end_kind", n=n, v1="SUM(breached)", v2=within)
        + f" FROM {source} WHERE in_range = 1 GROUP BY sdr_id, end_kind",
        branch("week", "week_idx", "end_kind", n=n, v1="SUM(breached)")
        + f" FROM {source} WHERE week_idx >= 0 GROUP BY week_idx, end_kind",
    ]


def _rank_value(rn: str, count: str, numerator: int, denominator: int) -> str:
    return f"MAX(CASE WHEN {rn} = ({numerator} * {count} + {denominator - 1}) / {denominator} THEN x END)"


def _percentile_branches() -> list[str]:
    """Median and p90 (nearest rank: the value at rank ceil(p·n)) of the range, of each week, of each SDR.

    PostgreSQL sorts each group once into an array and picks the ranks (integer arithmetic, so no
    floating-point rank drift as with ``percentile_disc``); SQLite ranks with ``ROW_NUMBER()``.
    """
    if S.pg():
        values = "(array_agg(elapsed_seconds ORDER BY elapsed_seconds))"
        median, p90 = f"{values}[(COUNT(*) + 1) / 2]", f"{values}[(9 * COUNT(*) + 9) / 10]"
        return [
            branch("pct", n="COUNT(*)", v1=median, v2=p90) + " FROM wq WHERE in_range = 1 AND acted = 1",
            branch("pct_week", "week_idx", n="COUNT(*)", v1=median, v2=p90)
            + " FROM wq WHERE week_idx >= 0 AND acted = 1 GROUP BY week_idx",
            branch("pct_sdr", "sdr_id", n="COUNT(*)", v1=median, v2=p90)
            + " FROM wq WHERE in_range = 1 AND acted = 1 GROUP BY sdr_id",
        ]
    return [
        branch("pct", n="MAX(n_r)", v1=_rank_value("rn_r", "n_r", 1, 2), v2=_rank_value("rn_r", "n_r", 9, 10))
        + " FROM ranked WHERE in_range = 1",
        branch(
            "pct_week",
            "week_idx",
            n="MAX(n_w)",
            v1=_rank_value("rn_w", "n_w", 1, 2),
            v2=_rank_value("rn_w", "n_w", 9, 10),
        )
        + " FROM ranked WHERE week_idx >= 0 GROUP BY week_idx",
        branch(
            "pct_sdr", "sdr_id", n="MAX(n_s)", v1=_rank_value("rn_s", "n_s", 1, 2), v2=_rank_value("rn_s", "n_s", 9, 10)
        )
        + " FROM ranked WHERE in_range = 1 GROUP BY sdr_id",
    ]


def figures_sql(scope: Scope, terms: SlaTerms) -> Fragment:
    """Every dashboard aggregate read from ``sla_pass`` alone (SQLite, and the roll-up's second opinion).

    Window passes by ``sla_pass_stage_start_idx`` (stage, start_at), open MQLs by the partial
    ``sla_pass_open_cover_idx``; returns ``(section, k1, k2, n, v1, v2)`` rows.
    """
    ctes = [
        passes_ctes(prefix="w", source="window", scope=scope, terms=terms),
        passes_ctes(prefix="o", source="open", scope=scope, terms=terms),
        passes_ctes(prefix="s", source="window", scope=scope, terms=terms, stage=Stage.SAL),
    ]
    if not S.pg():
        ctes.append(
            Fragment("""
        ranked AS (
          SELECT in_range, week_idx, sdr_id, elapsed_seconds AS x,
                 ROW_NUMBER() OVER (PARTITION BY in_range ORDER BY elapsed_seconds) AS rn_r,
                 COUNT(*) OVER (PARTITION BY in_range) AS n_r,
                 ROW_NUMBER() OVER (PARTITION BY week_idx ORDER BY elapsed_seconds) AS rn_w,
                 COUNT(*) OVER (PARTITION BY week_idx) AS n_w,
                 ROW_NUMBER() OVER (PARTITION BY in_range, sdr_id ORDER BY elapsed_seconds) AS rn_s,
                 COUNT(*) OVER (PARTITION BY in_range, sdr_id) AS n_s
          FROM wq WHERE acted = 1
        )""")
        )
    funnel_owner = sql(" AND p.start_owner_id = {sdr}", sdr=scope.sdr_id) if scope.sdr_id else Fragment("")
    funnel = sql(
        "{branch} FROM sla_pass p WHERE p.calendar_key = {key} AND p.stage IN ('sal', 'sql', 'won')"
        " AND p.start_at >= {rs} AND p.start_at < {re}{filters}{owner} GROUP BY p.stage",
        branch=S.text(branch("funnel", "p.stage", n="COUNT(*)")),
        key=terms.key,
        rs=S.param_dt(scope.start),
        re=S.param_dt(scope.end),
        filters=lead_filters(scope),
        owner=funnel_owner,
    )
    branches = [
        *count_branches("wq", n="COUNT(*)", within="SUM(acted * (1 - breached))"),
        branch("dist", "bucket", n="COUNT(*)") + " FROM wq WHERE in_range = 1 AND acted = 1 GROUP BY bucket",
        *_percentile_branches(),
        branch("risk", n="COUNT(*)", v1="SUM(warned * (1 - breached))", v2="SUM(breached)") + " FROM oq",
        branch("risk_sdr", "sdr_id", n="COUNT(*)", v1="SUM(warned * (1 - breached))", v2="SUM(breached)")
        + " FROM oq GROUP BY sdr_id",
        branch(
            "followup",
            n="COUNT(*)",
            v1="SUM(CASE WHEN end_kind <> 'open' AND breached = 0 THEN 1 ELSE 0 END)",
            v2="SUM(breached)",
        )
        + " FROM sq WHERE in_range = 1",
        funnel,
    ]
    return sql(
        "WITH {ctes}\n{branches}",
        ctes=join(",", ctes),
        branches=join("\nUNION ALL\n", [S.text(b) for b in branches]),
    )
