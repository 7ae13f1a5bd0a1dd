"""A past lead's path: its real creation time and the stages it reached, checked before it is stored.

History comes either as a list of steps — ``[{"stage": "sql", "at": …}, {"stage": "won", "at": …}]``
— or, from a CSV, as the furthest stage reached and its date. A path is refused, with a message a
person can act on, when a date lies in the future, a step comes before the lead was created or
before the step it follows, or a stage cannot follow the previous one (nothing follows won, lost,
rejected or disqualified; a path only moves forward through mql → sal → sql → won/lost).
The lifecycle module writes the accepted steps as historical transitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from leads.intake.writes import FieldError, parse_moment
from leads.lifecycle import HISTORY_STAGES, allowed_in_history
from leads.models import Stage

__all__ = [
    "OUTCOME_WORDS",
    "HistoryError",
    "outcome_stage",
    "Step",
    "clean_history",
    "clean_created_at",
    "steps_from_outcome",
]

_CLOSED = {Stage.WON, Stage.LOST, Stage.REJECTED, Stage.DISQUALIFIED}
FUTURE_TOLERANCE = dt.timedelta(minutes=10)


class HistoryError(FieldError):
    """A path that cannot be stored; ``field`` names where (``created_at``, ``history``, ``history.2.at``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Step:
    stage: str
    at: dt.datetime


def _moment(value: Any, field: str) -> dt.datetime:
    try:
        return parse_moment(value)
    except FieldError as exc:
        raise HistoryError(field, str(exc)) from None


def clean_created_at(value: Any, *, now: dt.datetime | None = None) -> dt.datetime:
    """A past creation time: a date or ISO 8601 moment, not in the future."""
    now = now or timezone.now()
    at = _moment(value, "created_at")
    if at > now + FUTURE_TOLERANCE:
        raise HistoryError("created_at", f"{at:%Y-%m-%d %H:%M} is in the future; history happened already.")
    return at


def clean_history(
    steps: Iterable[Mapping[str, Any]], *, created_at: dt.datetime, now: dt.datetime | None = None
) -> list[Step]:
    """The checked steps of a path, in order; ``HistoryError`` names the first problem."""
    now = now or timezone.now()
    out: list[Step] = []
    previous, previous_at = Stage.NEW, created_at
    for i, raw in enumerate(steps):
        if not isinstance(raw, Mapping):
            raise HistoryError(f"history.{i}", 'Each step is an object such as {"stage": "won", "at": "2025-03-01"}.')
        stage = str(raw.get("stage") or "").strip().lower()
        if stage not in HISTORY_STAGES:
            allowed = ", ".join(HISTORY_STAGES)
            raise HistoryError(f"history.{i}.stage", f"“{stage or 'nothing'}” is not a stage of a path; use {allowed}.")
        at = _moment(raw.get("at"), f"history.{i}.at")
        if at > now + FUTURE_TOLERANCE:
            raise HistoryError(f"history.{i}.at", f"{at:%Y-%m-%d %H:%M} is in the future; history happened already.")
        if at < previous_at:
            what = "the lead was created" if i == 0 else f"the step before it ({previous})"
            raise HistoryError(f"history.{i}.at", f"{stage} on {at:%Y-%m-%d} comes before {what}: steps go in order.")
        if previous in _CLOSED or not allowed_in_history(previous, stage):
            raise HistoryError(f"history.{i}.stage", f"{stage} cannot follow {previous}.")
        out.append(Step(stage=stage, at=at))
        previous, previous_at = Stage(stage), at
    return out


# How exports name the furthest stage; the lifecycle's own codes are read as themselves.
OUTCOME_WORDS = {
    "customer": Stage.WON,
    "closed won": Stage.WON,
    "closed-won": Stage.WON,
    "won": Stage.WON,
    "converted": Stage.WON,
    "opportunity": Stage.SQL,
    "sales qualified": Stage.SQL,
    "closed lost": Stage.LOST,
    "closed-lost": Stage.LOST,
    "marketing qualified": Stage.MQL,
    "accepted": Stage.SAL,
    "sales accepted": Stage.SAL,
    "unqualified": Stage.DISQUALIFIED,
    "junk": Stage.DISQUALIFIED,
    "open": Stage.NEW,
    "lead": Stage.NEW,
    "new": Stage.NEW,
    "subscriber": Stage.NEW,
}


def outcome_stage(word: str) -> str:
    """An export's word for the furthest stage ("Closed Won", "Customer") as a lifecycle stage code."""
    folded = " ".join(str(word or "").replace("_", " ").lower().split())
    return OUTCOME_WORDS.get(folded, folded)


def steps_from_outcome(
    outcome: str, outcome_at: Any, *, created_at: dt.datetime, now: dt.datetime | None = None
) -> list[Step]:
    """The path of a CSV row: the furthest stage reached and its date (no date: the creation time)."""
    outcome = (outcome or "").strip().lower()
    if not outcome or outcome == Stage.NEW:
        return []
    at = outcome_at if outcome_at not in (None, "") else created_at
    try:
        return clean_history([{"stage": outcome, "at": at}], created_at=created_at, now=now)
    except HistoryError as exc:
        field = "outcome_at" if exc.field.endswith(".at") else "outcome"
        raise HistoryError(field, str(exc)) from None
