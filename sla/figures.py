"""SLA figures, computed in SQL from the ``Transition`` log — the only source of truth.

Vocabulary
----------
* An **MQL pass** is one transition into ``mql``. A recycled lead that returns to MQL starts a new
  pass with a new clock, and every figure counts every pass.
* A pass **ends** at the lead's next transition. When a person made it (``actor`` set) that is the
  SDR's **first action**: accepted (→ SAL, or straight to SQL/won), rejected, recycled (→ nurture)
  or disqualified (→ disqualified/lost). When the system made it (rescoring dropped the lead) the
  pass is **withdrawn**. Without a next transition the pass is **open**.
* **Response time** = business time from the MQL transition to the first action, measured on the
  active agreement's calendar. The **target** is the response time for the pass's grade (grade
  recorded on the MQL transition, blank = D) in the agreement version recorded on that transition,
  or the active version's when none is recorded.
* A pass is **breached** when its business time — to the first action, to the withdrawal, or to
  now while open — exceeds the target. **At risk** = open with 75 % or more of the target used.
* The SDR of a pass is the lead's owner when the pass ended (``Transition.owner``, else the actor),
  or the current owner while it is open.
* A **SAL follow-up** is kept when the lead moved on from SAL within the agreed number of business
  days (``followup.days`` × the calendar's hours per day); attempts are not logged as transitions.
* Pass figures belong to the range their MQL transition falls in (a cohort); the funnel counts
  moves into each stage within the range.

How it runs
-----------
All dashboard figures come from one SQL statement: CTEs select the passes of the range and of the
12 trend weeks (index ``transition_to_stage_at_idx``), find each pass's next transition with one
index probe (``transition_lead_at_idx``), and measure business time with two equality joins on the
``sla.BusinessHour`` table (see ``sla.clock``). A ``UNION ALL`` of small ``GROUP BY`` branches
returns every aggregate as ``(section, key1, key2, n, v1, v2)`` rows; Python only folds those
grouped rows into dictionaries. Percentiles use the nearest-rank definition (the value at rank
ceil(p·n) in ascending order) via ``ROW_NUMBER()``, identical on PostgreSQL and SQLite.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import transaction

from leads.models import Stage
from sla import sql as S
from sla.clock import SlaTerms, current_terms
from sla.passes import sync

TREND_WEEKS = 12
# Share of the target used by the first action: bucket i holds ratios in (EDGES[i-1], EDGES[i]].
DISTRIBUTION_EDGES = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DISTRIBUTION_LABELS = ("≤ 25 %", "25–50 %", "50–75 %", "75–100 %", "100–150 %", "150–200 %", "> 200 %")
END_KINDS = ("accepted", "rejected", "recycled", "disqualified", "withdrawn", "open")
DECIDED_KINDS = ("accepted", "rejected", "recycled", "disqualified")
FUNNEL = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.WON)
WARNING_RATIO = 0.75


# --- Scope ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What the figures cover: a range of instants plus optional team, source, persona and SDR."""

    start: dt.datetime
    end: dt.datetime  # exclusive
    tz: zoneinfo.ZoneInfo
    now: dt.datetime
    team_id: int | None = None
    source: str = ""
    persona_id: int | None = None
    sdr_id: int | None = None

    @property
    def week_starts(self) -> list[dt.datetime]:
        """Monday 00:00 (local) of the 12 ISO weeks ending with the range's last week, plus the end."""
        last_day = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        monday = last_day - dt.timedelta(days=last_day.weekday())
        days = [monday - dt.timedelta(weeks=TREND_WEEKS - 1 - i) for i in range(TREND_WEEKS + 1)]
        return [local_midnight(d, self.tz) for d in days]


def local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


def iso_week_label(iso_year: int, iso_week: int) -> str:
    """The ISO 8601 name of a week, as the portal writes and reads it: ``2026-W09``."""
    return f"{iso_year}-W{iso_week:02d}"


def iso_week_bounds(iso_year: int, iso_week: int, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    monday = dt.date.fromisocalendar(iso_year, iso_week, 1)
    return local_midnight(monday, tz), local_midnight(monday + dt.timedelta(days=7), tz)


def prorated_quota(monthly: int, start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo) -> float:
    """The monthly quota spread over the range: each month contributes its share of days covered."""
    if monthly <= 0 or end <= start:
        return 0.0
    first = start.astimezone(tz).date()
    last = (end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    total = 0.0
    day = first
    while day <= last:
        days_in_month = pycalendar.monthrange(day.year, day.month)[1]
        month_last = day.replace(day=days_in_month)
        covered = (min(last, month_last) - day).days + 1
        total += monthly * covered / days_in_month
        day = month_last + dt.timedelta(days=1)
    return total


# --- SQL building blocks --------------------------------------------------------------------------


_pg, _hour, _cum, _greatest, _dt = S.pg, S.hour, S.cum, S.greatest, S.param_dt


def _lead_filters(scope: Scope, params: dict, alias: str = "p") -> str:
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


def _target_case(terms: SlaTerms, params: dict) -> str:
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
        return (
            f"CASE {' '.join(versioned)} WHEN m.version_id IN ({known}) THEN NULL "
            f"ELSE CASE {' '.join(default) or 'WHEN 1 = 0 THEN NULL'} ELSE NULL END END"
        )
    return f"CASE {' '.join(default)} ELSE NULL END"


def _passes_ctes(
    *, prefix: str, source: str, scope: Scope, terms: SlaTerms, params: dict, stage: str = Stage.MQL
) -> str:
    """CTEs ``<prefix>p`` and ``<prefix>q``: one row per pass with its end, business time and flags.

    ``source`` is ``window`` (passes into ``stage`` starting in the range or the trend weeks) or
    ``open`` (MQL passes open now, whenever they started). Rows come from ``sla.Pass``, which
    ``sla.passes.refresh`` brings up to date with the log before any figure is read.
    """
    p, q = f"{prefix}p", f"{prefix}q"
    filters = _lead_filters(scope, params, "m")
    params["stage_" + prefix] = stage
    if source == "window":
        weeks = scope.week_starts
        params["ws"] = _dt(min(scope.start, weeks[0]))
        params["we"] = _dt(max(scope.end, weeks[-1]))
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
        params["rs"], params["re"] = _dt(scope.start), _dt(scope.end)
        weeks = scope.week_starts
        week_whens = []
        for i in range(TREND_WEEKS):
            params[f"wk{i}"] = _dt(weeks[i])
            week_whens.append(f"WHEN start_at < %(wk{i + 1})s THEN {i}")
        params[f"wk{TREND_WEEKS}"] = _dt(weeks[TREND_WEEKS])
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

    The same definitions as ``_passes_ctes`` (``_pass_fragments`` and ``_flag_columns``), plus the
    pass's local calendar ``day``, ``is_open`` and the reason key of an SDR's reject or recycle;
    used to build the roll-up and to read what is not rolled up. ``stage`` is ``mql`` or ``sal``
    (which target applies); ``timed=False`` skips the clock.
    """
    from sla.rollup import day_expr

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


def _pass_fragments(terms: SlaTerms, params: dict, *, stage: str, now: dt.datetime) -> dict[str, str]:
    """SQL for one stored pass (alias ``m``): its SDR, how it ended, its target and elapsed business seconds.

    The one definition behind the dashboard's CTEs (``_passes_ctes``) and the roll-up's rows
    (``pass_rows``). ``stage`` is ``mql`` or ``sal`` (which target applies); the caller has set
    ``params["calendar_key"]``.
    """
    if stage == Stage.MQL:
        target = _target_case(terms, params)
    else:
        params["followup_seconds"] = terms.followup_days * terms.calendar.hours_per_day * 3600
        target = "%(followup_seconds)s"
    params["now"] = _dt(now)
    # Business seconds from the origin to now: one lookup, shared by every open pass.
    now_cum = (
        f"(SELECT {_cum('hn', '%(now)s')} FROM sla_businesshour hn"
        f" WHERE hn.calendar_key = %(calendar_key)s AND hn.hour_start = {_hour('%(now)s')})"
    )
    elapsed = f"(CASE WHEN m.end_id IS NULL THEN {now_cum} - m.start_cum ELSE m.end_cum - m.start_cum END)"
    return {
        "sdr": "CASE WHEN m.end_id IS NULL THEN m.owner_id ELSE COALESCE(m.end_owner_id, m.end_actor_id) END",
        "kind": """CASE WHEN m.end_id IS NULL THEN 'open'
                      WHEN m.end_actor_id IS NULL THEN 'withdrawn'
                      WHEN m.end_to_stage IN ('sal', 'sql', 'won') THEN 'accepted'
                      WHEN m.end_to_stage = 'rejected' THEN 'rejected'
                      WHEN m.end_to_stage = 'nurture' THEN 'recycled'
                      ELSE 'disqualified' END""",
        "target": target,
        "elapsed": _greatest("0", elapsed),
    }


def _flag_columns(params: dict) -> str:
    """``acted``, ``breached``, ``warned`` and the distribution ``bucket`` from a pass's
    ``end_kind``, ``target_seconds`` and ``elapsed_seconds`` columns."""
    params.setdefault("warn", WARNING_RATIO)
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


def _run(sql: str, params: dict) -> list[tuple]:
    params.setdefault("warn", WARNING_RATIO)
    return S.run(sql, params, reporting=True)


# --- The dashboard / report statement ------------------------------------------------------------

_F = "CAST({} AS DOUBLE PRECISION)"
_T = "CAST({} AS VARCHAR(64))"


def _branch(section: str, k1: str = "NULL", k2: str = "NULL", n: str = "0", v1: str = "0", v2: str = "0") -> str:
    return (
        f"SELECT '{section}' AS section, {_T.format(k1)} AS k1, {_T.format(k2)} AS k2, "
        f"{_F.format(n)} AS n, {_F.format(v1)} AS v1, {_F.format(v2)} AS v2"
    )


def _count_branches(source: str, *, n: str, within: str) -> list[str]:
    """End kinds, reasons, per SDR and per trend week: the grouped counts both statements share."""
    return [
        _branch("kind", "end_kind", n=n, v1="SUM(breached)", v2=within)
        + f" FROM {source} WHERE in_range = 1 GROUP BY end_kind",
        _branch("reason", "end_kind", "reason_code", n=n)
        + f" FROM {source} WHERE in_range = 1 AND end_kind IN ('rejected', 'recycled') GROUP BY end_kind, reason_code",
        _branch("sdr", "sdr_id", "end_kind", n=n, v1="SUM(breached)", v2=within)
        + f" FROM {source} WHERE in_range = 1 GROUP BY sdr_id, end_kind",
        _branch("week", "week_idx", "end_kind", n=n, v1="SUM(breached)")
        + f" FROM {source} WHERE week_idx >= 0 GROUP BY week_idx, end_kind",
    ]


def _pct(rn: str, count: str, numerator: int, denominator: int) -> str:
    return f"MAX(CASE WHEN {rn} = ({numerator} * {count} + {denominator - 1}) / {denominator} THEN x END)"


def _percentile_branches() -> list[str]:
    """Median and p90 (nearest rank: the value at rank ceil(p·n)) of the range, of each week, of each SDR.

    PostgreSQL sorts each group once into an array and picks the ranks (integer arithmetic, so no
    floating-point rank drift as with ``percentile_disc``); SQLite ranks with ``ROW_NUMBER()``.
    """
    if _pg():
        values = "(array_agg(elapsed_seconds ORDER BY elapsed_seconds))"
        median, p90 = f"{values}[(COUNT(*) + 1) / 2]", f"{values}[(9 * COUNT(*) + 9) / 10]"
        return [
            _branch("pct", n="COUNT(*)", v1=median, v2=p90) + " FROM wq WHERE in_range = 1 AND acted = 1",
            _branch("pct_week", "week_idx", n="COUNT(*)", v1=median, v2=p90)
            + " FROM wq WHERE week_idx >= 0 AND acted = 1 GROUP BY week_idx",
            _branch("pct_sdr", "sdr_id", n="COUNT(*)", v1=median, v2=p90)
            + " FROM wq WHERE in_range = 1 AND acted = 1 GROUP BY sdr_id",
        ]
    return [
        _branch("pct", n="MAX(n_r)", v1=_pct("rn_r", "n_r", 1, 2), v2=_pct("rn_r", "n_r", 9, 10))
        + " FROM ranked WHERE in_range = 1",
        _branch("pct_week", "week_idx", n="MAX(n_w)", v1=_pct("rn_w", "n_w", 1, 2), v2=_pct("rn_w", "n_w", 9, 10))
        + " FROM ranked WHERE week_idx >= 0 GROUP BY week_idx",
        _branch("pct_sdr", "sdr_id", n="MAX(n_s)", v1=_pct("rn_s", "n_s", 1, 2), v2=_pct("rn_s", "n_s", 9, 10))
        + " FROM ranked WHERE in_range = 1 GROUP BY sdr_id",
    ]


def figures_sql(scope: Scope, terms: SlaTerms) -> tuple[str, dict]:
    params: dict = {}
    ctes = [
        _passes_ctes(prefix="w", source="window", scope=scope, terms=terms, params=params),
        _passes_ctes(prefix="o", source="open", scope=scope, terms=terms, params=params),
        _passes_ctes(prefix="s", source="window", scope=scope, terms=terms, params=params, stage=Stage.SAL),
    ]
    ranked = """
        ranked AS (
          SELECT in_range, week_idx, sdr_id, elapsed_seconds AS x,
                 ROW_NUMBER() OVER (PARTITION BY in_range ORDER BY elapsed_seconds) AS rn_r,
                 COUNT(*) OVER (PARTITION BY in_range) AS n_r,
                 ROW_NUMBER() OVER (PARTITION BY week_idx ORDER BY elapsed_seconds) AS rn_w,
                 COUNT(*) OVER (PARTITION BY week_idx) AS n_w,
                 ROW_NUMBER() OVER (PARTITION BY in_range, sdr_id ORDER BY elapsed_seconds) AS rn_s,
                 COUNT(*) OVER (PARTITION BY in_range, sdr_id) AS n_s
          FROM wq WHERE acted = 1
        )"""
    funnel_owner = " AND p.start_owner_id = %(sdr_id)s" if scope.sdr_id else ""
    funnel_filters = _lead_filters(scope, params)
    branches = [
        *_count_branches("wq", n="COUNT(*)", within="SUM(acted * (1 - breached))"),
        _branch("dist", "bucket", n="COUNT(*)") + " FROM wq WHERE in_range = 1 AND acted = 1 GROUP BY bucket",
        *_percentile_branches(),
        _branch("risk", n="COUNT(*)", v1="SUM(warned * (1 - breached))", v2="SUM(breached)") + " FROM oq",
        _branch("risk_sdr", "sdr_id", n="COUNT(*)", v1="SUM(warned * (1 - breached))", v2="SUM(breached)")
        + " FROM oq GROUP BY sdr_id",
        _branch(
            "followup",
            n="COUNT(*)",
            v1="SUM(CASE WHEN end_kind <> 'open' AND breached = 0 THEN 1 ELSE 0 END)",
            v2="SUM(breached)",
        )
        + " FROM sq WHERE in_range = 1",
        _branch("funnel", "p.stage", n="COUNT(*)")
        + " FROM sla_pass p WHERE p.calendar_key = %(calendar_key)s AND p.stage IN ('sal', 'sql', 'won')"
        + " AND p.start_at >= %(rs)s AND p.start_at < %(re)s"
        + funnel_filters
        + funnel_owner
        + " GROUP BY p.stage",
    ]
    sql = "WITH " + ",".join(ctes) + ("" if _pg() else "," + ranked) + "\n" + "\nUNION ALL\n".join(branches)
    return sql, params


# --- The same statement over the roll-up (PostgreSQL) ------------------------------------------------


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


def _raw_predicate(plan: Plan, params: dict) -> str:
    parts = []
    for i, (a, b) in enumerate(plan.raw):
        params[f"ra{i}"], params[f"rb{i}"] = _dt(a), _dt(b)
        parts.append(f"(m.start_at >= %(ra{i})s AND m.start_at < %(rb{i})s)")
    return "(" + " OR ".join(parts) + ")" if parts else "FALSE"


def rollup_figures_sql(
    scope: Scope, terms: SlaTerms, plan: Plan, *, pct_weeks: list[int] | None = None
) -> tuple[str, dict]:
    """``figures_sql`` answered from ``sla_rollup`` plus the passes the roll-up cannot answer for.

    Returns the same ``(section, k1, k2, n, v1, v2)`` rows. ``rr`` are the roll-up rows of whole
    days (ended passes). Read from ``sla_pass``: ``om``/``os`` — every open MQL and the range's
    open SALs, whose business time is still running, aggregated straight off the covering index —
    and ``xm``/``xs``/``xf``, the ended passes of the ``raw`` pieces (stale days, partial days).
    Percentiles are computed only for the trend weeks in ``pct_weeks`` (default: all).
    """
    params: dict = {"pct_weeks": list(range(TREND_WEEKS)) if pct_weeks is None else list(pct_weeks)}
    filters = _lead_filters(scope, params, "m")
    rfilters = _lead_filters(scope, params, "r")
    raw = _raw_predicate(plan, params)
    now = scope.now
    weeks = scope.week_starts
    params["rs"], params["re"] = _dt(scope.start), _dt(scope.end)
    for i in range(TREND_WEEKS + 1):
        params[f"wk{i}"] = _dt(weeks[i])
    params["ur"], params["uw"] = plan.range_days, plan.week_days
    params["mdays"], params["mr"], params["mw"] = plan.days, plan.in_range, plan.week_idx
    params["vdays"] = [
        d for d, r, w in zip(plan.days, plan.in_range, plan.week_idx, strict=True) if r or w in params["pct_weeks"]
    ]
    params["calendar_key"] = terms.key
    params["now"] = _dt(now)
    params["followup_seconds"] = terms.followup_days * terms.calendar.hours_per_day * 3600
    params.setdefault("warn", WARNING_RATIO)
    sdr = " AND sdr_id = %(sdr_id)s" if scope.sdr_id else ""
    if scope.sdr_id:
        params["sdr_id"] = scope.sdr_id
    r_sdr = " AND r.sdr_id = %(sdr_id)s" if scope.sdr_id else ""
    in_r = "m.start_at >= %(rs)s AND m.start_at < %(re)s"
    week_whens = " ".join(f"WHEN start_at < %(wk{i + 1})s THEN {i}" for i in range(TREND_WEEKS))
    week_of = f"CASE WHEN start_at < %(wk0)s OR start_at >= %(wk{TREND_WEEKS})s THEN -1 {week_whens} END"
    # An ended pass read from sla_pass counts for the range/a week unless its day came from the roll-up.
    raw_in_range = (
        "CASE WHEN start_at >= %(rs)s AND start_at < %(re)s AND NOT day = ANY(%(ur)s::date[]) THEN 1 ELSE 0 END"
    )
    raw_week = f"CASE WHEN day = ANY(%(uw)s::date[]) THEN -1 ELSE {week_of} END"
    now_cum = (
        f"(SELECT {_cum('hn', '%(now)s')} FROM sla_businesshour hn"
        f" WHERE hn.calendar_key = %(calendar_key)s AND hn.hour_start = {_hour('%(now)s')})"
    )
    target = _target_case(terms, params)
    mql_ended = pass_rows(
        terms, params, where=f"m.stage = 'mql' AND m.end_id IS NOT NULL AND {raw}{filters}", stage="mql", now=now
    )
    sal_ended = pass_rows(
        terms,
        params,
        where=f"m.stage = 'sal' AND m.end_id IS NOT NULL AND {raw} AND {in_r}{filters}",
        stage="sal",
        now=now,
    )
    funnel = pass_rows(
        terms,
        params,
        where=f"m.stage IN ('sal', 'sql', 'won') AND {raw} AND {in_r}{filters}",
        stage="",
        now=now,
        timed=False,
    )
    funnel_sdr = " AND start_owner_id = %(sdr_id)s" if scope.sdr_id else ""
    nb = len(DISTRIBUTION_EDGES) + 1
    buckets = ", ".join(f"b{i}" for i in range(nb))
    raw_buckets = ", ".join(f"CASE WHEN acted = 1 AND bucket = {i} THEN 1 ELSE 0 END" for i in range(nb))
    zeros = ", ".join("0" for _ in range(nb))
    ctes = f"""
        om AS (
          SELECT sdr_id, in_range, week_idx, COUNT(*) AS n,
                 SUM(CASE WHEN t IS NOT NULL AND e > t THEN 1 ELSE 0 END) AS breached,
                 SUM(CASE WHEN t IS NOT NULL AND e >= %(warn)s * t AND e <= t THEN 1 ELSE 0 END) AS at_risk
          FROM (
            SELECT m.owner_id AS sdr_id, m.start_at,
                   CASE WHEN {in_r} THEN 1 ELSE 0 END AS in_range,
                   {week_of.replace("start_at", "m.start_at")} AS week_idx,
                   {target} AS t,
                   {_greatest("0", f"{now_cum} - m.start_cum")} AS e
            FROM sla_pass m
            WHERE m.calendar_key = %(calendar_key)s AND m.stage = 'mql' AND m.end_id IS NULL{filters}
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
                 {", ".join("r." + b for b in buckets.split(", "))}, r.b_none
          FROM unnest(%(mdays)s::date[], %(mr)s::int[], %(mw)s::int[]) AS u(day, in_range, week_idx)
          JOIN sla_rollup r ON r.day = u.day
          WHERE r.day = ANY(%(mdays)s::date[]){rfilters}{r_sdr}
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
          FROM unnest(%(mdays)s::date[], %(mr)s::int[], %(mw)s::int[]) AS u(day, in_range, week_idx)
          JOIN sla_rollup r ON r.day = u.day
          CROSS JOIN LATERAL unnest(r.vals) AS v(x)
          WHERE r.day = ANY(%(vdays)s::date[]) AND r.section = 'mql' AND r.vals IS NOT NULL
            AND (u.in_range = 1 OR u.week_idx = ANY(%(pct_weeks)s::int[])){rfilters}{r_sdr}
          UNION ALL
          SELECT in_range, week_idx, sdr_id, elapsed_seconds FROM xm
          WHERE acted = 1 AND (in_range = 1 OR week_idx = ANY(%(pct_weeks)s::int[]))
        )"""
    values = "(array_agg(x ORDER BY x))"
    median, p90 = f"{values}[(COUNT(*) + 1) / 2]", f"{values}[(9 * COUNT(*) + 9) / 10]"
    unpivot = ", ".join(f"({i}, {b})" for i, b in enumerate(buckets.split(", "))) + ", (-1, b_none)"
    open_sal = (
        f"SELECT COUNT(*) AS n, 0 AS kept,"
        f" SUM(CASE WHEN {_greatest('0', f'{now_cum} - m.start_cum')} > %(followup_seconds)s THEN 1 ELSE 0 END)"
        f" AS missed FROM sla_pass m WHERE m.calendar_key = %(calendar_key)s AND m.stage = 'sal'"
        f" AND m.end_id IS NULL AND {in_r}{filters}{sdr.replace('sdr_id', 'm.owner_id', 1)}"
    )
    branches = [
        *_count_branches("um", n="SUM(n)", within="SUM(within)"),
        _branch("dist", "bk.k", n="SUM(bk.c)")
        + f" FROM um CROSS JOIN LATERAL (VALUES {unpivot}) AS bk(k, c) WHERE in_range = 1 GROUP BY bk.k"
        + " HAVING SUM(bk.c) > 0",
        _branch("pct", n="COUNT(*)", v1=median, v2=p90) + " FROM uv WHERE in_range = 1",
        _branch("pct_week", "week_idx", n="COUNT(*)", v1=median, v2=p90)
        + " FROM uv WHERE week_idx = ANY(%(pct_weeks)s::int[]) GROUP BY week_idx",
        _branch("pct_sdr", "sdr_id", n="COUNT(*)", v1=median, v2=p90) + " FROM uv WHERE in_range = 1 GROUP BY sdr_id",
        _branch("risk", n="SUM(n)", v1="SUM(at_risk)", v2="SUM(breached)") + " FROM om",
        _branch("risk_sdr", "sdr_id", n="SUM(n)", v1="SUM(at_risk)", v2="SUM(breached)") + " FROM om GROUP BY sdr_id",
        _branch("followup", n="SUM(n)", v1="SUM(kept)", v2="SUM(missed)")
        + " FROM (SELECT n, within AS kept, breached AS missed FROM rr WHERE section = 'sal' AND in_range = 1"
        + f" UNION ALL SELECT 1, CASE WHEN breached = 0 THEN 1 ELSE 0 END, breached FROM ({sal_ended}) s"
        + f" WHERE {raw_in_range} = 1{sdr}"
        + f" UNION ALL {open_sal}) f",
        _branch("funnel", "stage", n="SUM(n)")
        + " FROM (SELECT substr(section, 8) AS stage, n FROM rr"
        + " WHERE section IN ('funnel_sal', 'funnel_sql', 'funnel_won') AND in_range = 1"
        + f" UNION ALL SELECT stage, 1 FROM ({funnel}) x WHERE {raw_in_range} = 1{funnel_sdr}) f GROUP BY stage",
    ]
    return "WITH " + ctes + "\n" + "\nUNION ALL\n".join(branches), params


@dataclass
class Figures:
    """Everything the dashboard and the weekly report show. ``as_dict()`` is what a report stores."""

    data: dict = field(default_factory=dict)

    def __getitem__(self, key):
        return self.data[key]

    def as_dict(self) -> dict:
        return self.data


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _hours(seconds) -> float | None:
    return round(float(seconds) / 3600, 2) if seconds is not None else None


def _week_label(start: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    year, week, _ = start.astimezone(tz).date().isocalendar()
    return iso_week_label(year, week)


# --- Cached percentiles of trend weeks ---------------------------------------------------------------

_NO_VALUES = ("none", "none")  # cached marker: the week had no first action under these filters


def _week_cache_keys(scope: Scope, terms: SlaTerms, plan: Plan, state) -> dict[int, str]:
    """Cache keys of the trend weeks whose median/p90 come from roll-up days alone.

    Those values change only when one of the week's days is re-aggregated (its generation moves)
    or the roll-up is rebuilt (a new build id), so the key names both, with the filters.
    """
    if not state.build:
        return {}
    weeks = scope.week_starts
    by_week: dict[int, list] = {}
    for day, week in zip(plan.days, plan.week_idx, strict=True):
        if week >= 0:
            by_week.setdefault(week, []).append(day)
    keys = {}
    filters = f"{scope.team_id}:{scope.source}:{scope.persona_id}:{scope.sdr_id}"
    for i in range(TREND_WEEKS):
        if not plan.week_rolled[i] or i not in by_week:
            continue
        generations = ",".join(str(state.generations.get(d, 0)) for d in sorted(by_week[i]))
        raw = f"{state.build}|{terms.key}|{filters}|{weeks[i].isoformat()}|{weeks[i + 1].isoformat()}|{generations}"
        keys[i] = "sla:pct-week:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    return keys


def _cache_get(keys: dict[int, str]) -> dict[int, tuple]:
    found = cache.get_many(list(keys.values())) if keys else {}
    return {i: tuple(found[key]) for i, key in keys.items() if key in found}


def _cache_set(values: dict) -> None:
    """Store on commit: a value read in a transaction that rolls back must never be served."""
    if values:
        transaction.on_commit(lambda: cache.set_many(values, timeout=14 * 24 * 3600))


def compute(
    scope: Scope,
    *,
    terms: SlaTerms | None = None,
    user_names: dict | None = None,
    bounded: bool = True,
    use_rollup: bool = True,
) -> Figures:
    """Every figure for ``scope`` in one SQL statement, after bringing the pass table up to date.

    ``bounded`` (web requests) limits the catch-up work done first (see ``sla.passes.sync``);
    reports pass ``False`` so that a snapshot never lags behind the log. On PostgreSQL the
    statement reads the daily roll-up where it can; ``use_rollup=False`` reads only the passes
    (the SQLite path), which tests use as a second opinion.
    """
    terms = terms or current_terms()
    weeks = scope.week_starts
    cal_tz = terms.calendar.tz
    span = (
        min(scope.start, weeks[0]).astimezone(cal_tz).date() - dt.timedelta(days=1),
        max(scope.end, weeks[-1]).astimezone(cal_tz).date(),
    )
    state = sync(terms=terms, now=scope.now, bounded=bounded, span=span)
    cached_pct: dict[int, tuple] = {}
    cache_keys: dict[int, str] = {}
    if state.rollup and use_rollup:
        plan = plan_for(scope, terms, stale=state.stale)
        cache_keys = _week_cache_keys(scope, terms, plan, state)
        cached_pct = _cache_get(cache_keys)
        pct_weeks = [i for i in range(TREND_WEEKS) if i not in cached_pct]
        sql, params = rollup_figures_sql(scope, terms, plan, pct_weeks=pct_weeks)
    else:
        sql, params = figures_sql(scope, terms)
    rows = _run(sql, params)

    kinds = dict.fromkeys(END_KINDS, 0)
    breached = within = 0
    reasons: dict[str, dict[str, int]] = {"rejected": {}, "recycled": {}}
    sdrs: dict = {}
    dist = [0] * (len(DISTRIBUTION_EDGES) + 1)
    no_target = 0
    week_rows: dict[int, dict] = {i: {"kinds": dict.fromkeys(END_KINDS, 0), "breached": 0} for i in range(TREND_WEEKS)}
    pct = {"n": 0, "median": None, "p90": None}
    pct_week: dict[int, tuple] = {}
    pct_sdr: dict = {}
    risk = {"open": 0, "at_risk": 0, "overdue": 0}
    risk_sdr: dict = {}
    followup = {"n": 0, "kept": 0, "missed": 0}
    funnel_counts: dict[str, int] = {}

    def sdr_key(value):
        return int(value) if value not in (None, "") else None

    for section, k1, k2, n, v1, v2 in rows:
        n = int(n or 0)
        if section == "kind":
            kinds[k1] = n
            breached += int(v1 or 0)
            within += int(v2 or 0)
        elif section == "reason":
            reasons[k1][k2 or ""] = n
        elif section == "sdr":
            entry = sdrs.setdefault(sdr_key(k1), {"kinds": dict.fromkeys(END_KINDS, 0), "breached": 0, "within": 0})
            entry["kinds"][k2] = n
            entry["breached"] += int(v1 or 0)
            entry["within"] += int(v2 or 0)
        elif section == "dist":
            if int(k1) < 0:
                no_target += n
            else:
                dist[int(k1)] = n
        elif section == "week":
            week_rows[int(k1)]["kinds"][k2] = n
            week_rows[int(k1)]["breached"] += int(v1 or 0)
        elif section == "pct":
            pct = {"n": n, "median": _hours(v1) if n else None, "p90": _hours(v2) if n else None}
        elif section == "pct_week":
            pct_week[int(k1)] = (_hours(v1), _hours(v2))
        elif section == "pct_sdr":
            pct_sdr[sdr_key(k1)] = (_hours(v1), _hours(v2))
        elif section == "risk":
            risk = {"open": n, "at_risk": int(v1 or 0), "overdue": int(v2 or 0)}
        elif section == "risk_sdr":
            risk_sdr[sdr_key(k1)] = {"open": n, "at_risk": int(v1 or 0), "overdue": int(v2 or 0)}
        elif section == "followup":
            followup = {"n": n, "kept": int(v1 or 0), "missed": int(v2 or 0)}
        elif section == "funnel":
            funnel_counts[k1] = n

    for i, value in cached_pct.items():
        if value != _NO_VALUES:
            pct_week[i] = value
    _cache_set({key: pct_week.get(i, _NO_VALUES) for i, key in cache_keys.items() if i not in cached_pct})

    delivered = sum(kinds.values())
    decided = sum(kinds[k] for k in DECIDED_KINDS)
    quota = prorated_quota(terms.monthly_quota, scope.start, scope.end, scope.tz)
    funnel_counts[Stage.MQL] = delivered
    funnel = []
    previous = None
    for stage in FUNNEL:
        count = funnel_counts.get(stage, 0)
        funnel.append(
            {
                "stage": str(stage),
                "label": Stage(stage).label,
                "count": count,
                "conversion": _rate(count, previous) if previous is not None else None,
            }
        )
        previous = count

    def pareto(kind: str, labels: dict) -> list[dict]:
        items = sorted(reasons[kind].items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(c for _, c in items)
        out, running = [], 0
        for code, count in items:
            running += count
            out.append(
                {
                    "code": code,
                    "label": labels.get(code, code or "No reason given"),
                    "count": count,
                    "share": _rate(count, total),
                    "cumulative": _rate(running, total),
                }
            )
        return out

    names = user_names or {}
    sdr_ids = set(sdrs) | set(risk_sdr)
    sdr_table = []
    for sid in sdr_ids:
        entry = sdrs.get(sid, {"kinds": dict.fromkeys(END_KINDS, 0), "breached": 0, "within": 0})
        k = entry["kinds"]
        acted = sum(k[x] for x in DECIDED_KINDS)
        median, p90 = pct_sdr.get(sid, (None, None))
        open_now = risk_sdr.get(sid, {"open": 0, "at_risk": 0, "overdue": 0})
        sdr_table.append(
            {
                "id": sid,
                "name": names.get(sid, "Unassigned" if sid is None else f"User #{sid}"),
                "passes": sum(k.values()),
                "accepted": k["accepted"],
                "rejected": k["rejected"],
                "recycled": k["recycled"],
                "disqualified": k["disqualified"],
                "acted": acted,
                "acceptance_rate": _rate(k["accepted"], acted),
                "median_hours": median,
                "p90_hours": p90,
                "breaches": entry["breached"],
                "within_target_rate": _rate(entry["within"], acted),
                "open_now": open_now["open"],
                "at_risk_now": open_now["at_risk"],
                "overdue_now": open_now["overdue"],
            }
        )
    sdr_table.sort(key=lambda r: (-r["breaches"], r["name"].lower()))

    trends = []
    for i in range(TREND_WEEKS):
        k = week_rows[i]["kinds"]
        acted = sum(k[x] for x in DECIDED_KINDS)
        median, p90 = pct_week.get(i, (None, None))
        trends.append(
            {
                "index": i,
                "week": _week_label(weeks[i], scope.tz),
                "start": weeks[i].isoformat(),
                "mqls": sum(k.values()),
                "accepted": k["accepted"],
                "acted": acted,
                "acceptance_rate": _rate(k["accepted"], acted),
                "median_hours": median,
                "p90_hours": p90,
                "breaches": week_rows[i]["breached"],
            }
        )

    data = {
        "range": {"start": scope.start.isoformat(), "end": scope.end.isoformat()},
        "catching_up": state.pending,
        "agreement_version": terms.version_number,
        "mql": {
            "delivered": delivered,
            "quota": round(quota, 1),
            "quota_rate": _rate(delivered, quota),
            "monthly_quota": terms.monthly_quota,
        },
        "decisions": {
            **{k: kinds[k] for k in END_KINDS},
            "decided": decided,
            "acceptance_rate": _rate(kinds["accepted"], decided),
            "rejection_rate": _rate(kinds["rejected"], decided),
            "recycle_rate": _rate(kinds["recycled"], decided),
        },
        "response": {
            "acted": pct["n"],
            "median_hours": pct["median"],
            "p90_hours": pct["p90"],
            "within_target": within,
            "within_target_rate": _rate(within, decided),
            "targets": dict(sorted(terms.response_hours.items())),
        },
        "breaches": breached,
        "open_now": risk,
        "followup": {
            **followup,
            "pending": followup["n"] - followup["kept"] - followup["missed"],
            "kept_rate": _rate(followup["kept"], followup["kept"] + followup["missed"]),
            "days": terms.followup_days,
            "attempts": terms.followup_attempts,
        },
        "funnel": funnel,
        "distribution": [
            {"index": i, "label": DISTRIBUTION_LABELS[i], "count": dist[i], "over_target": i >= 4}
            for i in range(len(dist))
        ],
        "distribution_without_target": no_target,
        "reasons": {
            "rejected": pareto("rejected", terms.reject_reasons),
            "recycled": pareto("recycled", terms.recycle_reasons),
        },
        "sdrs": sdr_table,
        "trends": trends,
    }
    return Figures(data)


# --- Drill-down -----------------------------------------------------------------------------------

# metric → (pass source, SQL condition on the pass rows). Each figure above links to one of these.
PASS_METRICS: dict[str, tuple[str, str, str]] = {
    "mqls": ("w", "in_range = 1", "MQLs delivered"),
    "decided": ("w", "in_range = 1 AND acted = 1", "MQLs with a first action"),
    "accepted": ("w", "in_range = 1 AND end_kind = 'accepted'", "Accepted MQLs"),
    "rejected": ("w", "in_range = 1 AND end_kind = 'rejected'", "Rejected MQLs"),
    "recycled": ("w", "in_range = 1 AND end_kind = 'recycled'", "Recycled MQLs"),
    "disqualified": ("w", "in_range = 1 AND end_kind = 'disqualified'", "Disqualified MQLs"),
    "withdrawn": ("w", "in_range = 1 AND end_kind = 'withdrawn'", "MQLs withdrawn by rescoring"),
    "open": ("w", "in_range = 1 AND end_kind = 'open'", "MQLs still waiting for a first action"),
    "within_target": ("w", "in_range = 1 AND acted = 1 AND breached = 0", "First actions within target"),
    "breached": ("w", "in_range = 1 AND breached = 1", "Breached MQLs"),
    "bucket": ("w", "in_range = 1 AND acted = 1 AND bucket = %(bucket)s", "First actions by share of target"),
    "open_now": ("o", "1 = 1", "Open MQLs now"),
    "at_risk": ("o", "warned = 1 AND breached = 0", "Open MQLs at risk (75 % of the time used)"),
    "overdue": ("o", "breached = 1", "Open MQLs past their due time"),
    "followup": ("s", "in_range = 1", "SALs"),
    "followup_kept": ("s", "in_range = 1 AND end_kind <> 'open' AND breached = 0", "SALs followed up in time"),
    "followup_missed": ("s", "in_range = 1 AND breached = 1", "SALs whose follow-up was missed"),
}
FUNNEL_METRICS = {"sal": "Moves into SAL", "sql": "Moves into SQL", "won": "Deals won"}
WEEK_METRICS = {"mqls", "accepted", "decided", "breached"}


@dataclass(frozen=True)
class Drill:
    metric: str
    week: int | None = None
    sdr: int | None = None
    sdr_unassigned: bool = False
    reason: str | None = None
    bucket: int | None = None

    @property
    def valid(self) -> bool:
        if self.metric in FUNNEL_METRICS:
            return self.week is None and self.bucket is None
        if self.metric not in PASS_METRICS:
            return False
        if self.metric == "bucket" and self.bucket is None:
            return False
        if self.week is not None and (self.metric not in WEEK_METRICS or not 0 <= self.week < TREND_WEEKS):
            return False
        return not (self.reason is not None and self.metric not in ("rejected", "recycled"))

    @property
    def title(self) -> str:
        if self.metric in FUNNEL_METRICS:
            return FUNNEL_METRICS[self.metric]
        return PASS_METRICS[self.metric][2]


class DrillRows:
    """A lazily counted, lazily sliced list of the passes behind a figure, for ``Paginator``."""

    def __init__(self, scope: Scope, drill: Drill, terms: SlaTerms):
        self.scope, self.drill, self.terms = scope, drill, terms
        self._count: int | None = None
        sync(terms=terms, now=scope.now, bounded=True)

    def _base(self) -> tuple[str, dict, str]:
        params: dict = {}
        d = self.drill
        if d.metric in FUNNEL_METRICS:
            params["rs"], params["re"], params["to_stage"] = _dt(self.scope.start), _dt(self.scope.end), d.metric
            owner = ""
            if self.scope.sdr_id:
                params["sdr_id"] = self.scope.sdr_id
                owner = " AND p.start_owner_id = %(sdr_id)s"
            params["calendar_key"] = self.terms.key
            sql = (
                "SELECT p.pass_id, p.lead_id, p.start_at, p.grade, NULL AS end_at, NULL AS reason_code,"
                " p.start_owner_id AS sdr_id, p.stage AS end_kind, NULL AS target_seconds,"
                " NULL AS elapsed_seconds, 0 AS breached FROM sla_pass p"
                " WHERE p.calendar_key = %(calendar_key)s AND p.stage = %(to_stage)s"
                " AND p.start_at >= %(rs)s AND p.start_at < %(re)s" + _lead_filters(self.scope, params) + owner
            )
            return sql, params, "x"
        prefix, condition, _ = PASS_METRICS[d.metric]
        source = "open" if prefix == "o" else "window"
        stage = Stage.SAL if prefix == "s" else Stage.MQL
        ctes = _passes_ctes(
            prefix=prefix, source=source, scope=self.scope, terms=self.terms, params=params, stage=stage
        )
        if d.week is not None:
            condition = condition.replace("in_range = 1", "week_idx = %(week)s")
            params["week"] = d.week
        if d.bucket is not None:
            params["bucket"] = d.bucket
        if d.reason is not None:
            condition += " AND reason_code = %(reason)s"
            params["reason"] = d.reason
        if d.sdr_unassigned:
            condition += " AND sdr_id IS NULL"
        elif d.sdr is not None:
            condition += " AND sdr_id = %(drill_sdr)s"
            params["drill_sdr"] = d.sdr
        sql = (
            f"WITH {ctes} SELECT pass_id, lead_id, start_at, grade, end_at, reason_code, sdr_id, end_kind,"
            f" target_seconds, elapsed_seconds, breached FROM {prefix}q WHERE {condition}"
        )
        return sql, params, prefix

    def count(self) -> int:
        if self._count is None:
            sql, params, _ = self._base()
            self._count = int(_run(f"SELECT COUNT(*) FROM ({sql}) c", params)[0][0])
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("DrillRows only supports slicing")
        start, stop = item.start or 0, item.stop
        sql, params, _ = self._base()
        params["limit"], params["offset"] = (stop - start) if stop is not None else 1_000_000, start
        rows = _run(f"{sql} ORDER BY start_at DESC, pass_id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
        keys = (
            "pass_id",
            "lead_id",
            "start_at",
            "grade",
            "end_at",
            "reason_code",
            "sdr_id",
            "end_kind",
            "target_seconds",
            "elapsed_seconds",
            "breached",
        )
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["start_at"] = _parse_dt(item["start_at"])
            item["end_at"] = _parse_dt(item["end_at"])
            item["elapsed_hours"] = _hours(item["elapsed_seconds"])
            item["target_hours"] = _hours(item["target_seconds"])
            out.append(item)
        return out


_parse_dt = S.parse_dt
