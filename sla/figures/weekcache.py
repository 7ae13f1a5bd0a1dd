"""Median and p90 of finished trend weeks, cached: they change only when one of their days is re-aggregated."""

from __future__ import annotations

import hashlib

from django.core.cache import cache
from django.db import transaction

from sla.clock import SlaTerms
from sla.figures.rolled import Plan
from sla.passes import Freshness
from sla.weeks import TREND_WEEKS, Scope

__all__ = ["NO_VALUES", "cache_get", "cache_set", "week_cache_keys"]

NO_VALUES = ("none", "none")  # cached marker: the week had no first action under these filters


def week_cache_keys(scope: Scope, terms: SlaTerms, plan: Plan, state: Freshness) -> dict[int, str]:
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


def cache_get(keys: dict[int, str]) -> dict[int, tuple]:
    found = cache.get_many(list(keys.values())) if keys else {}
    return {i: tuple(found[key]) for i, key in keys.items() if key in found}


def cache_set(values: dict) -> None:
    """Store on commit: a value read in a transaction that rolls back must never be served."""
    if values:
        transaction.on_commit(lambda: cache.set_many(values, timeout=14 * 24 * 3600))
