"""Evidence before signing: how a draft definition would have performed on real, recent history.

"Would have been an MQL" — every lead created in the last N days is scored as of its 14th day
(``created_at + AS_OF_DAYS``, or now for younger leads) with its current firmographics and the
activities it had by then. Draft and active definitions are judged the same way, so the
comparison is fair; actual outcomes (accepted, recycled, rejected, SQL, won) come from the
lead's ``Transition`` log.

Both definitions run through the scoring engine's compiler (``leads.scoring.scorer.annotate_scores``,
the same truth as rescoring), each exactly once, in a read-only statement that returns the ids
(and creation times) of the leads it qualifies. Outcomes are aggregated per lead in SQL (one
grouped pass over the window's transitions, no per-lead subqueries). The tallies are then set
operations on those id sets — new, dropped, missed — which costs milliseconds even at 100,000
leads, whereas grouping by both definitions in SQL would evaluate them again for every figure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db import connection, transaction
from django.db import models as m
from django.db.models import Count, Exists, ExpressionWrapper, F, OuterRef, Q, Value
from django.db.models.functions import Least
from django.utils import timezone

from leads.inbox.selectors import reason_words
from leads.models import Activity, Lead, Stage, Transition
from leads.scoring.scorer import annotate_scores

DEFAULT_DAYS = 90
DAY_CHOICES = (30, 60, 90, 180, 365)
AS_OF_DAYS = 14
EXAMPLES = 10
CACHE_SECONDS = 600
SMALL_SAMPLE = 30

OUTCOMES = ("accepted", "recycled", "rejected", "sql", "won")
# Outcome bits of a lead: the distinct bits of its transitions summed (a bitwise OR that SQLite
# and PostgreSQL both evaluate). Won implies SQL.
OUTCOME_BITS = {"accepted": 1, "recycled": 2, "rejected": 4, "sql": 8 | 16, "won": 16}


def as_of(now: dt.datetime):
    """The instant each lead is judged at: its 14th day, or ``now`` if it is younger."""
    fourteenth = ExpressionWrapper(
        F("created_at") + Value(dt.timedelta(days=AS_OF_DAYS)), output_field=m.DateTimeField()
    )
    return Least(fourteenth, Value(now, output_field=m.DateTimeField()), output_field=m.DateTimeField())


def population(*, days: int, now: dt.datetime):
    """Leads created in the last ``days`` days (up to ``now``)."""
    return Lead.objects.filter(created_at__gt=now - dt.timedelta(days=days), created_at__lte=now)


def qualifying_ids(queryset, spec: dict, *, now: dt.datetime):
    """The leads of ``queryset`` that meet ``spec`` as of their 14th day (a queryset of ids)."""
    return annotate_scores(queryset.order_by(), spec, now=as_of(now)).filter(sc_qualifies=True).values("pk")


def _reached(*stages: str) -> Exists:
    return Exists(Transition.objects.filter(lead_id=OuterRef("pk"), to_stage__in=stages))


def has(mask: int, outcome: str) -> bool:
    return bool(mask & OUTCOME_BITS[outcome])


def outcomes_by_lead(*, days: int, now: dt.datetime) -> dict[int, tuple[int, str]]:
    """Lead id → (outcome bits, a rejection reason) for the window's leads that have any outcome."""
    bit = m.Case(
        m.When(to_stage=Stage.SAL, then=Value(1)),
        m.When(Q(to_stage=Stage.NURTURE, from_stage__in=(Stage.MQL, Stage.SAL)), then=Value(2)),
        m.When(to_stage=Stage.REJECTED, then=Value(4)),
        m.When(to_stage=Stage.SQL, then=Value(8)),
        m.When(to_stage=Stage.WON, then=Value(16)),
        default=Value(0),
        output_field=m.IntegerField(),
    )
    rows = (
        Transition.objects.filter(
            lead__created_at__gt=now - dt.timedelta(days=days),
            lead__created_at__lte=now,
            to_stage__in=(Stage.SAL, Stage.NURTURE, Stage.REJECTED, Stage.SQL, Stage.WON),
        )
        .values("lead_id")
        .annotate(
            mask=m.Sum(bit, distinct=True),
            reason=m.Max("reason_code", filter=Q(to_stage=Stage.REJECTED)),
        )
        .order_by()
        .values_list("lead_id", "mask", "reason")
    )
    return {lead_id: (mask or 0, reason or "") for lead_id, mask, reason in rows if mask}


@dataclass
class Side:
    """What one definition would have done: MQLs and what SDRs actually did with them."""

    mql: int = 0
    accepted: int = 0
    recycled: int = 0
    rejected: int = 0
    sql: int = 0
    won: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def tally(self, ids, outcomes: dict[int, tuple[int, str]]) -> None:
        self.mql = len(ids)
        for pk in ids:
            mask, reason = outcomes.get(pk, (0, ""))
            for outcome in OUTCOMES:
                if has(mask, outcome):
                    setattr(self, outcome, getattr(self, outcome) + 1)
            if has(mask, "rejected"):
                self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def rate(self, outcome: str) -> float | None:
        return getattr(self, outcome) / self.mql if self.mql else None

    def top_reasons(self, labels: dict[str, str], n: int = 5) -> list[dict]:
        ranked = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        total = sum(self.reasons.values())
        return [
            {"code": c, "label": labels.get(c, c or "No reason given"), "count": k, "share": k / total}
            for c, k in ranked
        ]


@dataclass
class Backtest:
    days: int
    now: dt.datetime
    leads: int = 0
    draft: Side = field(default_factory=Side)
    active: Side = field(default_factory=Side)
    both: int = 0
    new: int = 0  # MQL under the draft only
    dropped: int = 0  # MQL under the active version only
    missed: int = 0  # reached SQL or won, but not an MQL under the draft
    missed_active: int = 0  # the same, under the active version
    converted: int = 0  # reached SQL or won at all
    weeks: list[dict] = field(default_factory=list)
    examples: dict[str, list[int]] = field(default_factory=dict)  # category → newest lead ids

    def per_month(self, count: int) -> float:
        return count * 30.44 / self.days


@contextmanager
def _analytics():
    """One transaction for the read-only statements, with PostgreSQL's JIT off.

    These statements cost just above the JIT threshold, where compiling them takes longer (0.4 s
    and more) than running them.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def _in_own_connection(work):
    """Run ``work`` in this thread's own database connection, closed afterwards."""
    try:
        with _analytics():
            return work()
    finally:
        connection.close()


def run_side_by_side(*passes, progress: Callable[[int, int], None] | None = None):
    """Run read-only passes two at a time on two connections (a scoring pass keeps one core busy).

    Inside an open transaction (tests, or a caller's atomic block) another connection could not
    see uncommitted rows, so the passes then run one after the other on the current connection.
    ``progress(done, total)`` is told each time a pass has finished (for a progress bar).
    """
    report = progress or (lambda done, total: None)
    if len(passes) == 1 or connection.in_atomic_block or connection.vendor != "postgresql":
        results = []
        with _analytics():
            for work in passes:
                results.append(work())
                report(len(results), len(passes))
        return tuple(results)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="backtest") as pool:
        futures = [pool.submit(_in_own_connection, work) for work in passes]
        for done, _ in enumerate(as_completed(futures), start=1):
            report(done, len(passes))
        return tuple(f.result() for f in futures)


def week_start(at: dt.datetime) -> dt.date:
    day = timezone.localtime(at, dt.UTC).date()
    return day - dt.timedelta(days=day.weekday())


@dataclass
class Baseline:
    """The active version's side of a backtest, reusable while the draft changes."""

    now: dt.datetime
    active: dict[int, dt.datetime]  # qualifying lead id → created_at
    outcomes: dict[int, tuple[int, str]]
    total: int


def run_backtest(
    *, draft_spec: dict, active_spec: dict, days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> Backtest:
    """Compare two definitions over the leads of the last ``days`` days (each evaluated once)."""
    return _backtest(draft_spec=draft_spec, active_spec=active_spec, days=days, now=now or timezone.now())[0]


def _backtest(
    *, draft_spec: dict, active_spec: dict, days: int, now: dt.datetime, baseline: Baseline | None = None
) -> tuple[Backtest, Baseline]:
    base = population(days=days, now=now)

    def qualifying(spec: dict):
        return lambda: dict(qualifying_ids(base, spec, now=now).values_list("pk", "created_at"))

    def history():
        return outcomes_by_lead(days=days, now=now), base.count()

    if baseline is None:
        draft, active, (outcomes, total) = run_side_by_side(qualifying(draft_spec), qualifying(active_spec), history)
        baseline = Baseline(now=now, active=active, outcomes=outcomes, total=total)
    else:
        (draft,) = run_side_by_side(qualifying(draft_spec))
    return _tally(draft, baseline, days), baseline


def _tally(draft: dict[int, dt.datetime], baseline: Baseline, days: int) -> Backtest:
    """The figures of the panel: set operations on the two qualifying sets and the outcomes."""
    active, outcomes, now = baseline.active, baseline.outcomes, baseline.now
    result = Backtest(days=days, now=now, leads=baseline.total)
    result.draft.tally(draft, outcomes)
    result.active.tally(active, outcomes)
    result.both = len(draft.keys() & active.keys())
    result.new = len(draft) - result.both
    result.dropped = len(active) - result.both
    converted = {pk for pk, (mask, _) in outcomes.items() if has(mask, "sql")}
    result.converted = len(converted)
    result.missed = len(converted - draft.keys())
    result.missed_active = len(converted - active.keys())

    weekly: dict[dt.date, dict] = {}
    day = week_start(now - dt.timedelta(days=days))
    while day <= week_start(now):
        weekly[day] = {"week": day, "draft": 0, "active": 0}
        day += dt.timedelta(days=7)
    for key, ids in (("draft", draft), ("active", active)):
        for created_at in ids.values():
            week = week_start(created_at)
            weekly.setdefault(week, {"week": week, "draft": 0, "active": 0})[key] += 1
    result.weeks = [weekly[w] for w in sorted(weekly)]

    def newest(ids: dict, exclude) -> list[int]:
        ranked = sorted(((at, pk) for pk, at in ids.items() if pk not in exclude), reverse=True)
        return [pk for _, pk in ranked[:EXAMPLES]]

    created = {**active, **draft}
    result.examples = {
        "missed": newest(_created_at(converted - draft.keys(), created), ()),
        "new": newest(draft, active),
        "dropped": newest(active, draft),
    }
    return result


def _created_at(ids: set[int], known: dict[int, dt.datetime]) -> dict[int, dt.datetime]:
    """Creation times of ``ids`` (from the qualifying sets where known, else one small query)."""
    found = {pk: known[pk] for pk in ids if pk in known}
    missing = ids - found.keys()
    if missing:
        found.update(Lead.objects.filter(pk__in=missing).values_list("pk", "created_at"))
    return found


def example_leads(result: Backtest) -> dict[str, list[Lead]]:
    """The example leads of a backtest, loaded in one query."""
    wanted = {pk for ids in result.examples.values() for pk in ids}
    leads = {lead.pk: lead for lead in Lead.objects.filter(pk__in=wanted).select_related("account", "owner")}
    return {category: [leads[pk] for pk in ids if pk in leads] for category, ids in result.examples.items()}


def spec_key(*parts) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def _data_mark() -> tuple:
    """Newest lead, activity and transition ids: any new history changes the cache key."""
    return tuple(model.objects.aggregate(m.Max("pk"))["pk__max"] for model in (Lead, Activity, Transition))


def cached_backtest(*, draft_spec: dict, active_spec: dict, days: int) -> Backtest:
    """The backtest, cached for ten minutes per (both specs, days, the hour, the newest history).

    The active version's side (its qualifying leads and the outcomes) is cached on its own, so a
    leader who edits the draft and looks again waits for the draft's pass only; the draft is then
    judged at the same instant as the cached baseline.
    """
    now = timezone.now()
    scope = (days, now.strftime("%Y%m%d%H"), _data_mark())
    key = "accord:backtest:" + spec_key(draft_spec, active_spec, *scope)
    result = cache.get(key)
    if result is not None:
        return result
    baseline_key = "accord:backtest-baseline:" + spec_key(active_spec, *scope)
    baseline = cache.get(baseline_key)
    result, baseline = _backtest(
        draft_spec=draft_spec,
        active_spec=active_spec,
        days=days,
        now=baseline.now if baseline else now,
        baseline=baseline,
    )
    cache.set_many({key: result, baseline_key: baseline}, CACHE_SECONDS)
    return result


# --- Rejections of what met a definition ----------------------------------------------------------


def rejection_reasons(*, spec: dict, days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> list[dict]:
    """Top SDR rejection reasons for leads that met ``spec`` (as of their 14th day) in the last ``days``."""
    now = now or timezone.now()
    met = qualifying_ids(population(days=days, now=now), spec, now=now)
    rows = (
        Transition.objects.filter(to_stage=Stage.REJECTED, lead_id__in=met)
        .values("reason_code")
        .annotate(n=Count("lead_id", distinct=True))
        .order_by("-n", "reason_code")[:8]
    )
    with _analytics():
        rows = list(rows)
    labels = reason_words().labels_at(now, {r["reason_code"] for r in rows})
    total = sum(r["n"] for r in rows)
    return [
        {
            "code": r["reason_code"],
            "label": labels.get(r["reason_code"], r["reason_code"] or "No reason given"),
            "count": r["n"],
            "share_pct": 100 * r["n"] / total if total else 0,
        }
        for r in rows
    ]
