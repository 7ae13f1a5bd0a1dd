"""SQL for one stored pass: its SDR, how it ended, its target, its business time and its flags.

The one definition of a pass's figures (see ``sla.figures``' vocabulary) behind the dashboard
statement, the drill-down lists, the breach job's candidates and the daily roll-up's rows. Every
function here returns SQL text over the pass table aliased ``m`` and adds the values it binds to
the statement's ``params`` dict; the statement builder that owns the dict runs it with ``run``.
"""

from __future__ import annotations

import datetime as dt

from leads.models import Stage
from leads.sql import Fragment
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
    "pass_rows",
    "passes_ctes",
    "run",
    "target_case",
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


def run(text: str, params: dict) -> list[tuple]:
    """Run one figures statement (a read) with the reporting settings above."""
    params.setdefault("warn", WARNING_RATIO)
    prefix = _REPORTING if S.pg() else ""
    return run_fragment(Fragment(prefix + text, params))


def day_expr(column: str = "m.start_at") -> str:
    """The local calendar date of an instant (``%(cal_tz)s`` is the calendar's time zone)."""
    return f"CAST(({column} AT TIME ZONE %(cal_tz)s) AS date)"


def lead_filters(scope: Scope, params: dict, alias: str = "p") -> str:
    """`` AND …`` conditions of the scope's team, source and persona on the pass table aliased ``alias``."""
    sql = []
    if scope.team_id:
        sql.append(f"{alias}.team_id = %(team_id)s")
        params["team_id"] = scope.team_id
    if scope.source:
        sql.append(f"{alias}.source = %(source)s")
        params["source"] = scope.source
    if scope.persona_id:
        sql.append(f"{alias}.persona_id = %(persona_id)s")
        params["persona_id"] = scope.persona_id
    return "".join(f" AND {s}" for s in sql)


def target_case(terms: SlaTerms, params: dict) -> str:
    """Target seconds of a pass: its version's response time for its grade, else the active version's."""
    whens = []
    for i, (vid, hours) in enumerate(sorted(terms.targets_by_version.items())):
        for grade, value in sorted(hours.items()):
            key = f"tv{i}{grade}"
            params[key] = value * 3600
            whens.append(f"WHEN m.version_id = {int(vid)} AND m.grade = '{grade}' THEN %({key})s")
    for grade, value in sorted(terms.response_hours.items()):
        if grade not in ("A", "B", "C", "D"):
            continue
        key = f"td{grade}"
        params[key] = value * 3600
        whens.append(f"WHEN m.grade = '{grade}' THEN %({key})s")
    if not whens:
        return "NULL"
    known = ", ".join(str(int(v)) for v in terms.targets_by_version) or "NULL"
    # A version without a response time for the grade falls through to the active terms only when
    # the pass's version is not a published one; within a published version a missing grade = no SLA.
    versioned = [w for w in whens if "version_id" in w]
    default = [w for w in whens if "version_id" not in w]
    if versioned:
        # An active version without any response time leaves no inner CASE: PostgreSQL types a CASE of
        # NULLs alone as text, which cannot meet the numeric targets of the versions above.
        fallback = f"CASE {' '.join(default)} ELSE NULL END" if default else "NULL"
        return f"CASE {' '.join(versioned)} WHEN m.version_id IN ({known}) THEN NULL ELSE {fallback} END"
    return f"CASE {' '.join(default)} ELSE NULL END"


def now_cum(params: dict, now: dt.datetime) -> str:
    """Business seconds from the hour table's origin to now: one lookup, shared by every open pass."""
    params["now"] = S.param_dt(now)
    return (
        f"(SELECT {S.cum('hn', '%(now)s')} FROM sla_businesshour hn"
        f" WHERE hn.calendar_key = %(calendar_key)s AND hn.hour_start = {S.hour('%(now)s')})"
    )


def _pass_fragments(terms: SlaTerms, params: dict, *, stage: str, now: dt.datetime) -> dict[str, str]:
    """SQL for one stored pass (alias ``m``): its SDR, how it ended, its target and elapsed business seconds.

    ``stage`` is ``mql`` or ``sal`` (which target applies); the caller has set ``params["calendar_key"]``.
    """
    if stage == Stage.MQL:
        target = target_case(terms, params)
    else:
        params["followup_seconds"] = terms.followup_days * terms.calendar.hours_per_day * 3600
        target = "%(followup_seconds)s"
    current = now_cum(params, now)
    elapsed = f"(CASE WHEN m.end_id IS NULL THEN {current} - m.start_cum ELSE m.end_cum - m.start_cum END)"
    return {
        "sdr": "CASE WHEN m.end_id IS NULL THEN m.owner_id ELSE COALESCE(m.end_owner_id, m.end_actor_id) END",
        "kind": """CASE WHEN m.end_id IS NULL THEN 'open'
                      WHEN m.end_actor_id IS NULL THEN 'withdrawn'
                      WHEN m.end_to_stage IN ('sal', 'sql', 'won') THEN 'accepted'
                      WHEN m.end_to_stage = 'rejected' THEN 'rejected'
                      WHEN m.end_to_stage = 'nurture' THEN 'recycled'
                      ELSE 'disqualified' END""",
        "target": target,
        "elapsed": S.greatest("0", elapsed),
    }


def _flag_columns(params: dict) -> str:
    """``acted``, ``breached``, ``warned`` and the distribution ``bucket`` from a pass's
    ``end_kind``, ``target_seconds`` and ``elapsed_seconds`` columns."""
    params["warn"] = WARNING_RATIO
    edges = []
    for i, edge in enumerate(DISTRIBUTION_EDGES):
        params[f"edge{i}"] = edge
        edges.append(f"WHEN elapsed_seconds <= %(edge{i})s * target_seconds THEN {i}")
    return f"""CASE WHEN end_kind IN ('open', 'withdrawn') THEN 0 ELSE 1 END AS acted,
               CASE WHEN target_seconds IS NOT NULL AND elapsed_seconds > target_seconds THEN 1 ELSE 0 END
                 AS breached,
               CASE WHEN target_seconds IS NOT NULL AND elapsed_seconds >= %(warn)s * target_seconds THEN 1 ELSE 0
                 END AS warned,
               CASE WHEN target_seconds IS NULL THEN -1 {" ".join(edges)} ELSE {len(DISTRIBUTION_EDGES)} END
                 AS bucket"""


def passes_ctes(
    *, prefix: str, source: str, scope: Scope, terms: SlaTerms, params: dict, stage: str = Stage.MQL
) -> str:
    """CTEs ``<prefix>p`` and ``<prefix>q``: one row per pass with its end, business time and flags.

    ``source`` is ``window`` (passes into ``stage`` starting in the range or the trend weeks; index
    ``sla_pass_stage_start_idx``) or ``open`` (MQL passes open now, whenever they started; the
    partial covering index ``sla_pass_open_cover_idx``).
    """
    p, q = f"{prefix}p", f"{prefix}q"
    filters = lead_filters(scope, params, "m")
    params["stage_" + prefix] = stage
    if source == "window":
        weeks = scope.week_starts
        params["ws"] = S.param_dt(min(scope.start, weeks[0]))
        params["we"] = S.param_dt(max(scope.end, weeks[-1]))
        where = f"m.stage = %(stage_{prefix})s AND m.start_at >= %(ws)s AND m.start_at < %(we)s"
    else:
        where = f"m.stage = %(stage_{prefix})s AND m.end_id IS NULL"
    params["calendar_key"] = terms.key
    f = _pass_fragments(terms, params, stage=stage, now=scope.now)
    sdr_filter = ""
    if scope.sdr_id:
        params["sdr_id"] = scope.sdr_id
        sdr_filter = "WHERE sdr_id = %(sdr_id)s"
    if source == "window":
        params["rs"], params["re"] = S.param_dt(scope.start), S.param_dt(scope.end)
        weeks = scope.week_starts
        week_whens = []
        for i in range(TREND_WEEKS):
            params[f"wk{i}"] = S.param_dt(weeks[i])
            week_whens.append(f"WHEN start_at < %(wk{i + 1})s THEN {i}")
        params[f"wk{TREND_WEEKS}"] = S.param_dt(weeks[TREND_WEEKS])
        in_range = "CASE WHEN start_at >= %(rs)s AND start_at < %(re)s THEN 1 ELSE 0 END"
        week_idx = f"CASE WHEN start_at < %(wk0)s OR start_at >= %(wk{TREND_WEEKS})s THEN -1 {' '.join(week_whens)} END"
    else:
        in_range, week_idx = "1", "-1"
    return f"""
        {p} AS (
          SELECT m.pass_id, m.lead_id, m.start_at, m.grade, m.end_at, m.end_reason_code AS reason_code,
                 {f["sdr"]} AS sdr_id,
                 {f["kind"]} AS end_kind,
                 {f["target"]} AS target_seconds,
                 {f["elapsed"]} AS elapsed_seconds
          FROM sla_pass m
          WHERE m.calendar_key = %(calendar_key)s AND {where}{filters}
        ),
        {q} AS (
          SELECT pass_id, lead_id, start_at, grade, end_at, reason_code, sdr_id, end_kind,
                 target_seconds, elapsed_seconds,
                 {_flag_columns(params)},
                 {in_range} AS in_range,
                 {week_idx} AS week_idx
          FROM {p} {sdr_filter}
        )"""


def pass_rows(
    terms: SlaTerms,
    params: dict,
    *,
    where: str,
    stage: str,
    now: dt.datetime,
    timed: bool = True,
) -> str:
    """A ``SELECT`` of one row per stored pass matching ``where`` (alias ``m``), with every per-pass figure.

    The same definitions as ``passes_ctes``, plus the pass's local calendar ``day``, ``is_open`` and
    the reason key of an SDR's reject or recycle; used to build the roll-up and to read what is not
    rolled up. ``stage`` is ``mql`` or ``sal`` (which target applies); ``timed=False`` skips the clock.
    """
    params["calendar_key"] = terms.key
    params["cal_tz"] = str(terms.calendar.tz)
    base = (
        f"m.pass_id, m.lead_id, m.stage, m.start_at, {day_expr()} AS day,"
        " CASE WHEN m.end_id IS NULL THEN 1 ELSE 0 END AS is_open,"
        " m.team_id, m.source, m.persona_id, m.start_owner_id"
    )
    if not timed:
        return f"SELECT {base} FROM sla_pass m WHERE m.calendar_key = %(calendar_key)s AND {where}"
    f = _pass_fragments(terms, params, stage=stage, now=now)
    reason = """CASE WHEN m.end_id IS NOT NULL AND m.end_actor_id IS NOT NULL
                           AND m.end_to_stage IN ('rejected', 'nurture')
                      THEN COALESCE(m.end_reason_code, '') ELSE '' END"""
    return f"""
        SELECT r.*, {_flag_columns(params)}
        FROM (
          SELECT {base},
                 {f["sdr"]} AS sdr_id,
                 {f["kind"]} AS end_kind,
                 {reason} AS reason_key,
                 {f["target"]} AS target_seconds,
                 {f["elapsed"]} AS elapsed_seconds
          FROM sla_pass m
          WHERE m.calendar_key = %(calendar_key)s AND {where}
        ) r"""
