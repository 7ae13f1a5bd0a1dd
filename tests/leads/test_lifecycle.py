"""The lifecycle has one owner: its table of moves, its log writers, the team of a new lead."""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import itertools
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection

from leads import lifecycle
from leads.inbox import services
from leads.intake import writes as intake
from leads.models import Assignment, Lead, Stage, Transition
from leads.scoring.rescoring import rescore_leads
from leads.scoring.scorer import next_stage
from leads.sql import sql, table
from portal.access import Role
from tests.factories import AgreementVersionFactory, LeadFactory, TeamFactory, TeamMemberFactory, UserFactory
from tests.lifecycle_check import stage_log_mismatches

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("leads", "sla", "alignment", "demo")
NOW = dt.datetime(2026, 3, 11, 10, 30, tzinfo=dt.UTC)
_INSERT_INTO_LOG = re.compile(r"INSERT\s+INTO\s+\S*transition", re.IGNORECASE)


def _writes_transitions(source: str) -> list[int]:
    """Lines of ``source`` that insert ``Transition`` rows: the model's constructor, its manager's
    create/bulk_create, a bulk helper given the model, or raw ``INSERT INTO`` the log's table."""
    return sorted({node.lineno for node in ast.walk(ast.parse(source)) if _inserts_transition(node)})


def _inserts_transition(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_INSERT_INTO_LOG.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return bool(_INSERT_INTO_LOG.search(ast.unparse(node)))
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name == "Transition":
        return True
    if isinstance(func, ast.Attribute) and "create" in name and "Transition" in ast.unparse(func.value):
        return True
    given_the_model = any(isinstance(arg, ast.Name) and arg.id == "Transition" for arg in node.args)
    return given_the_model and bool(re.search(r"insert|copy|create", name, re.IGNORECASE))


def test_the_log_writer_check_finds_every_way_the_old_code_wrote_transitions():
    samples = [
        "Transition.objects.create(lead=lead, to_stage='sal')",
        "Transition.objects.bulk_create(rows)",
        "models.Transition(lead=lead)",
        "Transition(lead=lead)",
        "_insert_rows(Transition, rows, now=now)",
        "bulk_insert(Transition, columns, rows)",
        "cursor.execute(f'INSERT INTO {transition_table} ({columns}) SELECT 1')",
        "cursor.execute('INSERT INTO leads_transition (lead_id) VALUES (1)')",
    ]
    for sample in samples:
        assert _writes_transitions(sample) == [1], sample
    assert _writes_transitions("Transition.objects.filter(lead=lead).first()") == []


def test_no_module_outside_the_lifecycle_writes_transitions():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or relative == Path("leads/lifecycle.py"):
                continue
            found += [f"{relative}:{line}" for line in _writes_transitions(path.read_text())]
    assert found == []


def test_sdr_actions_and_scoring_make_only_the_lifecycles_moves():
    for action in (services.ACCEPT, services.RECYCLE, services.REJECT, services.DISQUALIFY, services.CONVERT):
        assert action.move in lifecycle.MOVES
        assert all(lifecycle.allowed(stage, action.to_stage) for stage in action.from_stages)
    for stage in Stage.values:
        for flags in itertools.product((False, True), repeat=5):
            qualifies, knocked_out, worked, new_version, held = flags
            after = next_stage(
                stage, qualifies=qualifies, knocked_out=knocked_out, worked=worked, new_version=new_version, held=held
            )
            assert after == stage or lifecycle.allowed(stage, after), (stage, flags, after)
            if after != stage:
                assert stage in lifecycle.SCORABLE_STAGES


def test_the_stage_check_finds_a_lead_whose_stage_is_not_its_logs_latest(db):
    lead = LeadFactory(stage=Stage.SAL)
    unlogged = LeadFactory(stage=Stage.NEW)
    lifecycle.transitions_add([{"lead_id": lead.id, "from_stage": "", "to_stage": Stage.NEW, "at": NOW}])
    assert stage_log_mismatches() == [(lead.id, Stage.SAL, Stage.NEW)]
    assert stage_log_mismatches(every_lead_logged=True) == [(lead.id, Stage.SAL, Stage.NEW), (unlogged.id, "new", None)]
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.NEW)
    Lead.objects.filter(pk=unlogged.pk).delete()


def test_a_move_the_lifecycle_does_not_allow_is_refused_and_not_logged(db):
    lead = LeadFactory(stage=Stage.WON)
    with pytest.raises(lifecycle.MoveError, match="history import"):
        lifecycle.transitions_add(
            [{"lead_id": lead.id, "from_stage": Stage.WON, "to_stage": Stage.MQL, "at": NOW}], by="history import"
        )
    with pytest.raises(lifecycle.MoveError):
        lifecycle.transition_record(lead=lead, move=lifecycle.ACCEPT, from_stage=Stage.WON, at=NOW, owner_id=None)
    assert not Transition.objects.exists()


def test_dated_steps_are_logged_at_their_own_times_with_their_actor(db):
    seller = UserFactory()
    lead = LeadFactory(stage=Stage.SAL)
    steps = [("", Stage.NEW, None), (Stage.NEW, Stage.MQL, None), (Stage.MQL, Stage.SAL, seller.id)]
    rows = [
        {"lead_id": lead.id, "from_stage": f, "to_stage": t, "actor_id": a, "at": NOW - dt.timedelta(days=30 - i)}
        for i, (f, t, a) in enumerate(steps)
    ]
    assert lifecycle.transitions_add(rows, by="history import") == 3
    logged = list(lead.transitions.order_by("at").values_list("from_stage", "to_stage", "actor_id", "at"))
    assert logged == [(f, t, a, NOW - dt.timedelta(days=30 - i)) for i, (f, t, a) in enumerate(steps)]
    assert stage_log_mismatches(every_lead_logged=True) == []


def test_the_set_based_insert_takes_each_rows_own_time_or_one_instant(db):
    first, second = LeadFactory(stage=Stage.NEW), LeadFactory(stage=Stage.NEW)
    dated = sql(
        "SELECT l.id AS lead_id, '' AS from_stage, {new} AS to_stage, NULL AS owner_id, l.created_at AS at,"
        " '' AS reason_code, '' AS note, NULL AS agreement_version_id, NULL AS score, '' AS grade"
        " FROM {lead} AS l WHERE l.id = {id}",
        new=Stage.NEW,
        lead=table(Lead),
        id=first.id,
    )
    with connection.cursor() as cursor:
        statement = lifecycle.transitions_insert(dated)
        cursor.execute(statement.text, dict(statement.params))
        assert cursor.fetchall() == [(first.id, "new")]
    first_logged = Transition.objects.get(lead=first)
    assert (first_logged.at, first_logged.actor_id) == (first.created_at, None)

    sdr = UserFactory()
    one_instant = sql(
        "SELECT l.id AS lead_id, '' AS from_stage, {new} AS to_stage, NULL AS owner_id,"
        " '' AS reason_code, '' AS note, NULL AS agreement_version_id, NULL AS score, '' AS grade"
        " FROM {lead} AS l WHERE l.id = {id}",
        new=Stage.NEW,
        lead=table(Lead),
        id=second.id,
    )
    statement = lifecycle.transitions_insert(one_instant, at=NOW, actor_id=sdr.id)
    with connection.cursor() as cursor:
        cursor.execute(statement.text, dict(statement.params))
    second_logged = Transition.objects.get(lead=second)
    assert (second_logged.at, second_logged.actor_id) == (NOW, sdr.id)


# --- the team of a new lead -------------------------------------------------------------------


def test_a_new_lead_joins_the_only_team(db):
    team = TeamFactory()
    result = intake.leads_upsert(rows=[{"email": "ada@analytical.example"}])
    lead = Lead.objects.get(pk=result.ids["ada@analytical.example"])
    assert lead.team == team
    assert lifecycle.new_lead_team_id() == team.id


def test_with_several_teams_a_new_lead_waits_in_the_shared_queue_until_an_sdr_claims_it(db):
    # Intake used to put it in the oldest team, hidden from every other team's queue, while
    # routing left it in the shared queue: both now follow the lifecycle's one rule.
    TeamFactory(name="Inside Sales")
    later = TeamFactory(name="Field Sales")
    AgreementVersionFactory()
    result = intake.leads_upsert(rows=[{"email": "grace@navy.example"}])
    lead = Lead.objects.get(pk=result.ids["grace@navy.example"])
    assert lead.team is None and lifecycle.new_lead_team_id() is None

    sdr = UserFactory(roles=[Role.SDR.value])
    TeamMemberFactory(user=sdr, team=later)
    Lead.objects.filter(pk=lead.pk).update(stage=Stage.MQL)
    Transition.objects.filter(lead=lead).update(to_stage=Stage.MQL)  # the scoring pass, in short
    claimed = services.lead_claim(lead_id=lead.id, user=sdr)
    assert claimed.team == later


# --- owners on system moves -------------------------------------------------------------------


def _repair():
    return importlib.import_module("leads.migrations.0009_transition_owner_repair").repair


def test_the_owner_repair_names_the_owner_released_at_the_same_instant(db):
    sdr, other, person = UserFactory(), UserFactory(), UserFactory()
    withdrawn = LeadFactory(stage=Stage.NURTURE)
    # As the old rescore wrote it: the release names the SDR, the withdrawal no one.
    Assignment.objects.create(lead=withdrawn, from_owner=sdr, to_owner=None, reason="released", at=NOW)
    Transition.objects.create(lead=withdrawn, from_stage=Stage.MQL, to_stage=Stage.NURTURE, at=NOW)
    # Left alone: a later release, a person's move, a transition that already names its owner.
    untouched = LeadFactory(stage=Stage.NURTURE)
    Assignment.objects.create(lead=untouched, from_owner=other, to_owner=None, reason="released", at=NOW)
    Transition.objects.create(
        lead=untouched, from_stage=Stage.MQL, to_stage=Stage.NURTURE, at=NOW - dt.timedelta(seconds=1)
    )
    recycled = LeadFactory(stage=Stage.NURTURE)
    Assignment.objects.create(lead=recycled, from_owner=person, to_owner=None, reason="released", actor=person, at=NOW)
    Transition.objects.create(
        lead=recycled, from_stage=Stage.MQL, to_stage=Stage.NURTURE, actor=person, owner=person, at=NOW
    )

    # RunPython hands the function the schema editor; the repair only uses its connection.
    _repair()(django_apps, SimpleNamespace(connection=connection))

    assert Transition.objects.get(lead=withdrawn).owner == sdr
    assert Transition.objects.get(lead=untouched).owner is None
    assert Transition.objects.get(lead=recycled).owner == person


def test_a_knock_out_keeps_and_names_the_owner_of_the_lead(db):
    sdr = UserFactory()
    AgreementVersionFactory()
    lead = LeadFactory(stage=Stage.MQL, owner=sdr, mql_at=NOW, email="spy@leadforge.io", email_domain="leadforge.io")
    assert rescore_leads(lead_ids=[lead.id]).moved == {Stage.DISQUALIFIED: 1}
    lead.refresh_from_db()
    logged = Transition.objects.get(lead=lead)
    assert (lead.stage, lead.owner, logged.owner, logged.actor) == (Stage.DISQUALIFIED, sdr, sdr, None)
