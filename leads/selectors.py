"""Reads shared by the overview and lead pages: aggregated in SQL, a fixed number of queries."""

from __future__ import annotations

from django.db.models import Count

from leads.models import Lead, Stage, Transition


def stage_counts() -> list[dict]:
    """Every stage with its lead count (zero included), in lifecycle order."""
    counts = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).order_by())
    return [{"stage": value, "label": label, "count": counts.get(value, 0)} for value, label in Stage.choices]


def latest_transitions(limit: int = 15):
    return Transition.objects.select_related("lead", "actor", "lead__account").order_by("-at", "-id")[:limit]
