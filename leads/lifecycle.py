"""The lead lifecycle: which stage may follow which, how a move is logged, the team of a new lead.

``Transition`` is the append-only log SLA figures and reports are computed from, and
``Lead.stage`` is its latest ``to_stage``. Every writer of that log comes through here:

* one lead at a time — an SDR's action (``leads.inbox.services``): ``transition_record``;
* set-based — a rescore moving thousands of leads in one statement on PostgreSQL or SQLite
  (``leads.scoring.rescoring``): ``transitions_insert`` gives the ``INSERT … SELECT`` to run
  or to embed in a larger statement;
* rows known in advance — new leads of an import (``leads.intake.writes``), the demo's simulated
  histories (``demo.builder``), past leads with their dated steps (``leads.intake.history``,
  written ``historical``: evidence reads them, SLA never does): ``transitions_add``.

A system move (scoring, intake) has no actor; every move records the owner of the lead at
that moment, before the move releases it, because per-SDR figures attribute a pass to the
owner named on the transition that ends it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection

from leads import bulk
from leads.models import Lead, Stage, Team, Transition
from leads.sql import Fragment, column, join, sql, table

__all__ = [
    "ACCEPT",
    "CONVERT",
    "DISQUALIFY",
    "ENROL",
    "ENTER",
    "HISTORY",
    "HISTORY_STAGES",
    "KNOCK_OUT",
    "MARK_LOST",
    "MARK_WON",
    "MOVES",
    "QUALIFY",
    "REINSTATE",
    "RECYCLE",
    "REJECT",
    "RETURN",
    "SCORABLE_STAGES",
    "SYSTEM",
    "UNDOS",
    "UNDO_REASON",
    "WITHDRAW",
    "Move",
    "MoveError",
    "allowed",
    "allowed_in_history",
    "new_lead_team_id",
    "transition_record",
    "transitions_add",
    "transitions_insert",
    "undo",
]

# Who makes a move: a person (an SDR, sales) or the system (scoring, intake, marketing automation).
PERSON = "person"
SYSTEM = "the system"


class MoveError(ValueError):
    """A stage change the lifecycle does not allow; ``str(error)`` names the lead and the stages."""


@dataclass(frozen=True)
class Move:
    """One kind of stage change: the stages it starts from and the stage it leads to."""

    name: str
    from_stages: tuple[str, ...]
    to_stage: str
    by: str

    def allows(self, stage: str) -> bool:
        return stage in self.from_stages


# A lead's first transition: it enters the log as new.
ENTER = Move("enter", ("",), Stage.NEW, SYSTEM)
# Scoring, in the order it decides (``leads.scoring.scorer.next_stage``): a knock-out wins over
# qualifying; only a new version withdraws an unworked MQL.
KNOCK_OUT = Move("knock_out", (Stage.NEW, Stage.NURTURE, Stage.MQL), Stage.DISQUALIFIED, SYSTEM)
QUALIFY = Move("qualify", (Stage.NEW, Stage.NURTURE), Stage.MQL, SYSTEM)
WITHDRAW = Move("withdraw", (Stage.MQL,), Stage.NURTURE, SYSTEM)
# A knock-out is a rule, not a verdict: a lead the system disqualified by a knock-out comes back
# to nurture when a version no longer knocks it out (then scoring decides as for any lead). A
# person's disqualification stays: only a knock-out transition (reason ``knocked_out``, no actor)
# can be undone this way.
REINSTATE = Move("reinstate", (Stage.DISQUALIFIED,), Stage.NURTURE, SYSTEM)
# Marketing automation enrols a new lead in a nurture programme (reason ``nurture_program``).
ENROL = Move("enrol", (Stage.NEW,), Stage.NURTURE, SYSTEM)
# SDRs and sales (``leads.inbox.services``).
ACCEPT = Move("accept", (Stage.MQL,), Stage.SAL, PERSON)
RECYCLE = Move("recycle", (Stage.MQL, Stage.SAL), Stage.NURTURE, PERSON)
REJECT = Move("reject", (Stage.MQL,), Stage.REJECTED, PERSON)
DISQUALIFY = Move("disqualify", (Stage.MQL, Stage.SAL), Stage.DISQUALIFIED, PERSON)
CONVERT = Move("convert", (Stage.SAL,), Stage.SQL, PERSON)
MARK_WON = Move("won", (Stage.SQL,), Stage.WON, PERSON)
MARK_LOST = Move("lost", (Stage.SQL,), Stage.LOST, PERSON)
# Marketing takes a rejected lead back to nurture it (``leads.inbox.services.lead_return_to_nurture``).
RETURN = Move("return", (Stage.REJECTED,), Stage.NURTURE, PERSON)

# The inbox's actions, which their author may take back right after (``leads.inbox.services.lead_undo``).
UNDOABLE_MOVES = (ACCEPT, RECYCLE, REJECT, DISQUALIFY, CONVERT, MARK_WON, MARK_LOST)


# The reason code of an undo's transition. SLA figures read an undone move and its undo as if
# neither happened (``sla.passes``), so a second thought within seconds is no pass, decision or breach.
UNDO_REASON = "undo"


def undo(move: Move, back_to: str) -> Move:
    """Taking back an inbox ``move`` right after it: the lead returns to ``back_to``, the stage the
    move left. Logged as a move of its own (reason ``undo``)."""
    if move not in UNDOABLE_MOVES or not move.allows(back_to):
        raise MoveError(f"{move.name} from {back_to or 'nowhere'} cannot be undone.")
    return Move(f"undo {move.name}", (move.to_stage,), back_to, PERSON)


UNDOS = tuple(undo(move, stage) for move in UNDOABLE_MOVES for stage in move.from_stages)
MOVES = (ENTER, KNOCK_OUT, QUALIFY, WITHDRAW, REINSTATE, ENROL, *UNDOABLE_MOVES, RETURN, *UNDOS)
# Stages scoring may move a lead out of; the others (worked or closed) keep their stage.
SCORABLE_STAGES = tuple(dict.fromkeys(stage for move in (KNOCK_OUT, QUALIFY, WITHDRAW) for stage in move.from_stages))
_ALLOWED = frozenset((stage, move.to_stage) for move in MOVES for stage in move.from_stages)


# A past lead's path as an organisation's records tell it: forward only, and any stage may be
# skipped ("won" straight after creation), because exports keep the furthest stage reached, not
# every step. These moves are written as *historical* transitions only: they never enter SLA.
HISTORY = "history import"
_HISTORY_FOLLOWS = {
    Stage.MQL: (Stage.NEW,),
    Stage.SAL: (Stage.NEW, Stage.MQL),
    Stage.SQL: (Stage.NEW, Stage.MQL, Stage.SAL),
    Stage.WON: (Stage.NEW, Stage.MQL, Stage.SAL, Stage.SQL),
    Stage.LOST: (Stage.NEW, Stage.MQL, Stage.SAL, Stage.SQL),
    Stage.REJECTED: (Stage.NEW, Stage.MQL, Stage.SAL),
    Stage.DISQUALIFIED: (Stage.NEW, Stage.MQL),
}
HISTORY_STAGES = tuple(str(stage) for stage in _HISTORY_FOLLOWS)
_HISTORY_ALLOWED = frozenset(
    [("", Stage.NEW)] + [(before, stage) for stage, befores in _HISTORY_FOLLOWS.items() for before in befores]
)


def allowed_in_history(from_stage: str, to_stage: str) -> bool:
    """True when a past lead's path may go from ``from_stage`` to ``to_stage`` (forward only)."""
    return (from_stage, to_stage) in _HISTORY_ALLOWED


def allowed(from_stage: str, to_stage: str) -> bool:
    """May a lead go from ``from_stage`` ("" for a lead not yet in the log) to ``to_stage``?"""
    return (from_stage, to_stage) in _ALLOWED


def _refuse(lead_id: Any, from_stage: str, to_stage: str, by: str) -> MoveError:
    return MoveError(f"Lead {lead_id} cannot go from {from_stage or 'nowhere'} to {to_stage} ({by}).")


# --- the team of a new lead ----------------------------------------------------------------------


def new_lead_team_id() -> int | None:
    """The team a lead without one joins: the organisation's team when it has exactly one.

    With several teams a new lead joins none: it waits in the shared queue every team's "Next
    lead" draws from, and joins the team of the SDR who claims it. (Picking one of several
    teams, say the oldest, would hide it from the others.) Intake applies this when a lead is
    created, scoring and routing when it becomes an MQL (teams may have been set up since).
    """
    ids = list(Team.objects.order_by("id").values_list("id", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None


# --- writing the log ----------------------------------------------------------------------------

# Columns of a logged move, in the order the set-based and bulk inserts write them.
COLUMNS = (
    "lead_id",
    "from_stage",
    "to_stage",
    "actor_id",
    "owner_id",
    "at",
    "reason_code",
    "note",
    "agreement_version_id",
    "score",
    "grade",
)


def transition_record(
    *,
    lead: Lead,
    move: Move,
    from_stage: str,
    at: dt.datetime,
    actor=None,
    owner_id: int | None,
    reason_code: str = "",
    note: str = "",
    agreement_version=None,
    score: int | None = None,
    grade: str = "",
) -> Transition:
    """Log one lead's ``move`` from ``from_stage``; the caller has moved the lead in the same transaction.

    ``owner_id`` is the owner at that moment (per-SDR figures), ``actor`` who made the move
    (None: the system).
    """
    if not move.allows(from_stage):
        raise _refuse(lead.pk, from_stage, move.to_stage, move.name)
    return Transition.objects.create(
        lead=lead,
        from_stage=from_stage,
        to_stage=move.to_stage,
        actor=actor,
        owner_id=owner_id,
        at=at,
        reason_code=reason_code,
        note=note,
        agreement_version=agreement_version,
        score=score,
        grade=grade,
    )


def transitions_insert(moves: Fragment, *, at: dt.datetime | None = None, actor_id: int | None = None) -> Fragment:
    """The statement logging one system or person move per row of ``moves``, set-based.

    ``moves`` is a SELECT (or a reference to a CTE of the enclosing statement) with the columns
    of ``COLUMNS`` except ``actor_id``, and except ``at`` when ``at`` is given: one instant for
    every row (a rescore), or each row's own (dated history). ``actor_id`` None is the system.
    The statement returns ``(lead_id, to_stage)`` per row; it runs alone or as the last part of
    a ``WITH`` on PostgreSQL and SQLite alike. The moves must be ones ``allowed`` permits: the
    caller derives them from this module's table (``Move`` values), as rescoring does.
    """
    values = {name: sql("m." + name) for name in COLUMNS}
    values["actor_id"] = sql("{actor}", actor=actor_id)
    if at is not None:
        values["at"] = sql("{at}", at=connection.ops.adapt_datetimefield_value(at))
    return sql(
        "INSERT INTO {t} ({columns}) SELECT {values} FROM ({moves}) AS m RETURNING {lead}, {to_stage}",
        t=table(Transition),
        columns=join(", ", [column(Transition, name) for name in COLUMNS]),
        values=join(", ", [_typed(name, value) for name, value in values.items()]),
        moves=moves,
        lead=column(Transition, "lead"),
        to_stage=column(Transition, "to_stage"),
    )


def _typed(name: str, value: Fragment) -> Fragment:
    """``value`` as the log column's type: PostgreSQL types a NULL or a literal of a subselect as
    text, which an integer or timestamp column refuses. (SQLite columns take any value, and its
    CAST to a date type would turn text into a number.)"""
    if connection.vendor != "postgresql":
        return value
    # The type is the model field's own, never input.
    return sql(
        "CAST({value} AS {type})", value=value, type=Fragment(Transition._meta.get_field(name).db_type(connection))
    )


def transitions_add(rows: Sequence[Mapping[str, Any]], *, by: str = SYSTEM, historical: bool = False) -> int:
    """Log moves given as rows (``COLUMNS`` as keys; ``actor_id`` None: the system), each at its own ``at``.

    For leads created in bulk with their first transition (intake), and for histories written
    after the fact (the demo, dated steps of past leads). Every row must be an allowed move;
    ``by`` names the writer in the error. ``historical`` rows are a past lead's path (``HISTORY``
    moves, checked against ``allowed_in_history``): evidence reads them, SLA never does.
    Returns the number of rows written.
    """
    check = allowed_in_history if historical else allowed
    adapt = connection.ops.adapt_datetimefield_value
    values = []
    for row in rows:
        if not check(row["from_stage"], row["to_stage"]):
            raise _refuse(row["lead_id"], row["from_stage"], row["to_stage"], by)
        values.append(
            (
                row["lead_id"],
                row["from_stage"],
                row["to_stage"],
                row.get("actor_id"),
                row.get("owner_id"),
                adapt(row["at"]),
                row.get("reason_code", ""),
                row.get("note", ""),
                row.get("agreement_version_id"),
                row.get("score"),
                row.get("grade", ""),
                historical,
            )
        )
    columns = [Transition._meta.get_field(name).column for name in (*COLUMNS, "historical")]
    bulk.copy_rows(Transition, columns, values)
    return len(values)
