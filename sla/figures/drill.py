"""The passes behind one figure of the dashboard (its drill-down list), paginated in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from leads.models import Stage
from leads.sql import Fragment, sql
from sla import sql as S
from sla.clock import SlaTerms
from sla.pass_sql import lead_filters, passes_ctes, run
from sla.passes import freshness
from sla.sql import fill
from sla.weeks import TREND_WEEKS, Scope

__all__ = ["FUNNEL_METRICS", "PASS_METRICS", "Drill", "DrillRows", "hours"]


def hours(seconds) -> float | None:
    return round(float(seconds) / 3600, 2) if seconds is not None else None


# metric → (pass source, SQL condition on the pass rows). Each figure above links to one of these.
PASS_METRICS: dict[str, tuple[str, str, str]] = {
    "mqls": ("w", "in_range = 1", "MQLs handed to sales"),
    "decided": ("w", "in_range = 1 AND acted = 1", "MQLs with a first action"),
    "accepted": ("w", "in_range = 1 AND end_kind = 'accepted'", "Accepted MQLs"),
    "rejected": ("w", "in_range = 1 AND end_kind = 'rejected'", "Rejected MQLs"),
    "recycled": ("w", "in_range = 1 AND end_kind = 'recycled'", "Recycled MQLs"),
    "disqualified": ("w", "in_range = 1 AND end_kind = 'disqualified'", "Disqualified MQLs"),
    "withdrawn": ("w", "in_range = 1 AND end_kind = 'withdrawn'", "MQLs withdrawn by rescoring"),
    "open": ("w", "in_range = 1 AND end_kind = 'open'", "MQLs still waiting for a first action"),
    "within_target": ("w", "in_range = 1 AND acted = 1 AND breached = 0", "First actions within target"),
    "breached": ("w", "in_range = 1 AND breached = 1", "Breached MQLs"),
    "bucket": ("w", "in_range = 1 AND acted = 1 AND bucket = {bucket}", "First actions by share of target"),
    "open_now": ("o", "1 = 1", "Open MQLs now"),
    "at_risk": ("o", "warned = 1 AND breached = 0", "Open MQLs due soon (75 % of the target time used)"),
    "overdue": ("o", "breached = 1", "Open MQLs past their due time"),
    "followup": ("s", "in_range = 1", "SALs"),
    "followup_kept": (
        "s",
        "in_range = 1 AND end_kind <> 'open' AND breached = 0",
        "Accepted leads followed up in time",
    ),
    "followup_missed": ("s", "in_range = 1 AND breached = 1", "Accepted leads whose follow-up was missed"),
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
        self.freshness = freshness(terms=terms, now=scope.now)  # raises FiguresPreparing before the first build

    def _base(self) -> Fragment:
        """The passes behind the figure; ``sla_pass_stage_start_idx`` or ``sla_pass_open_cover_idx`` as in
        ``passes_ctes``, the funnel's moves by ``sla_pass_stage_start_idx`` (stage, start_at)."""
        d = self.drill
        if d.metric in FUNNEL_METRICS:
            owner = sql(" AND p.start_owner_id = {s}", s=self.scope.sdr_id) if self.scope.sdr_id else Fragment("")
            return sql(
                "SELECT p.pass_id, p.lead_id, p.start_at, p.grade, NULL AS end_at, NULL AS reason_code,"
                " p.start_owner_id AS sdr_id, p.stage AS end_kind, NULL AS target_seconds,"
                " NULL AS elapsed_seconds, 0 AS breached FROM sla_pass p"
                " WHERE p.calendar_key = {key} AND p.stage = {stage}"
                " AND p.start_at >= {rs} AND p.start_at < {re}{filters}{owner}",
                key=self.terms.key,
                stage=d.metric,
                rs=S.param_dt(self.scope.start),
                re=S.param_dt(self.scope.end),
                filters=lead_filters(self.scope),
                owner=owner,
            )
        prefix, condition, _ = PASS_METRICS[d.metric]
        source = "open" if prefix == "o" else "window"
        stage = Stage.SAL if prefix == "s" else Stage.MQL
        ctes = passes_ctes(prefix=prefix, source=source, scope=self.scope, terms=self.terms, stage=stage)
        if d.week is not None:
            condition = condition.replace("in_range = 1", "week_idx = {week}")
        if d.reason is not None:
            condition += " AND reason_code = {reason}"
        if d.sdr_unassigned:
            condition += " AND sdr_id IS NULL"
        elif d.sdr is not None:
            condition += " AND sdr_id = {sdr}"
        values = {"week": d.week, "bucket": d.bucket, "reason": d.reason, "sdr": d.sdr}
        return sql(
            "WITH {ctes} SELECT pass_id, lead_id, start_at, grade, end_at, reason_code, sdr_id, end_kind,"
            " target_seconds, elapsed_seconds, breached FROM {q} WHERE {condition}",
            ctes=ctes,
            q=S.text(f"{prefix}q"),
            condition=fill(condition, values),
        )

    def count(self) -> int:
        if self._count is None:
            self._count = int(run(sql("SELECT COUNT(*) FROM ({base}) c", base=self._base()))[0][0])
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("DrillRows only supports slicing")
        start, stop = item.start or 0, item.stop
        rows = run(
            sql(
                "{base} ORDER BY start_at DESC, pass_id DESC LIMIT {limit} OFFSET {offset}",
                base=self._base(),
                limit=(stop - start) if stop is not None else 1_000_000,
                offset=start,
            )
        )
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
            item["start_at"] = S.parse_dt(item["start_at"])
            item["end_at"] = S.parse_dt(item["end_at"])
            item["elapsed_hours"] = hours(item["elapsed_seconds"])
            item["target_hours"] = hours(item["target_seconds"])
            out.append(item)
        return out
