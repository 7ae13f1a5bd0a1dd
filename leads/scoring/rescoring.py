"""Set-based rescoring: a few SQL statements per id range, never a per-lead Python loop.

One pass over a set of leads (an id range of a full rescore, or the ids touched by new
activities) runs in one transaction:

1. ``SELECT … FOR SHARE`` on the agreement version: the publish that retires it waits for the
   pass to commit, and a pass that finds its version retired does nothing (a newer publish
   superseded it). So no lead is ever left scored by a retired version. Then the pass takes the
   rescore requests of its leads (``Lead.rescore_requested_at``, ``_take_requests``), in a
   statement before the scoring one.
2. One ``UPDATE … FROM (SELECT …)``: the inner SELECT is ``leads.scoring.scorer.annotate_scores`` (the
   compiled spec: persona, fit, knock-outs, completeness, and one engagement subquery per lead);
   ``OFFSET 0`` keeps PostgreSQL from inlining it, so the subquery runs once per lead. ``score`` is
   a stored generated column: the database adds fit and engagement itself. It also reports the
   unworked MQLs it scored under this version for the first time that no longer qualify: only a
   new version sends an MQL back to nurture, never a rescore under the same one.
3. One narrow statement for the rows that change stage (few, and found through the stored score):
   it moves them, the lifecycle's moves (``leads.lifecycle``), and logs them with the lifecycle's
   set-based ``Transition`` insert (actor NULL = the system; the owner at that moment) at once.
4. ``leads.inbox.routing.route_mqls`` gives the new MQLs owners in the same transaction (a lead entering
   MQL, again or for the first time, starts a new SLA pass without an owner; statement 3 already
   gave a lead without a team the team of a new lead, ``lifecycle.new_lead_team_id``).

Every pass recomputes from scratch (idempotent), so a redelivered chunk changes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.lookups import Exact, GreaterThan, IsNull, LessThan
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from alignment.calendar import sla_due_at
from alignment.models import AgreementVersion, Persona
from leads import bulk, lifecycle
from leads.inbox.routing import mqls_routed, route_mqls
from leads.models import Activity, Assignment, Lead, RescoreChunk, RescoreJob, Stage, Team, Transition
from leads.scoring.scorer import NEVER, annotate_scores, compile_condition
from leads.sql import Fragment, join, query, run, sql, table

logger = logging.getLogger(__name__)

# Leads per statement when rescoring a list of ids (activity batches, the sweeper).
ID_BATCH = 5000

# Labelled in leads.models.SYSTEM_REASONS.
REASON_QUALIFIED = "qualified"
REASON_NO_LONGER_QUALIFIES = "no_longer_qualifies"
REASON_KNOCKED_OUT = "knocked_out"
REASON_NO_LONGER_KNOCKED_OUT = "no_longer_knocked_out"


@dataclass
class RescoreResult:
    """What one pass did: leads scored, stage moves by target stage, leads that became MQLs."""

    scored: int = 0
    moved: Counter = field(default_factory=Counter)
    new_mqls: list[int] = field(default_factory=list)

    def add(self, other: RescoreResult) -> None:
        self.scored += other.scored
        self.moved.update(other.moved)
        self.new_mqls.extend(other.new_mqls)


@dataclass(frozen=True)
class _Target:
    """The leads of one pass: an id range [id_from, id_to), an explicit list of ids, or up to
    ``pending`` leads waiting for a rescore (resolved to their ids by ``_take_requests``)."""

    id_from: int | None = None
    id_to: int | None = None
    ids: tuple[int, ...] | None = None
    pending: int | None = None

    def q(self) -> Q:
        if self.ids is not None:
            return Q(id__in=self.ids)
        return Q(id__gte=self.id_from, id__lt=self.id_to)

    def where(self, key: Fragment) -> Fragment:
        """The same leads as a condition on ``key`` (the lead id column of a statement)."""
        if self.ids is not None:
            if connection.vendor == "postgresql":
                return sql("{key} = ANY({ids})", key=key, ids=list(self.ids))
            return sql("{key} IN (SELECT value FROM json_each({ids}))", key=key, ids=json.dumps(list(self.ids)))
        return sql("{key} >= {low} AND {key} < {high}", key=key, low=self.id_from, high=self.id_to)


def _dt_param(value: dt.datetime | None):
    """A datetime as the raw-SQL parameter the backend stores (SQLite keeps naive UTC text)."""
    return None if value is None else connection.ops.adapt_datetimefield_value(value)


def _stages(move: lifecycle.Move) -> Fragment:
    """The stages ``move`` starts from, as a list for ``IN (…)``."""
    return join(", ", move.from_stages)


def _hold_active(version_id: int) -> dict | None:
    """Lock the version row against publishing (FOR SHARE) and return its spec while it is active.

    Found by primary key.
    """
    lock = sql(" FOR SHARE") if connection.vendor == "postgresql" else sql("")
    rows = run(
        sql(
            "SELECT status, spec FROM {version} WHERE id = {id}{lock}",
            version=table(AgreementVersion),
            id=version_id,
            lock=lock,
        )
    )
    if not rows or rows[0][0] != AgreementVersion.Status.ACTIVE:
        return None
    spec = rows[0][1]
    return json.loads(spec) if isinstance(spec, str) else spec


def _grade_sql(fit: Fragment, spec: dict) -> Fragment:
    """``grade_for`` over an already computed fit column (bands in spec order, first match wins)."""
    cases = []
    default = ""
    for band in spec.get("grade_bands", []):
        conditions = []
        if band.get("min") is not None:
            conditions.append(sql("{fit} >= {min}", fit=fit, min=band["min"]))
        if band.get("max") is not None:
            conditions.append(sql("{fit} <= {max}", fit=fit, max=band["max"]))
        if not conditions:
            default = band["grade"]
            break
        cases.append(sql("WHEN {when} THEN {grade}", when=join(" AND ", conditions), grade=band["grade"]))
    if not cases:
        return sql("{grade}", grade=default)
    return sql("CASE {cases} ELSE {grade} END", cases=join(" ", cases), grade=default)


def _scores_update(target: _Target, spec: dict, version_id: int, now: dt.datetime) -> Fragment:
    """The ``UPDATE … FROM (SELECT …)`` writing one pass's scores, by primary key (``l.id = s.id``).

    Only columns no index holds change, so PostgreSQL updates each row in place (HOT) without
    touching any index of the table.
    """
    personas = list(Persona.objects.active())
    inner = (
        annotate_scores(Lead.objects.filter(target.q()), spec, now=now, personas=personas)
        .values("id", "sc_persona", "sc_fit", "sc_engagement", "sc_knocked_out", "sc_completeness", "scored_version_id")
        .order_by()
    )
    # OFFSET 0 is an optimisation fence: without it PostgreSQL pulls the subselect up and
    # evaluates the engagement subquery once per reference instead of once per lead.
    fence = sql(" OFFSET 0") if connection.vendor == "postgresql" else sql("")
    return sql(
        """
        UPDATE {lead} AS l SET
            persona_id = s.sc_persona,
            fit_score = s.sc_fit,
            engagement_score = s.sc_engagement,
            grade = {grade},
            knocked_out = s.sc_knocked_out,
            completeness = s.sc_completeness,
            scored_version_id = {version},
            scored_at = {now}
        FROM ({inner}{fence}) AS s
        WHERE l.id = s.id AND {target}
        """,
        lead=table(Lead),
        grade=_grade_sql(sql("s.sc_fit"), spec),
        version=version_id,
        now=_dt_param(now),
        inner=query(inner),
        fence=fence,
        target=target.where(sql("l.id")),
    )


def _score_rows_returning(update: Fragment, *, threshold: int, version_id: int) -> Fragment:
    """PostgreSQL: the scores ``update`` and, from its RETURNING rows (no index needed, no second
    read), the count, the MQLs this version withdraws and the ids whose stage may change.

    ``s.scored_version_id`` is the version the row had before the update (the subselect reads
    the snapshot); RETURNING sees the new scores (``score`` is generated).
    """
    demotable = sql(
        "stage IN ({withdraw}) AND first_action_at IS NULL AND NOT knocked_out AND score < {threshold}"
        " AND previous_version_id IS DISTINCT FROM {version}",
        withdraw=_stages(lifecycle.WITHDRAW),
        threshold=threshold,
        version=version_id,
    )
    return sql(
        """
        WITH scored AS ({update}
            RETURNING l.id, l.stage, l.first_action_at, l.knocked_out, l.score,
                      s.scored_version_id AS previous_version_id)
        SELECT count(*),
            COALESCE(array_agg(id ORDER BY id) FILTER (WHERE {demotable}), '{{}}'),
            COALESCE(array_agg(id ORDER BY id) FILTER (WHERE {demotable}
                OR (stage IN ({qualify}) AND NOT knocked_out AND score >= {threshold})
                OR (knocked_out AND stage IN ({knock_out}))
                OR (NOT knocked_out AND stage IN ({reinstate}))), '{{}}')
        FROM scored
        """,
        update=update,
        demotable=demotable,
        qualify=_stages(lifecycle.QUALIFY),
        threshold=threshold,
        knock_out=_stages(lifecycle.KNOCK_OUT),
        reinstate=_stages(lifecycle.REINSTATE),
    )


def _unworked_mqls_of_other_versions(target: _Target, version_id: int) -> Fragment:
    """SQLite: the unworked MQLs of ``target`` not yet scored under ``version_id``, found by
    primary key range or list (read before the scores are written, in the same transaction)."""
    return sql(
        "SELECT l.id FROM {lead} AS l WHERE {target} AND l.stage IN ({withdraw})"
        " AND l.first_action_at IS NULL AND l.scored_version_id IS NOT {version}",
        lead=table(Lead),
        target=target.where(sql("l.id")),
        withdraw=_stages(lifecycle.WITHDRAW),
        version=version_id,
    )


def _score_rows(
    target: _Target, spec: dict, version_id: int, now: dt.datetime
) -> tuple[int, list[int], list[int] | None]:
    """Statement 2: write persona, fit, engagement, grade, knock-out, completeness; stamp the version.

    Only columns no index holds change (``score`` is generated, ``updated_at`` is left alone:
    it records changes to the lead's record, stage and owner), so PostgreSQL rewrites each row in
    its own page (a HOT update) without touching any of the table's indexes. That is what keeps a
    full rescore near the cost of computing the scores.

    Returns the number of leads scored, the ids of the unworked MQLs this pass scores under
    ``version_id`` for the first time (their ``scored_version`` was another one or none) that no
    longer qualify: the only MQLs a pass may send back to nurture (``next_stage``'s ``new_version``),
    and on PostgreSQL the ids whose stage the new scores may change (a superset of ``_move_condition``
    read off the rows just written, which this transaction now holds locked), so that statement 3
    looks at those few rows instead of the whole range; None on SQLite (statement 3 scans the range).
    """
    update = _scores_update(target, spec, version_id, now)
    if connection.vendor == "postgresql":
        returning = _score_rows_returning(update, threshold=spec.get("mql_threshold", 0), version_id=version_id)
        scored, newly_versioned, candidates = run(returning)[0]
        return scored, list(newly_versioned), list(candidates)
    # SQLite (RETURNING cannot see the FROM table): the candidates first, in the same transaction.
    newly_versioned = sorted(row[0] for row in run(_unworked_mqls_of_other_versions(target, version_id)))
    with connection.cursor() as cursor:
        cursor.execute(update.text, dict(update.params))
        return cursor.rowcount, newly_versioned, None


def _move_condition(threshold: int, *, newly_versioned: Iterable[int], now: dt.datetime) -> Q:
    """Rows whose stage the scores just written change (``next_stage``), found through stored columns.

    ``newly_versioned``: the unworked MQLs scored under this version for the first time (``_score_rows``).
    """
    newly_versioned = list(newly_versioned)
    # ``recycle_hold`` negated, spelled out so that NULLs cannot flip it: a recycled lead waits in
    # nurture until its revisit date (portal time zone) unless it engaged again after the recycle.
    not_held = (
        ~Q(stage=Stage.NURTURE)
        | Q(recycled_at__isnull=True)
        | Q(revisit_on__isnull=True)
        | Q(revisit_on__lte=timezone.localdate(now))
        | Q(engagement_score__gt=0)
    )
    to_mql = Q(stage__in=lifecycle.QUALIFY.from_stages, knocked_out=False, score__gte=threshold) & not_held
    to_nurture = (
        Q(
            stage__in=lifecycle.WITHDRAW.from_stages,
            first_action_at__isnull=True,
            knocked_out=False,
            score__lt=threshold,
            id__in=newly_versioned,
        )
        if newly_versioned
        else NEVER
    )
    to_disqualified = Q(knocked_out=True, stage__in=lifecycle.KNOCK_OUT.from_stages)
    return to_mql | to_nurture | to_disqualified | _reinstatable()


def _reinstatable() -> Q:
    """Disqualified by a knock-out that no longer fires: the latest transition is the system's
    knock-out (no actor), not a person's disqualification. Read through the (lead, at, id) index."""
    latest = Transition.objects.filter(lead_id=OuterRef("pk")).order_by("-at", "-id")
    return (
        Q(stage__in=lifecycle.REINSTATE.from_stages, knocked_out=False)
        & Q(Exact(Subquery(latest.values("reason_code")[:1]), Value(REASON_KNOCKED_OUT)))
        & Q(IsNull(Subquery(latest.values("actor_id")[:1]), True))
    )


def _moving_queryset(target: _Target, spec: dict, *, newly_versioned: list[int], now: dt.datetime):
    """The leads whose stage changes, with the label of the knock-out that fired (for the note)."""
    condition = _move_condition(spec.get("mql_threshold", 0), newly_versioned=newly_versioned, now=now)
    queryset = Lead.objects.filter(target.q()).filter(condition)
    knockouts = spec.get("knockouts", [])
    if knockouts:
        label = Case(
            *[When(compile_condition(rule), then=Value(rule.get("label") or rule["id"])) for rule in knockouts],
            default=Value(""),
            output_field=CharField(),
        )
    else:
        label = Value("", output_field=CharField())
    return queryset.annotate(ko_label=label).values("id", "stage", "owner_id", "ko_label").order_by()


@dataclass(frozen=True)
class _StageMove:
    """The pieces of statement 3, each a fragment over the lead row ``l`` (before the move)."""

    to_stage: Fragment  # the lifecycle move scoring makes (the rows are movers: one always applies)
    set_columns: Fragment  # what moving does to the lead row
    releases_owner: Fragment  # entering MQL or going back to nurture leaves the lead without an owner
    logged: Callable[[Fragment], Fragment]  # the transitions' SELECT from a source of moved rows


def _stage_move(spec: dict, version: AgreementVersion, now: dt.datetime) -> _StageMove:
    """Build the fragments of statement 3 for ``version``'s spec at ``now``.

    A lead entering MQL (first time or again) starts a new SLA pass: new ``mql_at`` and
    ``sla_due_at``, ``first_action_at`` and ``revisit_on`` cleared, and no owner, so that routing
    assigns it afresh; it joins the team of a new lead (``lifecycle.new_lead_team_id``) when it
    has none. Doing that here, in the same row write, spares routing a second write of every
    team-less new MQL. A knocked-out lead keeps its owner in its closed record.
    """
    ko, qualify, withdraw = lifecycle.KNOCK_OUT, lifecycle.QUALIFY, lifecycle.WITHDRAW
    reinstate = lifecycle.REINSTATE
    to_stage = sql(
        "CASE WHEN l.knocked_out THEN {ko} WHEN l.stage IN ({reinstate_from}) THEN {reinstate}"
        " WHEN l.stage IN ({withdraw_from}) THEN {withdraw} ELSE {qualify} END",
        ko=ko.to_stage,
        reinstate_from=_stages(reinstate),
        reinstate=reinstate.to_stage,
        withdraw_from=_stages(withdraw),
        withdraw=withdraw.to_stage,
        qualify=qualify.to_stage,
    )
    becomes_mql = sql("(NOT l.knocked_out AND l.stage IN ({qualify_from}))", qualify_from=_stages(qualify))
    releases_owner = sql("(NOT l.knocked_out)")
    grades = sorted({band["grade"] for band in spec.get("grade_bands", [])} | {"A", "B", "C", "D"})
    # At most a handful of grades: the SLA due time of a new MQL is a CASE on its grade.
    due = sql(
        "CASE l.grade {cases} ELSE {other} END",
        cases=join(" ", [sql("WHEN {g} THEN {due}", g=g, due=_dt_param(sla_due_at(spec, now, g))) for g in grades]),
        other=_dt_param(sla_due_at(spec, now, "")),
    )
    at = _dt_param(now)
    set_columns = sql(
        """
        stage = {to_stage},
        mql_at = CASE WHEN {becomes_mql} THEN {at} ELSE l.mql_at END,
        sla_due_at = CASE WHEN {becomes_mql} THEN {due} ELSE NULL END,
        first_action_at = CASE WHEN {becomes_mql} THEN NULL ELSE l.first_action_at END,
        revisit_on = CASE WHEN {becomes_mql} THEN NULL ELSE l.revisit_on END,
        owner_id = CASE WHEN {releases_owner} THEN NULL ELSE l.owner_id END,
        team_id = CASE WHEN {becomes_mql} THEN COALESCE(l.team_id, {team}) ELSE l.team_id END,
        rescore_requested_at = CASE WHEN {reinstated} THEN {at} ELSE l.rescore_requested_at END,
        updated_at = {at}
        """,
        reinstated=sql("(NOT l.knocked_out AND l.stage IN ({disqualified}))", disqualified=_stages(reinstate)),
        to_stage=to_stage,
        becomes_mql=becomes_mql,
        at=at,
        due=due,
        releases_owner=releases_owner,
        team=lifecycle.new_lead_team_id(),
    )
    threshold = spec.get("mql_threshold", 0)
    number = version.number
    # A reinstated lead (back from a knock-out) is asked to be scored again at once: it may qualify.
    reason = sql(
        "CASE WHEN s.from_stage IN ({reinstate_from}) THEN {not_ko}"
        " WHEN s.to_stage = {mql} THEN {qualified} WHEN s.to_stage = {nurture} THEN {no_longer} ELSE {knocked_out} END",
        reinstate_from=_stages(reinstate),
        not_ko=REASON_NO_LONGER_KNOCKED_OUT,
        mql=qualify.to_stage,
        qualified=REASON_QUALIFIED,
        nurture=withdraw.to_stage,
        no_longer=REASON_NO_LONGER_QUALIFIES,
        knocked_out=REASON_KNOCKED_OUT,
    )
    note = sql(
        "CASE WHEN s.from_stage IN ({reinstate_from}) THEN {not_ko}"
        " WHEN s.to_stage = {mql} THEN {qualified} WHEN s.to_stage = {nurture} THEN {no_longer}"
        " ELSE {knocked_out} || s.ko_label END",
        reinstate_from=_stages(reinstate),
        not_ko=f"No knock-out of version {number} applies any more.",
        mql=qualify.to_stage,
        qualified=f"Meets version {number}: score at least {threshold}.",
        nurture=withdraw.to_stage,
        no_longer=f"No longer meets version {number}.",
        knocked_out=f"Knocked out by version {number}: ",
    )

    def logged(source: Fragment) -> Fragment:
        # ``owner_id`` of the source is the owner before the move: the one the pass ends with.
        return sql(
            "SELECT s.id AS lead_id, s.from_stage, s.to_stage, s.owner_id, {reason} AS reason_code, {note} AS note,"
            " {version} AS agreement_version_id, s.score, s.grade FROM {source} AS s",
            reason=reason,
            note=note,
            version=version.id,
            source=source,
        )

    return _StageMove(to_stage, set_columns, releases_owner, logged)


def _release_owners(source: Fragment, *, at: dt.datetime) -> Fragment:
    """One ``Assignment`` (released, no actor) per row of ``source`` (``id``, ``owner_id``, ``releases``)
    that had an owner and loses it. An append, no index read."""
    return sql(
        "INSERT INTO {assignment} (lead_id, from_owner_id, to_owner_id, reason, actor_id, at)"
        " SELECT r.id, r.owner_id, NULL, {released}, NULL, {at} FROM {source} AS r"
        " WHERE r.releases AND r.owner_id IS NOT NULL",
        assignment=table(Assignment),
        released=Assignment.Reason.RELEASED.value,
        at=_dt_param(at),
        source=source,
    )


def _move_stages_statement(moving: Fragment, move: _StageMove, *, now: dt.datetime) -> Fragment:
    """PostgreSQL, one statement: lock the movers, move them, release owners, log the moves.

    The movers are found through the candidates' primary keys; the lock re-checks each row, so a
    lead an SDR accepted a moment ago is left alone. Returns ``(lead_id, to_stage)`` per move.
    """
    lead = table(Lead)
    return sql(
        """
        WITH moving AS ({moving} FOR UPDATE OF {lead}),
        moved AS (
            UPDATE {lead} AS l SET {set_columns}
            FROM moving WHERE l.id = moving.id
            RETURNING l.id, moving.stage AS from_stage, l.stage AS to_stage, moving.owner_id,
                      l.score, l.grade, moving.ko_label, {releases} AS releases
        ),
        released AS ({release})
        {log}
        """,
        moving=moving,
        lead=lead,
        set_columns=move.set_columns,
        releases=move.releases_owner,
        release=_release_owners(sql("moved"), at=now),
        log=lifecycle.transitions_insert(move.logged(sql("moved")), at=now),
    )


def _movers(moving: Fragment, move: _StageMove) -> Fragment:
    """SQLite: the movers with what the move will make of them, read before the rows change
    (joined by primary key)."""
    return sql(
        "(SELECT mv.id, mv.stage AS from_stage, {to_stage} AS to_stage, l.owner_id, l.score, l.grade, mv.ko_label,"
        " {releases} AS releases FROM ({moving}) AS mv JOIN {lead} AS l ON l.id = mv.id)",
        to_stage=move.to_stage,
        releases=move.releases_owner,
        moving=moving,
        lead=table(Lead),
    )


def _move_rows(ids: list[int], move: _StageMove) -> Fragment:
    """SQLite: move the listed leads (by primary key); returns ``(id, stage)`` per lead moved."""
    return sql(
        "UPDATE {lead} AS l SET {set_columns} WHERE l.id IN (SELECT value FROM json_each({ids}))"
        " RETURNING id, stage",  # SQLite: RETURNING takes bare column names
        lead=table(Lead),
        set_columns=move.set_columns,
        ids=json.dumps(ids),
    )


def _move_stages(
    target: _Target, spec: dict, version: AgreementVersion, now: dt.datetime, *, newly_versioned: list[int]
) -> RescoreResult:
    """Statement 3: move the rows ``next_stage`` moves and log one Transition each (set-based).

    A lead entering MQL (first time or again) starts a new SLA pass without an owner (one it
    still had is released with an ``Assignment`` row), so that routing assigns it afresh. An
    unworked MQL that a new version sends back to nurture is released the same way: it leaves
    its SDR's queue and their open-lead count, and comes back through routing if it qualifies
    again. Each transition names the owner the lead had at that moment — the SDR a withdrawn
    MQL is released from, like the Assignment row written at the same instant — since per-SDR
    figures attribute a pass to the owner on the transition that ends it.
    """
    result = RescoreResult()
    move = _stage_move(spec, version, now)
    moving = query(_moving_queryset(target, spec, newly_versioned=newly_versioned, now=now))
    if connection.vendor == "postgresql":
        rows = run(_move_stages_statement(moving, move, now=now))
    else:
        # SQLite: this transaction already holds the database's write lock, so the statements
        # over the same rows see exactly the same rows. Owners and transitions are written from
        # the rows as they are before the move.
        movers = _movers(moving, move)
        ids = sorted(row[0] for row in run(sql("SELECT m.id FROM {movers} AS m", movers=movers)))
        if not ids:
            return result
        run(_release_owners(movers, at=now), fetch=False)
        run(lifecycle.transitions_insert(move.logged(movers), at=now))
        rows = run(_move_rows(ids, move))
    for lead_id, to_stage in rows:
        result.moved[to_stage] += 1
        if to_stage == Stage.MQL:
            result.new_mqls.append(lead_id)
    result.new_mqls.sort()
    return result


def _take_requests(target: _Target) -> _Target:
    """Clear the rescore requests of the pass's leads; a ``pending`` target becomes the ids it took.

    A statement of its own, before the scoring statement: that one then reads a snapshot taken after
    every request cleared here was committed, with whatever its transaction wrote. A request committed
    later stays set for the next pass. (Clearing it in the scoring statement itself could drop a
    request whose row changed while the statement ran: the row is re-read, the scores are not.)
    Waiting leads another pass holds are skipped, so drains on several workers never queue up.
    """
    waiting = Lead.objects.filter(rescore_requested_at__isnull=False)
    if target.pending is not None:
        taken = (
            waiting.order_by("rescore_requested_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[: target.pending]
        )
        target = _Target(ids=tuple(sorted(taken)))
        if not target.ids:
            return target
    waiting.filter(target.q()).update(rescore_requested_at=None)
    return target


def _rescore(
    *, target: _Target, version: AgreementVersion, now: dt.datetime, announce: bool = True
) -> RescoreResult | None:
    """One pass over ``target`` under ``version`` in one transaction; None when the version is retired.

    ``announce``: routing sends ``mqls_routed`` (the backlog check) for this pass; a job's chunks
    leave it to the job's close, so that a million-lead rescore counts the waiting MQLs once.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Per-statement JIT compilation costs more than these statements save (0.6–1.5 s each).
                cursor.execute("SET LOCAL jit = off")
        spec = _hold_active(version.id)
        if spec is None:
            return None
        target = _take_requests(target)
        if target.ids == ():
            return RescoreResult()
        scored, newly_versioned, candidates = _score_rows(target, spec, version.id, now)
        result = RescoreResult(scored=scored)
        if candidates is not None:
            target = _Target(ids=tuple(candidates))
        if scored and target.ids != ():
            result.add(_move_stages(target, spec, version, now, newly_versioned=newly_versioned))
        if result.new_mqls:
            # The stage move gave every new MQL its team in the same row write.
            route_mqls(lead_ids=result.new_mqls, now=now, teamed=True, announce=announce)
        return result


def batches(ids: list, size: int | None = None) -> Iterator[list]:
    """``ids`` in batches of ``ID_BATCH`` (or ``size``)."""
    return bulk.batches(ids, size or ID_BATCH)


def rescore_leads(
    *, lead_ids: Iterable[int], version: AgreementVersion | None = None, now: dt.datetime | None = None
) -> RescoreResult:
    """Rescore just these leads under ``version`` (default: the active one), synchronously and set-based.

    Does nothing when there is no active version, or when ``version`` is no longer active.
    """
    ids = sorted({int(i) for i in lead_ids})
    total = RescoreResult()
    version = version or AgreementVersion.objects.active()
    if version is None or not ids:
        return total
    now = now or timezone.now()
    for batch in batches(ids):
        done = _rescore(target=_Target(ids=tuple(batch)), version=version, now=now)
        if done is None:
            break
        total.add(done)
    return total


def enqueue(task, *args) -> bool:
    """``task.delay(*args)``, tolerating a broker outage: what it would have done is recorded in the
    database (a rescore request, a chunk's lease), and the sweeper queues it again. False when not sent.

    Services name their task (``"leads.tasks.rescore_requested"``) instead of importing the tasks
    module, which imports them: the Celery registry (filled in ``LeadsConfig.ready``) finds it.
    """
    if isinstance(task, str):
        task = current_app.tasks[task]
    try:
        task.delay(*args)
    except BrokerError:
        logger.warning("Broker unavailable: %s%r not queued; the sweeper will pick it up.", task.name, args)
        return False
    return True


def requested_since(now: dt.datetime) -> Coalesce:
    """The value of ``Lead.rescore_requested_at`` after a new request: the oldest waiting one stays."""
    return Coalesce("rescore_requested_at", Value(now, output_field=DateTimeField()))


def rescore_request(*, lead_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Record, in the caller's transaction, that these leads need rescoring; returns the leads marked.

    The request (``Lead.rescore_requested_at``, the oldest one kept) commits or rolls back with what
    made it necessary; a worker takes it whether or not the wake-up message arrives. Every lead is
    locked first (in id order), so a pass taking an older request waits for this transaction and
    its scores include what this transaction adds; only leads not waiting yet get a new row version.
    Leads this transaction wrote already (intake marks them in the same statement) cost next to nothing.
    """
    ids = sorted({int(i) for i in lead_ids})
    now = now or timezone.now()
    marked = 0
    with transaction.atomic(savepoint=False):  # the caller's, when it has one
        for batch in batches(ids):
            locked = Lead.objects.filter(pk__in=batch).order_by("id").select_for_update(no_key=True)
            marked += len(locked.values_list("id", flat=True))
            Lead.objects.filter(pk__in=batch, rescore_requested_at__isnull=True).update(rescore_requested_at=now)
    return marked


def rescore_leads_later(
    lead_ids: Iterable[int], *, now: dt.datetime | None = None, marked_by_write: Collection[int] = ()
) -> int:
    """``rescore_request`` and a wake-up call for a worker once the transaction commits (lost, the
    sweeper sends another). Returns the leads marked.

    ``marked_by_write`` are leads this transaction already marked in the statement that wrote them
    (inserted with ``rescore_requested_at``, or updated with it): their row is locked or not yet
    visible to anyone, so they only count for the wake-up call."""
    already = set(marked_by_write)
    marked = rescore_request(lead_ids=[pk for pk in lead_ids if pk not in already], now=now) + len(already)
    if marked:
        transaction.on_commit(lambda: enqueue("leads.tasks.rescore_requested"))
    return marked


def rescore_pending(*, limit: int | None = None, now: dt.datetime | None = None) -> RescoreResult | None:
    """One pass over up to ``limit`` leads waiting for a rescore (oldest request first) under the active
    version, in one transaction; None when there is no active version (the requests keep waiting)."""
    version = AgreementVersion.objects.active()
    if version is None:
        return None
    return _rescore(target=_Target(pending=limit or ID_BATCH), version=version, now=now or timezone.now())


@dataclass(frozen=True)
class PendingRescore:
    """Leads waiting for a rescore: how many (counted up to ``PENDING_COUNT_CAP``) and the oldest request."""

    leads: int
    since: dt.datetime | None

    @property
    def capped(self) -> bool:
        return self.leads >= PENDING_COUNT_CAP


# Counting waiting leads walks the partial index; past this many, "more than" is all a page needs.
PENDING_COUNT_CAP = 100_000


def pending_rescore() -> PendingRescore:
    """One index-only read of ``lead_rescore_pending_idx`` (oldest first, so the minimum is exact)."""
    waiting = (
        Lead.objects.filter(rescore_requested_at__isnull=False)
        .order_by("rescore_requested_at")
        .values("rescore_requested_at")[:PENDING_COUNT_CAP]
    )
    found = waiting.aggregate(leads=Count("*"), since=Min("rescore_requested_at"))
    return PendingRescore(leads=found["leads"], since=found["since"])


# --- Full rescore jobs (one per publish; chunked by id range) ------------------------------------


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.ACCORD_RESCORE_LEASE_SECONDS)


def rescore_job_start(
    *,
    version_id: int,
    trigger: str = RescoreJob.Trigger.PUBLISH,
    chunk_size: int | None = None,
    as_of: dt.datetime | None = None,
) -> RescoreJob | None:
    """Create the job and its chunks for a full rescore under ``version_id``; supersede older runs.

    Runs in the caller's transaction when there is one (a publish records its job with itself). Each
    chunk's lease starts now: if its message never reaches a worker, the sweeper queues it again.
    Each chunk scores as of its own clock, unless ``as_of`` pins one instant for the whole run
    (reproducible runs: the benchmark compares them with hand-written SQL at the same instant).
    Returns None when the version is not the active one any more (a newer publish won).
    """
    chunk_size = chunk_size or settings.ACCORD_RESCORE_CHUNK
    now = timezone.now()
    with transaction.atomic():
        version = AgreementVersion.objects.filter(pk=version_id).first()
        if version is None or version.status != AgreementVersion.Status.ACTIVE:
            return None
        # A newer run covers every lead: older runs stop at their next chunk.
        RescoreJob.objects.filter(status__in=[RescoreJob.Status.QUEUED, RescoreJob.Status.RUNNING]).update(
            status=RescoreJob.Status.SUPERSEDED, finished_at=now
        )
        bounds = Lead.objects.aggregate(low=Min("id"), high=Max("id"), n=Count("id"))
        job = RescoreJob.objects.create(
            version=version,
            trigger=trigger,
            status=RescoreJob.Status.RUNNING,
            leads_total=bounds["n"],
            started_at=now,
            as_of=as_of,
        )
        chunks = []
        if bounds["n"]:
            for start in range(bounds["low"], bounds["high"] + 1, chunk_size):
                chunks.append(
                    RescoreChunk(job=job, id_from=start, id_to=start + chunk_size, lease_expires_at=now + _lease())
                )
        RescoreChunk.objects.bulk_create(chunks)
        job.total_chunks = len(chunks)
        job.save(update_fields=["total_chunks"])
        if not chunks:
            _job_close(job)
    return job


def rescore_job_chunk_ids(*, job_id: int) -> list[int]:
    """The chunks of a job still to do (what a wake-up call queues)."""
    return list(
        RescoreChunk.objects.filter(job_id=job_id, done_at__isnull=True, job__status=RescoreJob.Status.RUNNING)
        .order_by("id_from")
        .values_list("id", flat=True)
    )


def _chunk_claim(chunk_id: int) -> dt.datetime | None:
    """Take the chunk's lease (committed at once, so the sweeper sees it): the claim's time, or None
    when the chunk is done, its job stopped, or a live worker holds it (this message is a copy)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            RescoreChunk.objects.filter(pk=chunk_id, done_at__isnull=True, job__status=RescoreJob.Status.RUNNING)
            .filter(Q(claimed_at__isnull=True) | Q(lease_expires_at__lt=now))
            .update(claimed_at=now, lease_expires_at=now + _lease(), attempts=F("attempts") + 1)
        )
    return now if claimed else None


@contextmanager
def _lease_renewed(chunk_id: int, claimed_at: dt.datetime) -> Iterator[None]:
    """Renew the chunk's lease every third of its length until the block ends (own thread and connection)."""
    stop = threading.Event()
    period = settings.ACCORD_RESCORE_LEASE_SECONDS / 3

    def renew() -> None:
        try:
            while not stop.wait(period):
                RescoreChunk.objects.filter(pk=chunk_id, claimed_at=claimed_at, done_at__isnull=True).update(
                    lease_expires_at=timezone.now() + _lease()
                )
        finally:
            connection.close()

    renewer = threading.Thread(target=renew, name=f"rescore-lease-{chunk_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def rescore_job_chunk(*, chunk_id: int) -> RescoreResult | None:
    """Score one id range of a job; the last chunk closes the job in the same transaction.

    A no-op when the chunk is done, its job was superseded, or another worker holds its lease. A copy
    that ran anyway (its lease had expired) rolls back whole when it finds the chunk done at the end.
    """
    claimed_at = _chunk_claim(chunk_id)
    if claimed_at is None:
        return None
    try:
        return _chunk_run(chunk_id, claimed_at)
    except BaseException:
        # Give the lease back, so that the task's retry (a deadlock, a lost connection) may take the
        # chunk at once instead of waiting for the lease to run out; if even that fails, it runs out.
        try:
            RescoreChunk.objects.filter(pk=chunk_id, claimed_at=claimed_at, done_at__isnull=True).update(
                claimed_at=None
            )
        except Exception:
            logger.exception("Could not release the lease of rescore chunk %s; it expires on its own.", chunk_id)
        raise


def _chunk_run(chunk_id: int, claimed_at: dt.datetime) -> RescoreResult | None:
    """The chunk's transaction, under a renewed lease: score, mark done, count, close the job if last."""
    with _lease_renewed(chunk_id, claimed_at), transaction.atomic():
        chunk = RescoreChunk.objects.filter(pk=chunk_id).order_by().first()
        job = RescoreJob.objects.select_related("version").get(pk=chunk.job_id)
        now = job.as_of or timezone.now()
        result = _rescore(
            target=_Target(id_from=chunk.id_from, id_to=chunk.id_to), version=job.version, now=now, announce=False
        )
        if result is None:
            RescoreJob.objects.filter(pk=job.pk, status=RescoreJob.Status.RUNNING).update(
                status=RescoreJob.Status.SUPERSEDED, finished_at=now
            )
            return None
        # Waits for a copy of this chunk that is committing, then finds it done: this copy undoes itself.
        if not RescoreChunk.objects.filter(pk=chunk_id, done_at__isnull=True).update(
            done_at=now, leads=result.scored, lease_expires_at=None
        ):
            transaction.set_rollback(True)
            return None
        job_table = table(RescoreJob)
        done, total, status = run(
            sql(
                "UPDATE {job} SET done_chunks = done_chunks + 1, leads_done = leads_done + {scored}"
                " WHERE id = {id} RETURNING done_chunks, total_chunks, status",
                job=job_table,
                scored=result.scored,
                id=job.pk,
            )
        )[0]
        if done >= total and status == RescoreJob.Status.RUNNING:
            job.refresh_from_db()
            _job_close(job)
    return result


def _job_close(job: RescoreJob) -> None:
    """Mark a job whose chunks are all done: re-time open MQLs under its version, or superseded."""
    job.finished_at = timezone.now()
    if job.version.status != AgreementVersion.Status.ACTIVE:
        job.status = RescoreJob.Status.SUPERSEDED
    else:
        refresh_mql_due_times(version=job.version)
        job.status = RescoreJob.Status.DONE
    job.save(update_fields=["status", "finished_at"])
    # The chunks routed their new MQLs without the backlog check: one check now, for every
    # round-robin team (it also closes the episodes of teams whose backlog the job cleared).
    team_ids = list(Team.objects.filter(routing=Team.Routing.ROUND_ROBIN).order_by("id").values_list("id", flat=True))
    if team_ids:
        mqls_routed.send(sender=None, team_ids=team_ids)


def rescore_job_finish(*, job_id: int) -> bool:
    """Close a running job whose chunks are all done (the sweeper's safety net: the last chunk closes its
    job itself); True when the job is done, now or before.

    The one place that re-times open MQLs after a publish (``sla`` does not listen to it): only
    after the last chunk are every lead's grade and the new SLA terms both final.
    """
    with transaction.atomic():
        job = (
            RescoreJob.objects.select_for_update(of=("self",))
            .select_related("version")
            .filter(pk=job_id)
            .order_by("pk")
            .first()
        )
        if job is None:
            return False
        if job.status == RescoreJob.Status.RUNNING and not job.chunks.filter(done_at__isnull=True).exists():
            _job_close(job)
        return job.status == RescoreJob.Status.DONE


def rescore_job_fail(*, job_id: int, error: str) -> None:
    """Mark a running job failed with a message a person can act on; its leads wait for the sweeper."""
    RescoreJob.objects.filter(pk=job_id, status=RescoreJob.Status.RUNNING).update(
        status=RescoreJob.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def refresh_mql_due_times(*, version: AgreementVersion) -> int:
    """Recompute the SLA due time of unworked open MQLs from ``mql_at`` and grade under ``version``."""
    rows = list(
        Lead.objects.filter(stage=Stage.MQL, first_action_at__isnull=True, mql_at__isnull=False).values_list(
            "id", "mql_at", "grade", "sla_due_at"
        )
    )
    changes = []
    for lead_id, mql_at, grade, current in rows:
        due = sla_due_at(version.spec, mql_at, grade)
        if due != current:
            changes.append((lead_id, due))
    table = Lead._meta.db_table
    with connection.cursor() as cursor:
        for batch in batches(changes, 1000):
            if connection.vendor == "postgresql":
                values = ", ".join(["(%s, %s::timestamptz)"] * len(batch))
                cursor.execute(
                    f"UPDATE {table} AS l SET sla_due_at = v.due FROM (VALUES {values}) AS v(id, due) "  # noqa: S608
                    "WHERE l.id = v.id AND l.stage = 'mql'",
                    [p for lead_id, due in batch for p in (lead_id, due)],
                )
            else:
                for lead_id, due in batch:
                    Lead.objects.filter(pk=lead_id, stage=Stage.MQL).update(sla_due_at=due)
    return len(changes)


def job_id_of_chunk(chunk_id: int) -> int | None:
    return RescoreChunk.objects.filter(pk=chunk_id).values_list("job_id", flat=True).first()


@dataclass
class SweepResult:
    """What one sweep found: jobs closed, chunks whose lease expired (to queue again), leads waiting."""

    closed_jobs: list[int] = field(default_factory=list)
    chunk_ids: list[int] = field(default_factory=list)
    pending: int = 0


def rescore_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Close running jobs with every chunk done (or whose version was retired), take back the chunks
    whose lease expired (a new lease for the queue), and count the leads waiting for a rescore.

    Each part runs whatever the others find: a running job never stops the rest of the sweep.
    """
    now = now or timezone.now()
    result = SweepResult()
    running = RescoreJob.objects.filter(status=RescoreJob.Status.RUNNING)
    for job_id in running.exclude(
        Exists(RescoreChunk.objects.filter(job=OuterRef("pk"), done_at__isnull=True))
    ).values_list("id", flat=True):
        if rescore_job_finish(job_id=job_id):
            result.closed_jobs.append(job_id)
    running.exclude(version__status=AgreementVersion.Status.ACTIVE).update(
        status=RescoreJob.Status.SUPERSEDED, finished_at=now
    )
    with transaction.atomic():
        expired = list(
            RescoreChunk.objects.filter(done_at__isnull=True, job__status=RescoreJob.Status.RUNNING)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .order_by("id")
            .select_for_update(of=("self",), skip_locked=True)
            .values_list("id", flat=True)
        )
        RescoreChunk.objects.filter(pk__in=expired).update(claimed_at=None, lease_expires_at=now + _lease())
    result.chunk_ids = expired
    result.pending = pending_rescore().leads
    return result


def unscored_lead_ids(*, version: AgreementVersion, limit: int) -> list[int]:
    """Leads not scored by ``version`` (never scored, or by an older one) that no running job of that
    version will reach (outside its undone chunks), up to ``limit``."""
    leads = Lead.objects.exclude(scored_version=version)
    for id_from, id_to in RescoreChunk.objects.filter(
        job__version=version, job__status=RescoreJob.Status.RUNNING, done_at__isnull=True
    ).values_list("id_from", "id_to"):
        leads = leads.exclude(id__gte=id_from, id__lt=id_to)
    return list(leads.order_by("id").values_list("id", flat=True)[:limit])


def version_job_running(*, version: AgreementVersion) -> bool:
    return RescoreJob.objects.filter(version=version, status=RescoreJob.Status.RUNNING).exists()


def aged_lead_ids(*, version: AgreementVersion, now: dt.datetime | None = None) -> list[int]:
    """Leads scored by ``version`` whose behaviour points changed with time alone since ``scored_at``.

    A plain rule changes when an activity that was inside its window at the last scoring has left
    it by now; a decaying rule changes whenever it still counted an activity at the last scoring.
    """
    now = now or timezone.now()
    changed = Q()
    for rule in version.spec.get("behaviour_rules", []):
        window = dt.timedelta(days=rule["window_days"])
        expires = ExpressionWrapper(F("occurred_at") + Value(window), output_field=DateTimeField())
        counted_then = Q(kind=rule["kind"]) & Q(GreaterThan(expires, OuterRef("scored_at")))
        changed |= counted_then if rule.get("half_life_days") else counted_then & Q(occurred_at__lte=now - window)
    if not changed:
        return []
    aged = Activity.objects.filter(changed, lead_id=OuterRef("pk"))
    return list(
        Lead.objects.filter(scored_version=version, scored_at__isnull=False, scored_at__lt=now)
        .filter(Exists(aged))
        .order_by("id")
        .values_list("id", flat=True)
    )


def revisit_due_lead_ids(*, now: dt.datetime | None = None) -> list[int]:
    """Recycled leads whose revisit date (portal time zone) has come since they were last scored.

    Until that date a recycled lead re-enters the MQL queue only if it engages again
    (``leads.scoring.scorer.recycle_hold``); the nightly job rescores it once on the date, so one that
    still qualifies comes back then without waiting for a new activity.
    """
    now = now or timezone.now()
    last_scored_on = TruncDate("scored_at", tzinfo=timezone.get_current_timezone())
    return list(
        Lead.objects.filter(stage=Stage.NURTURE, recycled_at__isnull=False, revisit_on__lte=timezone.localdate(now))
        .filter(Q(scored_at__isnull=True) | Q(LessThan(last_scored_on, F("revisit_on"))))
        .order_by("id")
        .values_list("id", flat=True)
    )


@dataclass(frozen=True)
class JobProgress:
    """What the progress bar shows for one RescoreJob."""

    percent: int
    running: bool
    leads_per_s: int | None
    eta_seconds: int | None
    elapsed_seconds: int


def job_progress(job: RescoreJob, now: dt.datetime | None = None) -> JobProgress:
    now = now or timezone.now()
    running = job.status in (RescoreJob.Status.QUEUED, RescoreJob.Status.RUNNING)
    if job.status == RescoreJob.Status.DONE or not job.total_chunks:
        percent = 100 if job.status == RescoreJob.Status.DONE else 0
    else:
        percent = min(100, int(100 * job.done_chunks / job.total_chunks))
    end = job.finished_at if job.finished_at and not running else now
    elapsed = max((end - job.started_at).total_seconds(), 0.0) if job.started_at else 0.0
    rate = job.leads_done / elapsed if elapsed > 0 and job.leads_done else None
    eta = None
    if running and rate:
        eta = int(max(job.leads_total - job.leads_done, 0) / rate)
    return JobProgress(
        percent=percent,
        running=running,
        leads_per_s=int(rate) if rate else None,
        eta_seconds=eta,
        elapsed_seconds=int(round(elapsed)),
    )


def overdue_after() -> dt.timedelta:
    """How long rescoring may lag before it is a problem: a dead worker's lease running out, plus two
    sweeps (one to queue the chunk again, one of slack)."""
    return dt.timedelta(seconds=settings.ACCORD_RESCORE_LEASE_SECONDS + 2 * settings.ACCORD_RESCORE_SWEEP_SECONDS)


def job_problem(job: RescoreJob, now: dt.datetime | None = None) -> str | None:
    """Why a running job is stuck rather than progressing (a sentence a person can act on), or None.

    Stuck: every chunk done but the job still open, or no chunk finished and no worker holding one
    for longer than ``overdue_after`` — the sweeper should have got it going again by then.
    """
    if job.status != RescoreJob.Status.RUNNING:
        return None
    now = now or timezone.now()
    chunks = job.chunks.aggregate(
        undone=Count("id", filter=Q(done_at__isnull=True)),
        last_done=Max("done_at"),
        held=Count("id", filter=Q(done_at__isnull=True, claimed_at__isnull=False, lease_expires_at__gte=now)),
    )
    last = chunks["last_done"] or job.started_at or job.created_at
    if now - last <= overdue_after() or chunks["held"]:
        return None
    waited = int((now - last).total_seconds())
    if not chunks["undone"]:
        return f"Every chunk is done but the job has not closed for {waited} s: is the sweeper (Celery beat) running?"
    return (
        f"No chunk has finished for {waited} s and no worker holds one ({chunks['undone']} of {job.total_chunks} "
        "to do): are the Celery worker and beat running?"
    )


def pending_problem(pending: PendingRescore, now: dt.datetime | None = None) -> str | None:
    """A sentence when leads have waited for a rescore longer than ``overdue_after``, else None."""
    if pending.since is None:
        return None
    waited = (now or timezone.now()) - pending.since
    if waited <= overdue_after() or AgreementVersion.objects.active() is None:
        return None  # before the first publish there is nothing to score against: waiting is normal
    return (
        f"The oldest request has waited {int(waited.total_seconds())} s, and these leads' scores are stale."
        " Are the Celery worker and beat running?"
    )
