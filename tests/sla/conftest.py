"""Helpers for SLA tests: an active agreement and lifecycle histories written as Transition rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from leads.models import Stage, Transition
from sla.clock import current_terms
from sla.passes import refresh
from tests.factories import AgreementVersionFactory, LeadFactory

UTC = dt.UTC


def refreshed(now: dt.datetime | None = None) -> int:
    """What the refresh task does after a move: pages only read, so tests catch the figures up first."""
    return refresh(terms=current_terms(), now=now)


@pytest.fixture
def agreement(db):
    return AgreementVersionFactory()


def at(text: str) -> dt.datetime:
    """'2026-03-02 10:00' in UTC (London is UTC in winter; the default calendar is Europe/London)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def history(lead, *moves, version=None):
    """Write ``(stage, when, actor, reason)`` moves for ``lead`` and leave ``lead.stage`` on the last one."""
    previous = ""
    rows = []
    for move in moves:
        stage, when, *rest = move
        actor = rest[0] if rest else None
        reason = rest[1] if len(rest) > 1 else ""
        rows.append(
            Transition(
                lead=lead,
                from_stage=previous,
                to_stage=stage,
                at=when,
                actor=actor,
                owner=actor or lead.owner,
                reason_code=reason,
                grade=lead.grade if stage == Stage.MQL else "",
                agreement_version=version,
            )
        )
        previous = stage
    Transition.objects.bulk_create(rows)
    lead.stage = previous
    lead.save(update_fields=["stage"])
    return rows


@pytest.fixture
def make_mql(team):
    """make_mql(owner, mql_at, grade="A", **lead fields) → an open MQL lead with its history."""

    def _make(owner, mql_at, grade="A", **fields):
        lead = LeadFactory(owner=owner, team=team, grade=grade, **fields)
        history(lead, (Stage.NEW, mql_at - dt.timedelta(days=1)), (Stage.MQL, mql_at))
        return lead

    return _make


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """``with on_commit(execute=True):`` runs the callbacks a test transaction would never commit."""
    return django_capture_on_commit_callbacks


def recent(days_ago: float, hour: int = 10) -> dt.datetime:
    """A weekday ``days_ago`` days back at ``hour`` UTC (weekends moved to Friday)."""
    day = timezone.now() - dt.timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


@pytest.fixture
def figures_data(agreement, sdr, sdr2, team):
    """sdr1: 3 accepted, 1 rejected (bad_fit). sdr2: 2 accepted. Each MQL in the last three weeks."""
    leads = []
    for i, (owner, end, reason) in enumerate(
        [
            (sdr, "sal", ""),
            (sdr, "sal", ""),
            (sdr, "sal", ""),
            (sdr, "rejected", "bad_fit"),
            (sdr2, "sal", ""),
            (sdr2, "sal", ""),
        ]
    ):
        lead = LeadFactory(owner=owner, team=team, grade="A", source="website" if i % 2 else "event")
        mql = recent(3 + i * 2)
        history(
            lead, ("new", mql - dt.timedelta(days=1)), ("mql", mql), (end, mql + dt.timedelta(hours=1), owner, reason)
        )
        leads.append(lead)
    refreshed()
    return leads
