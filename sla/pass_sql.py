"""SQL for one stored pass: its SDR, how it ended, its target, its business time and its flags.

The one definition of a pass's figures (see ``sla.figures``' vocabulary) behind the dashboard
statement, the drill-down lists, the breach job's candidates and the daily roll-up's rows. Every
function here returns a ``leads.sql`` fragment over the pass table aliased ``m``: values are bound,
never spliced, and fragments from different functions compose without parameter collisions.
"""

from __future__ import annotations

import datetime as dt

from leads.models import Stage
from leads.sql import Fragment, join, sql
from leads.sql import run as run_fragment
from sla import sql as S
from sla.clock import SlaTerms
from sla.weeks import TREND_WEEKS, Scope

__all__ = [
    "DECIDED_KINDS",
    "DISTRIBUTION_EDGES",
    "DISTRIBUTION_LABELS",
    "END_KINDS",
    "WARNING_RATIO",
    "day_expr",
    "lead_filters",
    "now_cum",
    "pass_rows",
    "passes_ctes",
    "run",
    "target_case",
    "week_index",
]

# Share of the target used by the first action: bucket i holds ratios in (EDGES[i-1], EDGES[i]].
DISTRIBUTION_EDGES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DISTRIBUTION_LABELS = ("≤ 25 %", "25–50 %", "50–75 %", "75–100 %", "100–150 %", "150–200 %", "> 200 %")
END_KINDS = ("accepted", "rejected", "recycled", "disqualified", "withdrawn", "open")
DECIDED_KINDS = ("accepted", "rejected", "recycled", "disqualified")
WARNING_RATIO = 0.75

# Figures statements are many small CTEs whose estimates exceed jit_above_cost: on PostgreSQL the JIT
# compile alone took ~300 ms of a 1 M-lead dashboard, and parallel workers cost more than they save
# on ~50,000 rows; the 4 MB default work_mem sent the 12 weeks' percentile sort to disk. ``SET LOCAL``
# in the same round trip keeps the settings to this statement's transaction (a read: no row changes).
_REPORTING = "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '32MB'; "


def run(statement: Fragment) -> list[tuple]:
    """Run one figures statement with the reporting settings above."""
    prefix = _REPORTING if S.pg() else ""
    return run_fragment(Fragment(prefix + statement.text, statement.params))


def day_expr(tz: str, column: str = "m.start_at") -> Fragment:
    """The local calendar date of an instant in the calendar's time zone ``tz``."""
    return sql("CAST(({c} AT TIME ZONE {tz}) AS date)", c=S.text(column), tz=tz)


def lead_filters(scope: Scope, alias: str = "p") -> Fragment:
    """`` AND …`` conditions of the scope's team, source and persona on the pass table aliased ``alias``."""
    a = S.text(alias)
    parts = []
    if scope.team_id:
        parts.append(sql(" AND {a}.team_id = {v}", a=a, v=scope.team_id))
    if scope.source:
        parts.append(sql(" AND {a}.source = {v}", a=a, v=scope.source))
    if scope.persona_id:
        parts.append(sql(" AND {a}.persona_id = {v}", a=a, v=scope.persona_id))
    return join("", parts)


def target_case(terms: SlaTerms) -> Fragment:
    """Target seconds of a pass: its version's response time for its grade, else the active version's."""
    versioned = [
        sql("WHEN m.version_id = {v} AND m.grade = {g} THEN {t}", v=int(vid), g=grade, t=value * 3600)
        for vid, hours in sorted(terms.targets_by_version.items())
        for grade, value in sorted(hours.items())
    ]
    default = [
        sql("WHEN m.grade = {g} THEN {t}", g=grade, t=value * 3600)
        for grade, value in sorted(terms.response_hours.items())
        if grade in ("A", "B", "C", "D")
    ]
    if not versioned and not default:
        return Fragment("NULL")
    # An active version without any response time leaves no inner CASE: PostgreSQL types a CASE of
    # NULLs alone as text, which cannot meet the numeric targets of the versions above.
    fallback = sql("CASE {w} ELSE NULL END", w=join(" ", default)) if default else Fragment("NULL")
    if not versioned:
        return fallback
    # A version without a response time for the grade falls through to the active terms only when
    # the pass's version is not a published one; within a published version a missing grade = no SLA.
    known = join(", ", [int(v) for v in terms.targets_by_version])
    return sql(
        "CASE {w} WHEN m.version_id IN ({known}) THEN NULL ELSE {fallback} END",
        w=join(" ", versioned),
        known=known,
        fallback=fallback,
    )


def now_cum(terms: SlaTerms, now: dt.datetime) -> Fragment:
    """Business seconds from the hour table's origin to now: one probe of ``sla_businesshour_unique``."""
    at = S.bind(S.param_dt(now))
    return sql(
        "(SELECT {cum} FROM sla_businesshour hn WHERE hn.calendar_key = {key} AND hn.hour_start = {hour})",
        cum=S.cum("hn", at),
        key=terms.key,
        hour=S.hour(at),
    )


def _pass_fragments(terms: SlaTerms, *, stage: str, now: dt.datetime) -> dict[str, Fragment]:
    """SQL for one stored pass (alias ``m``): its SDR, how it ended, its target and elapsed business seconds.

    ``stage`` is ``mql`` or ``sal`` (which target applies).
    """
    if stage == Stage.SAL:
        return _followup_fragments(terms, now=now)
    target = target_case(terms) if stage == Stage.MQL else Fragment("NULL")
    elapsed = sql(
        "(CASE WHEN m.end_id IS NULL THEN {now} - m.start_cum ELSE m.end_cum - m.start_cum END)",
        now=now_cum(terms, now),
    )
    return {"sdr": _SDR, "kind": _kind(Fragment("")), "target": target, "elapsed": S.greatest("0", elapsed)}


_SDR = Fragment("CASE WHEN m.end_id IS NULL THEN m.owner_id ELSE COALESCE(m.end_owner_id, m.end_actor_id) END")


def _kind(followed: Fragment) -> Fragment:
    return sql(
        """CASE {followed}WHEN m.end_id IS NULL THEN 'open'
                      WHEN m.end_actor_id IS NULL THEN 'withdrawn'
                      WHEN m.end_to_stage IN ('sal', 'sql', 'won') THEN 'accepted'
                      WHEN m.end_to_stage = 'rejected' THEN 'rejected'
                      WHEN m.end_to_stage = 'nurture' THEN 'recycled'
                      ELSE 'disqualified' END""",
        followed=followed,
    )


def nth_attempt_cum(terms: SlaTerms) -> Fragment:
    """Business seconds from the origin to the pass's Nth logged follow-up attempt (N = the terms'
    attempts), counting attempts between the acceptance and the pass's end; NULL when fewer were
    logged. One probe of ``followup_lead_at_idx`` and one of ``sla_businesshour_unique`` per pass."""
    return sql(
        """(SELECT {cum} FROM (SELECT a.at FROM leads_followupattempt a
                 WHERE a.lead_id = m.lead_id AND a.at >= m.start_at AND (m.end_at IS NULL OR a.at <= m.end_at)
                 ORDER BY a.at LIMIT 1 OFFSET {skip}) nth
               JOIN sla_businesshour ha ON ha.calendar_key = {key} AND ha.hour_start = {hour})""",
        cum=S.cum("ha", "nth.at"),
        skip=max(terms.followup_attempts - 1, 0),
        key=terms.key,
        hour=S.hour("nth.at"),
    )


def _followup_fragments(terms: SlaTerms, *, now: dt.datetime) -> dict[str, Fragment]:
    """An SAL pass measured against the follow-up terms: N logged attempts within D business days.

    ``elapsed`` is the business time from the acceptance to the Nth attempt; without N attempts, to
    now while the pass is open, to the move when the lead went on to SQL or won (a conversion is a
    follow-up that worked), and past the target when it left SAL any other way. An open pass with
    its N attempts ends as ``followed`` (acted), so "kept" reads the same as for an ended pass.
    """
    target = terms.followup_days * terms.calendar.hours_per_day * 3600
    nth = nth_attempt_cum(terms)
    elapsed = sql(
        """COALESCE({nth} - m.start_cum,
                    CASE WHEN m.end_id IS NULL THEN {now} - m.start_cum
                         WHEN m.end_to_stage IN ('sql', 'won') THEN m.end_cum - m.start_cum
                         ELSE {late} END)""",
        nth=nth,
        now=now_cum(terms, now),
        late=S.greatest("m.end_cum - m.start_cum", S.bind(target + 1)),
    )
    followed = sql("WHEN m.end_id IS NULL AND {nth} IS NOT NULL THEN 'followed' ", nth=nth)
    return {"sdr": _SDR, "kind": _kind(followed), "target": S.bind(target), "elapsed": S.greatest("0", elapsed)}


def _flag_columns() -> Fragment:
    """``acted``, ``breached``, ``warned`` and the distribution ``bucket`` from a pass's
    ``end_kind``, ``target_seconds`` and ``elapsed_seconds`` columns."""
    edges = join(
        " ",
        [
            sql("WHEN elapsed_seconds <= {edge} * target_seconds THEN {i}", edge=edge, i=Fragment(str(i)))
            for i, edge in enumerate(DISTRIBUTION_EDGES)
        ],
    )
    return sql(
        """CASE WHEN end_kind IN ('open', 'withdrawn') THEN 0 ELSE 1 END AS acted,
               CASE WHEN target_seconds IS NOT NULL AND elapsed_seconds > target_seconds THEN 1 ELSE 0 END
                 AS breached,
               CASE WHEN target_seconds IS NOT NULL AND elapsed_seconds >= {warn} * target_seconds THEN 1 ELSE 0
                 END AS warned,
               CASE WHEN target_seconds IS NULL THEN -1 {edges} ELSE {last} END
                 AS bucket""",
        warn=WARNING_RATIO,
        edges=edges,
        last=Fragment(str(len(DISTRIBUTION_EDGES))),
    )


def week_index(scope: Scope, column: str = "start_at") -> Fragment:
    """The trend week (0–11) an instant falls in, -1 outside the 12 weeks."""
    weeks = [S.bind(S.param_dt(w)) for w in scope.week_starts]
    c = S.text(column)
    whens = join(
        " ", [sql("WHEN {c} < {w} THEN {i}", c=c, w=weeks[i + 1], i=Fragment(str(i))) for i in range(TREND_WEEKS)]
    )
    return sql(
        "CASE WHEN {c} < {first} OR {c} >= {last} THEN -1 {whens} END",
        c=c,
        first=weeks[0],
        last=weeks[TREND_WEEKS],
        whens=whens,
    )


def passes_ctes(*, prefix: str, source: str, scope: Scope, terms: SlaTerms, stage: str = Stage.MQL) -> Fragment:
    """CTEs ``<prefix>p`` and ``<prefix>q``: one row per pass with its end, business time and flags.

    ``source`` is ``window`` (passes into ``stage`` starting in the range or the trend weeks; index
    ``sla_pass_stage_start_idx``) or ``open`` (MQL passes open now, whenever they started; the
    partial covering index ``sla_pass_open_cover_idx``).
    """
    if source == "window":
        weeks = scope.week_starts
        where = sql(
            "m.stage = {stage} AND m.start_at >= {ws} AND m.start_at < {we}",
            stage=stage,
            ws=S.param_dt(min(scope.start, weeks[0])),
            we=S.param_dt(max(scope.end, weeks[-1])),
        )
        in_range = sql(
            "CASE WHEN start_at >= {rs} AND start_at < {re} THEN 1 ELSE 0 END",
            rs=S.param_dt(scope.start),
            re=S.param_dt(scope.end),
        )
        week_idx = week_index(scope)
    else:
        where = sql("m.stage = {stage} AND m.end_id IS NULL", stage=stage)
        in_range, week_idx = Fragment("1"), Fragment("-1")
    f = _pass_fragments(terms, stage=stage, now=scope.now)
    sdr_filter = sql("WHERE sdr_id = {sdr}", sdr=scope.sdr_id) if scope.sdr_id else Fragment("")
    return sql(
        """
        {p} AS (
          SELECT m.pass_id, m.lead_id, m.start_at, m.grade, m.end_at, m.end_reason_code AS reason_code,
                 {sdr} AS sdr_id,
                 {kind} AS end_kind,
                 {target} AS target_seconds,
                 {elapsed} AS elapsed_seconds
          FROM sla_pass m
          WHERE m.calendar_key = {key} AND {where}{filters}
        ),
        {q} AS (
          SELECT pass_id, lead_id, start_at, grade, end_at, reason_code, sdr_id, end_kind,
                 target_seconds, elapsed_seconds,
                 {flags},
                 {in_range} AS in_range,
                 {week_idx} AS week_idx
          FROM {p} {sdr_filter}
        )""",
        p=S.text(f"{prefix}p"),
        q=S.text(f"{prefix}q"),
        **f,
        key=terms.key,
        where=where,
        filters=lead_filters(scope, "m"),
        flags=_flag_columns(),
        in_range=in_range,
        week_idx=week_idx,
        sdr_filter=sdr_filter,
    )


def pass_rows(
    terms: SlaTerms,
    *,
    where: Fragment,
    stage: str,
    now: dt.datetime,
    timed: bool = True,
) -> Fragment:
    """A ``SELECT`` of one row per stored pass matching ``where`` (alias ``m``), with every per-pass figure.

    The same definitions as ``passes_ctes``, plus the pass's local calendar ``day``, ``is_open`` and
    the reason key of an SDR's reject or recycle; used to build the roll-up and to read what is not
    rolled up. ``stage`` is ``mql`` or ``sal`` (which target applies); ``timed=False`` skips the clock.
    """
    base = sql(
        "m.pass_id, m.lead_id, m.stage, m.start_at, {day} AS day,"
        " CASE WHEN m.end_id IS NULL THEN 1 ELSE 0 END AS is_open,"
        " m.team_id, m.source, m.persona_id, m.start_owner_id",
        day=day_expr(str(terms.calendar.tz)),
    )
    if not timed:
        return sql(
            "SELECT {base} FROM sla_pass m WHERE m.calendar_key = {key} AND {where}",
            base=base,
            key=terms.key,
            where=where,
        )
    f = _pass_fragments(terms, stage=stage, now=now)
    return sql(
        """
        SELECT r.*, {flags}
        FROM (
          SELECT {base},
                 {sdr} AS sdr_id,
                 {kind} AS end_kind,
                 CASE WHEN m.end_id IS NOT NULL AND m.end_actor_id IS NOT NULL
                           AND m.end_to_stage IN ('rejected', 'nurture')
                      THEN COALESCE(m.end_reason_code, '') ELSE '' END AS reason_key,
                 {target} AS target_seconds,
                 {elapsed} AS elapsed_seconds
          FROM sla_pass m
          WHERE m.calendar_key = {key} AND {where}
        ) r""",
        flags=_flag_columns(),
        base=base,
        **f,
        key=terms.key,
        where=where,
    )
