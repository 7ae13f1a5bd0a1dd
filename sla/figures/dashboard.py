"""Every figure of the dashboard and the weekly report: one statement, its rows folded into one dict."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import zoneinfo

from leads.inbox.selectors import ReasonWords, reason_words
from leads.models import Stage
from sla.clock import SlaTerms, current_terms
from sla.figures.drill import hours
from sla.figures.rolled import plan_for, rollup_figures_sql
from sla.figures.statement import figures_sql
from sla.figures.weekcache import NO_VALUES, cache_get, cache_set, week_cache_keys
from sla.pass_sql import DECIDED_KINDS, DISTRIBUTION_EDGES, DISTRIBUTION_LABELS, END_KINDS, run
from sla.passes import freshness
from sla.weeks import TREND_WEEKS, Scope, week_label

__all__ = ["FUNNEL", "compute", "prorated_quota"]

FUNNEL = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.WON)


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


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _sdr_key(value):
    return int(value) if value not in (None, "") else None


def _no_kinds() -> dict:
    return dict.fromkeys(END_KINDS, 0)


class _Rows:
    """The statement's grouped ``(section, k1, k2, n, v1, v2)`` rows, sorted into plain dictionaries."""

    def __init__(self) -> None:
        self.kinds = _no_kinds()
        self.breached = self.within = self.no_target = 0
        self.reasons: dict[str, dict[str, int]] = {"rejected": {}, "recycled": {}}
        self.sdrs: dict = {}
        self.dist = [0] * (len(DISTRIBUTION_EDGES) + 1)
        self.weeks = {i: {"kinds": _no_kinds(), "breached": 0} for i in range(TREND_WEEKS)}
        self.pct = {"n": 0, "median": None, "p90": None}
        self.pct_week: dict[int, tuple] = {}
        self.pct_sdr: dict = {}
        self.risk = {"open": 0, "at_risk": 0, "overdue": 0}
        self.risk_sdr: dict = {}
        self.followup = {"n": 0, "kept": 0, "missed": 0}
        self.funnel: dict[str, int] = {}

    def add(self, section, k1, k2, n, v1, v2) -> None:
        getattr(self, f"_{section}")(k1, k2, int(n or 0), v1, v2)

    def _kind(self, kind, _, n, breached, within):
        self.kinds[kind] = n
        self.breached += int(breached or 0)
        self.within += int(within or 0)

    def _reason(self, kind, code, n, *_):
        self.reasons[kind][code or ""] = n

    def _sdr(self, sdr, kind, n, breached, within):
        entry = self.sdrs.setdefault(_sdr_key(sdr), {"kinds": _no_kinds(), "breached": 0, "within": 0})
        entry["kinds"][kind] = n
        entry["breached"] += int(breached or 0)
        entry["within"] += int(within or 0)

    def _dist(self, bucket, _, n, *__):
        if int(bucket) < 0:
            self.no_target += n
        else:
            self.dist[int(bucket)] = n

    def _week(self, week, kind, n, breached, _):
        self.weeks[int(week)]["kinds"][kind] = n
        self.weeks[int(week)]["breached"] += int(breached or 0)

    def _pct(self, _, __, n, median, p90):
        self.pct = {"n": n, "median": hours(median) if n else None, "p90": hours(p90) if n else None}

    def _pct_week(self, week, _, __, median, p90):
        self.pct_week[int(week)] = (hours(median), hours(p90))

    def _pct_sdr(self, sdr, _, __, median, p90):
        self.pct_sdr[_sdr_key(sdr)] = (hours(median), hours(p90))

    def _risk(self, _, __, n, at_risk, overdue):
        self.risk = {"open": n, "at_risk": int(at_risk or 0), "overdue": int(overdue or 0)}

    def _risk_sdr(self, sdr, _, n, at_risk, overdue):
        self.risk_sdr[_sdr_key(sdr)] = {"open": n, "at_risk": int(at_risk or 0), "overdue": int(overdue or 0)}

    def _followup(self, _, __, n, kept, missed):
        self.followup = {"n": n, "kept": int(kept or 0), "missed": int(missed or 0)}

    def _funnel(self, stage, _, n, *__):
        self.funnel[stage] = n


def _read_rows(scope: Scope, terms: SlaTerms, *, use_rollup: bool) -> tuple[_Rows, bool, dt.datetime | None]:
    """Run the dashboard statement (over the roll-up where it can); rows, "refreshing" and "as of"."""
    weeks = scope.week_starts
    cal_tz = terms.calendar.tz
    span = (
        min(scope.start, weeks[0]).astimezone(cal_tz).date() - dt.timedelta(days=1),
        max(scope.end, weeks[-1]).astimezone(cal_tz).date(),
    )
    state = freshness(terms=terms, now=scope.now, span=span)
    cached: dict[int, tuple] = {}
    keys: dict[int, str] = {}
    if state.rollup and use_rollup:
        plan = plan_for(scope, terms, stale=set(state.stale))
        keys = week_cache_keys(scope, terms, plan, state)
        cached = cache_get(keys)
        statement = rollup_figures_sql(scope, terms, plan, pct_weeks=[i for i in range(TREND_WEEKS) if i not in cached])
    else:
        statement = figures_sql(scope, terms)
    rows = _Rows()
    for row in run(statement):
        rows.add(*row)
    rows.pct_week.update({i: value for i, value in cached.items() if value != NO_VALUES})
    cache_set({key: rows.pct_week.get(i, NO_VALUES) for i, key in keys.items() if i not in cached})
    return rows, state.refreshing, state.as_of


def _funnel(rows: _Rows, delivered: int) -> list[dict]:
    counts = {**rows.funnel, Stage.MQL: delivered}
    out, previous = [], None
    for stage in FUNNEL:
        count = counts.get(stage, 0)
        conversion = _rate(count, previous) if previous is not None else None
        out.append({"stage": str(stage), "label": Stage(stage).label, "count": count, "conversion": conversion})
        previous = count
    return out


def _pareto(counts: dict[str, int], words: ReasonWords, at: dt.datetime) -> list[dict]:
    """Reasons by count; each bar reads as the reason's words in the version in force at the range's end."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(c for _, c in items)
    out, running = [], 0
    for code, count in items:
        running += count
        out.append(
            {
                "code": code,
                "label": words.label(code, at=at) if code else "No reason given",
                "count": count,
                "share": _rate(count, total),
                "cumulative": _rate(running, total),
            }
        )
    return out


def _sdr_table(rows: _Rows, names: dict) -> list[dict]:
    table = []
    for sid in set(rows.sdrs) | set(rows.risk_sdr):
        entry = rows.sdrs.get(sid, {"kinds": _no_kinds(), "breached": 0, "within": 0})
        k = entry["kinds"]
        acted = sum(k[x] for x in DECIDED_KINDS)
        median, p90 = rows.pct_sdr.get(sid, (None, None))
        open_now = rows.risk_sdr.get(sid, {"open": 0, "at_risk": 0, "overdue": 0})
        table.append(
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
    table.sort(key=lambda r: (-r["breaches"], r["name"].lower()))
    return table


def _trends(rows: _Rows, scope: Scope) -> list[dict]:
    weeks = scope.week_starts
    out = []
    for i in range(TREND_WEEKS):
        k = rows.weeks[i]["kinds"]
        acted = sum(k[x] for x in DECIDED_KINDS)
        median, p90 = rows.pct_week.get(i, (None, None))
        out.append(
            {
                "index": i,
                "week": week_label(weeks[i], scope.tz),
                "start": weeks[i].isoformat(),
                "mqls": sum(k.values()),
                "accepted": k["accepted"],
                "acted": acted,
                "acceptance_rate": _rate(k["accepted"], acted),
                "median_hours": median,
                "p90_hours": p90,
                "breaches": rows.weeks[i]["breached"],
            }
        )
    return out


def compute(
    scope: Scope,
    *,
    terms: SlaTerms | None = None,
    user_names: dict | None = None,
    words: ReasonWords | None = None,
    use_rollup: bool = True,
) -> dict:
    """Every figure for ``scope``, read from the pass table and roll-up as the last refresh left them.

    Writes nothing: ``as_of`` and ``refreshing`` say how far the stored passes lag the log. On
    PostgreSQL the statement reads the daily roll-up where it can; ``use_rollup=False`` reads only
    the passes (the SQLite path), which tests use as a second opinion.
    """
    terms = terms or current_terms()
    words = words or reason_words()
    rows, refreshing, as_of = _read_rows(scope, terms, use_rollup=use_rollup)
    kinds = rows.kinds
    delivered = sum(kinds.values())
    decided = sum(kinds[k] for k in DECIDED_KINDS)
    # Marketing's quota is the organisation's (or one team's, in a team's weekly report): one SDR's
    # MQLs, or one source's or persona's, are a slice of it and are never measured against it.
    quota_applies = not (scope.sdr_id or scope.source or scope.persona_id)
    quota = prorated_quota(terms.monthly_quota, scope.start, scope.end, scope.tz) if quota_applies else 0.0
    followup = rows.followup
    labels_at = min(scope.end, scope.now)
    return {
        "range": {"start": scope.start.isoformat(), "end": scope.end.isoformat()},
        "as_of": as_of.isoformat() if as_of else None,
        "refreshing": refreshing,
        "agreement_version": terms.version_number,
        "mql": {
            "delivered": delivered,
            "quota": round(quota, 1) if quota_applies else None,
            "quota_rate": _rate(delivered, quota),
            "quota_applies": quota_applies,
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
            "acted": rows.pct["n"],
            "median_hours": rows.pct["median"],
            "p90_hours": rows.pct["p90"],
            "within_target": rows.within,
            "within_target_rate": _rate(rows.within, decided),
            "targets": dict(sorted(terms.response_hours.items())),
        },
        "breaches": rows.breached,
        "open_now": rows.risk,
        "followup": {
            **followup,
            "pending": followup["n"] - followup["kept"] - followup["missed"],
            "kept_rate": _rate(followup["kept"], followup["kept"] + followup["missed"]),
            "days": terms.followup_days,
            "attempts": terms.followup_attempts,
        },
        "funnel": _funnel(rows, delivered),
        "distribution": [
            {"index": i, "label": DISTRIBUTION_LABELS[i], "count": rows.dist[i], "over_target": i >= 4}
            for i in range(len(rows.dist))
        ],
        "distribution_without_target": rows.no_target,
        "reasons": {kind: _pareto(rows.reasons[kind], words, labels_at) for kind in ("rejected", "recycled")},
        "sdrs": _sdr_table(rows, user_names or {}),
        "trends": _trends(rows, scope),
    }
