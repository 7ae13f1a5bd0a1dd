"""Set-based rescoring of a set of leads: scores, personas, stage moves and their transitions."""

from __future__ import annotations

import datetime as dt

import pytest
from kombu.exceptions import OperationalError as BrokerError

from alignment.calendar import sla_due_at
from alignment.models import AgreementVersion
from leads.inbox.services import lead_accept, lead_recycle
from leads.models import Account, Assignment, Lead, Stage, Transition
from leads.scoring.rescoring import enqueue, rescore_leads, rescore_leads_later, revisit_due_lead_ids
from leads.scoring.scorer import explain
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    AgreementVersionFactory,
    LeadFactory,
    PersonaFactory,
    TransitionFactory,
)

# A Tuesday morning in London: SLA due times fall inside business hours.
NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.django_db


def hot_lead(**kwargs) -> Lead:
    """Fit 60 under the default spec (A grade) plus a demo request (+30): qualifies with 90."""
    lead = LeadFactory(budget="confirmed", **kwargs)
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=2))
    return lead


def cold_lead(**kwargs) -> Lead:
    """Fit 0: a small retailer's individual contributor, no activity."""
    account = AccountFactory(industry="Retail", employees=50, region="APAC", country="JP")
    return LeadFactory(account=account, job_title="Clerk", seniority="individual", **kwargs)


@pytest.fixture
def version(db):
    return AgreementVersionFactory(number=3)


def test_a_lead_that_qualifies_becomes_an_mql_with_one_system_transition(version, team):
    lead = hot_lead()
    result = rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    expected = explain(lead, version.spec, NOW)
    assert (lead.fit_score, lead.engagement_score, lead.score) == (expected.fit, expected.engagement, 90)
    assert lead.grade == "A"
    assert lead.stage == Stage.MQL
    assert lead.mql_at == NOW
    assert lead.sla_due_at == sla_due_at(version.spec, NOW, "A")
    assert lead.team == team
    assert lead.scored_version == version
    assert lead.scored_at == NOW
    assert result.new_mqls == [lead.id]
    transition = Transition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage) == (Stage.NEW, Stage.MQL)
    assert transition.actor is None
    assert transition.agreement_version == version
    assert (transition.score, transition.grade, transition.at) == (90, "A", NOW)
    assert transition.reason_code == "qualified"
    assert transition.note == "Meets version 3: score at least 60."


@pytest.mark.parametrize("teams", [1, 2])
def test_a_new_mql_without_a_team_joins_the_only_team_and_no_other(version, teams):
    """The routing rule: with one team a team-less lead joins it; with several it stays in every team's pool."""
    from tests.factories import TeamFactory

    only = [TeamFactory(name=f"Team {n}") for n in range(teams)][0]
    lead = hot_lead(team=None)
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.stage, lead.team) == (Stage.MQL, only if teams == 1 else None)


def test_new_mqls_are_routed_to_an_sdr_in_the_same_pass(version, sdr):
    lead = hot_lead()
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.owner == sdr
    assert Assignment.objects.filter(lead=lead, to_owner=sdr, reason="round_robin").count() == 1


def test_unworked_mql_that_a_new_version_no_longer_qualifies_goes_back_to_nurture(version):
    older = AgreementVersionFactory(number=2, status=AgreementVersion.Status.RETIRED)
    lead = cold_lead(stage=Stage.MQL, mql_at=NOW - dt.timedelta(days=1), sla_due_at=NOW, scored_version=older)
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.stage == Stage.NURTURE
    assert lead.sla_due_at is None
    assert lead.mql_at == NOW - dt.timedelta(days=1)  # history stays
    transition = Transition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage) == (Stage.MQL, Stage.NURTURE)
    assert transition.reason_code == "no_longer_qualifies"
    assert transition.note == "No longer meets version 3."


def test_a_demoted_mql_leaves_its_sdrs_queue_without_an_owner(version, sdr):
    older = AgreementVersionFactory(number=2, status=AgreementVersion.Status.RETIRED)
    lead = cold_lead(stage=Stage.MQL, owner=sdr, mql_at=NOW - dt.timedelta(days=1), scored_version=older)
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.NURTURE, None)
    released = Assignment.objects.get(lead=lead)
    assert (released.from_owner, released.to_owner, released.reason, released.actor) == (sdr, None, "released", None)
    # The withdrawal names the SDR who owned the lead when it happened, like the release does:
    # per-SDR figures attribute the pass it ends to that owner, not to "Unassigned".
    transition = Transition.objects.get(lead=lead)
    assert (transition.owner, transition.actor, transition.at) == (sdr, None, released.at)


def test_a_never_scored_mql_that_does_not_qualify_goes_back_to_nurture(version):
    lead = cold_lead(stage=Stage.MQL, mql_at=NOW - dt.timedelta(days=1), sla_due_at=NOW)
    assert rescore_leads(lead_ids=[lead.id], now=NOW).moved == {"nurture": 1}


def test_an_mql_whose_activities_aged_stays_in_the_queue_under_the_same_version(version):
    lead = LeadFactory()  # fit 50: a demo request (+30) made it an MQL
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=2))
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.score, lead.stage) == (80, Stage.MQL)

    later = NOW + dt.timedelta(days=100)  # the demo request left its 90-day window
    result = rescore_leads(lead_ids=[lead.id], now=later)  # an activity batch or the nightly job
    lead.refresh_from_db()
    assert (lead.score, lead.stage, lead.scored_at) == (50, Stage.MQL, later)
    assert result.moved == {}
    assert lead.transitions.count() == 1  # only its way in

    version.status = AgreementVersion.Status.RETIRED
    version.save()
    newer = AgreementVersionFactory(number=4, spec=version.spec)
    assert rescore_leads(lead_ids=[lead.id], version=newer, now=later).moved == {"nurture": 1}
    lead.refresh_from_db()
    assert (lead.stage, lead.scored_version, lead.sla_due_at) == (Stage.NURTURE, newer, None)
    out = lead.transitions.order_by("at", "id").last()
    assert (out.from_stage, out.to_stage, out.reason_code) == (Stage.MQL, Stage.NURTURE, "no_longer_qualifies")
    assert out.note == "No longer meets version 4."
    assert out.agreement_version == newer


def test_a_knock_out_disqualifies_an_mql_even_under_the_same_version(version):
    lead = hot_lead()
    rescore_leads(lead_ids=[lead.id], now=NOW)
    Lead.objects.filter(pk=lead.pk).update(seniority="student")  # corrected by an import
    assert rescore_leads(lead_ids=[lead.id], now=NOW).moved == {"disqualified": 1}
    lead.refresh_from_db()
    assert (lead.stage, lead.scored_version) == (Stage.DISQUALIFIED, version)


def test_an_mql_an_sdr_already_worked_keeps_its_stage(version):
    lead = cold_lead(stage=Stage.MQL, first_action_at=NOW - dt.timedelta(hours=1))
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert not Transition.objects.exists()


@pytest.mark.parametrize("stage", [Stage.NEW, Stage.NURTURE, Stage.MQL])
def test_knocked_out_leads_are_disqualified_with_the_knockout_named(version, stage):
    lead = hot_lead(stage=stage, email="eve@leadforge.io", email_domain="leadforge.io")
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.knocked_out
    assert lead.stage == Stage.DISQUALIFIED
    assert lead.score == 90  # the score is still computed and shown
    transition = Transition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage) == (stage, Stage.DISQUALIFIED)
    assert transition.reason_code == "knocked_out"
    assert transition.note == "Knocked out by version 3: Competitor"


@pytest.mark.parametrize("stage", [Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST, Stage.REJECTED, Stage.DISQUALIFIED])
def test_worked_and_closed_leads_keep_their_stage_but_get_new_scores(version, stage):
    hot = hot_lead(stage=stage)
    knocked = hot_lead(stage=stage, email="s@x.example", seniority="student")
    rescore_leads(lead_ids=[hot.id, knocked.id], now=NOW)
    for lead in (hot, knocked):
        lead.refresh_from_db()
        assert lead.stage == stage
        assert lead.score == 90 if lead == hot else lead.score > 0
        assert lead.scored_version == version
    assert knocked.knocked_out
    assert not Transition.objects.exists()


def test_rescoring_twice_changes_nothing_the_second_time(version):
    leads = [hot_lead(), cold_lead(stage=Stage.MQL), hot_lead(email="k@leadforge.io", email_domain="leadforge.io")]
    ids = [lead.id for lead in leads]
    first = rescore_leads(lead_ids=ids, now=NOW)
    snapshot = list(Lead.objects.order_by("id").values())
    second = rescore_leads(lead_ids=ids, now=NOW)
    assert first.moved == {"mql": 1, "nurture": 1, "disqualified": 1}
    assert second.moved == {}
    assert Transition.objects.count() == 3
    assert list(Lead.objects.order_by("id").values()) == snapshot


def test_stage_always_equals_the_latest_transition(version):
    lead = hot_lead()
    TransitionFactory(lead=lead, to_stage=Stage.NEW, at=NOW - dt.timedelta(days=3))
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.transitions.order_by("-at", "-id").first().to_stage == lead.stage == Stage.MQL


def test_recycled_lead_counts_only_engagement_after_recycling(version):
    lead = LeadFactory(stage=Stage.NURTURE, recycled_at=NOW - dt.timedelta(days=1))  # fit 50
    ActivityFactory(lead=lead, kind="demo_request", occurred_at=NOW - dt.timedelta(days=2))  # before recycling
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.stage) == (0, Stage.NURTURE)

    ActivityFactory(lead=lead, kind="contact_sales", occurred_at=NOW - dt.timedelta(hours=12))
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.stage) == (25, Stage.MQL)
    assert lead.transitions.get().from_stage == Stage.NURTURE


def recycled_lead(*, revisit_in_days: int, **kwargs) -> Lead:
    """Fit 60 (qualifies on fit alone), recycled an hour ago; its demo request came before the recycle."""
    return hot_lead(
        stage=Stage.NURTURE,
        recycled_at=NOW - dt.timedelta(hours=1),
        revisit_on=NOW.date() + dt.timedelta(days=revisit_in_days),
        **kwargs,
    )


def test_a_recycled_lead_stays_in_nurture_until_its_revisit_date_despite_its_fit(version):
    lead = recycled_lead(revisit_in_days=30)
    result = rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.score, lead.engagement_score, lead.stage) == (60, 0, Stage.NURTURE)
    assert result.moved == {}
    assert not Transition.objects.exists()


def test_a_recycled_lead_that_engages_again_re_enters_the_queue_before_its_revisit_date(version):
    lead = recycled_lead(revisit_in_days=30)
    ActivityFactory(lead=lead, kind="email_click", occurred_at=NOW - dt.timedelta(minutes=10))
    assert rescore_leads(lead_ids=[lead.id], now=NOW).moved == {"mql": 1}
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.stage) == (2, Stage.MQL)


def test_negative_engagement_after_the_recycle_does_not_release_the_hold(version):
    version.spec["mql_threshold"] = 40  # fit 60 minus an unsubscribe (-20) still qualifies
    version.save()
    lead = recycled_lead(revisit_in_days=30)
    ActivityFactory(lead=lead, kind="unsubscribe", occurred_at=NOW - dt.timedelta(minutes=10))
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.score, lead.engagement_score, lead.stage) == (40, -20, Stage.NURTURE)


@pytest.mark.parametrize("revisit_in_days", [0, -3])
def test_a_recycled_lead_follows_the_normal_rule_from_its_revisit_date(version, revisit_in_days):
    lead = recycled_lead(revisit_in_days=revisit_in_days)
    assert rescore_leads(lead_ids=[lead.id], now=NOW).moved == {"mql": 1}


@pytest.mark.parametrize(("zone", "held"), [("Asia/Tokyo", False), ("UTC", True), ("America/New_York", True)])
def test_the_revisit_date_is_a_date_in_the_portals_time_zone(version, settings, zone, held):
    """At 20:00 UTC on the 10th it is already the 11th in Tokyo: a lead to revisit on the 11th is due there."""
    settings.TIME_ZONE = zone
    evening = NOW.replace(hour=20)
    lead = hot_lead(stage=Stage.NURTURE, recycled_at=evening - dt.timedelta(hours=1), revisit_on=dt.date(2026, 3, 11))
    assert (lead.id in revisit_due_lead_ids(now=evening)) is not held  # the nightly job's pick
    assert rescore_leads(lead_ids=[lead.id], now=evening).moved == ({} if held else {"mql": 1})


def test_a_recycled_lead_is_not_requalified_minutes_after_the_sdr_recycled_it(version, sdr):
    lead = hot_lead()
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.MQL, sdr)
    revisit = NOW.date() + dt.timedelta(days=30)
    lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=revisit, now=NOW)

    rescore_leads(lead_ids=[lead.id], now=NOW + dt.timedelta(minutes=5))  # e.g. an old activity re-sent
    lead.refresh_from_db()
    assert (lead.stage, lead.fit_score, lead.recycled_at) == (Stage.NURTURE, 60, NOW)
    assert list(lead.transitions.values_list("to_stage", flat=True)) == [Stage.MQL, Stage.NURTURE]

    revisit_day = dt.datetime.combine(revisit, dt.time(2, 30), tzinfo=dt.UTC)
    assert revisit_due_lead_ids(now=revisit_day - dt.timedelta(days=1)) == []
    assert revisit_due_lead_ids(now=revisit_day) == [lead.id]  # the nightly job picks it up that night
    rescore_leads(lead_ids=[lead.id], now=revisit_day)
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert revisit_due_lead_ids(now=revisit_day + dt.timedelta(days=1)) == []  # once


def test_a_lead_re_entering_mql_starts_a_new_sla_pass_and_is_routed_again(version, sdr):
    lead = hot_lead()
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead_accept(lead_id=lead.id, user=sdr, now=NOW + dt.timedelta(hours=1))  # SAL: the first action
    revisit = NOW.date() + dt.timedelta(days=30)
    lead_recycle(lead_id=lead.id, user=sdr, reason_code="no_budget", revisit_on=revisit, now=NOW + dt.timedelta(days=2))
    lead.refresh_from_db()
    assert (lead.stage, lead.owner, lead.first_action_at) == (Stage.NURTURE, None, NOW + dt.timedelta(hours=1))

    back = dt.datetime.combine(revisit, dt.time(2, 30), tzinfo=dt.UTC)  # the nightly rescore that day
    assert rescore_leads(lead_ids=[lead.id], now=back).new_mqls == [lead.id]
    lead.refresh_from_db()
    assert lead.stage == Stage.MQL
    assert (lead.mql_at, lead.sla_due_at) == (back, sla_due_at(version.spec, back, "A"))
    assert (lead.first_action_at, lead.revisit_on) == (None, None)  # the SLA clock runs again
    assert lead.owner == sdr  # routed afresh
    assert list(lead.assignments.values_list("reason", "to_owner")) == [
        ("round_robin", sdr.id),
        ("released", None),  # the recycle
        ("round_robin", sdr.id),
    ]
    entry = lead.transitions.order_by("at", "id").last()
    assert (entry.from_stage, entry.to_stage, entry.at, entry.actor) == (Stage.NURTURE, Stage.MQL, back, None)


def test_an_owner_a_lead_still_had_is_released_when_it_re_enters_mql(version, sdr):
    # A nurture lead that still has an owner (imported that way, or from before owners were
    # released on demotion): re-entering MQL releases that owner before routing runs.
    lead = cold_lead(stage=Stage.NURTURE, owner=sdr, mql_at=NOW - dt.timedelta(days=3))
    rescore_leads(lead_ids=[lead.id], now=NOW)  # does not qualify yet: nothing moves
    lead.refresh_from_db()
    assert (lead.stage, lead.owner) == (Stage.NURTURE, sdr)

    Lead.objects.filter(pk=lead.pk).update(budget="confirmed", job_title="Marketing Director", seniority="director")
    Account.objects.filter(pk=lead.account_id).update(industry="Software", employees=800, region="EMEA")
    later = NOW + dt.timedelta(hours=2)
    assert rescore_leads(lead_ids=[lead.id], now=later).new_mqls == [lead.id]
    lead.refresh_from_db()
    assert (lead.stage, lead.mql_at, lead.owner) == (Stage.MQL, later, sdr)
    released, routed = lead.assignments.order_by("at", "id")
    assert (released.reason, released.from_owner, released.to_owner, released.actor) == ("released", sdr, None, None)
    assert (routed.reason, routed.from_owner, routed.to_owner) == ("round_robin", None, sdr)
    # The re-entry names the owner the lead had at that moment, the one it releases.
    assert lead.transitions.order_by("at", "id").last().owner == sdr


def test_persona_is_set_from_the_active_personas(version):
    archived = PersonaFactory(title_keywords=["marketing"], seniorities=[], departments=[])
    archived.archived_at = NOW
    archived.save()
    persona = PersonaFactory(title_keywords=["MARKETING"], seniorities=["director"], departments=[])
    marketer = LeadFactory(job_title="Director of Marketing", seniority="director")
    engineer = LeadFactory(job_title="Engineer", seniority="director", persona=persona)
    rescore_leads(lead_ids=[marketer.id, engineer.id], now=NOW)
    marketer.refresh_from_db()
    engineer.refresh_from_db()
    assert marketer.persona == persona
    assert engineer.persona is None


def test_persona_rules_see_the_persona_computed_in_the_same_pass(version):
    persona = PersonaFactory(title_keywords=["marketing"], seniorities=[], departments=[])
    version.spec["fit_rules"] = [
        {"id": "p", "field": "persona", "operator": "in", "values": [persona.id], "points": 70}
    ]
    version.save()
    lead = LeadFactory(job_title="Marketing lead")
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert (lead.persona, lead.fit_score, lead.stage) == (persona, 70, Stage.MQL)


def test_completeness_measures_the_definitions_fields(version):
    lead = LeadFactory(account=None, job_title="", seniority="", budget="")
    rescore_leads(lead_ids=[lead.id], now=NOW)
    lead.refresh_from_db()
    assert lead.completeness == 0
    assert lead.grade == "D"


def test_a_retired_version_scores_nothing(version):
    lead = hot_lead()
    version.status = AgreementVersion.Status.RETIRED
    version.save()
    result = rescore_leads(lead_ids=[lead.id], version=version, now=NOW)
    assert result.scored == 0
    lead.refresh_from_db()
    assert lead.scored_version is None
    assert rescore_leads(lead_ids=[lead.id], now=NOW).scored == 0  # and no active version at all


def test_rescore_leads_later_runs_after_commit_only(version, django_capture_on_commit_callbacks):
    lead = hot_lead()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        rescore_leads_later([lead.id, lead.id])
    lead.refresh_from_db()
    assert lead.scored_version is None  # nothing happens before the commit
    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the (eager) task rescoring this lead runs
    lead.refresh_from_db()
    assert (lead.scored_version, lead.stage) == (version, Stage.MQL)


def test_rescore_leads_later_ignores_an_empty_batch(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        rescore_leads_later([])
    assert callbacks == []


def test_a_broker_outage_does_not_fail_the_caller(caplog):
    class Unreachable:
        name = "leads.tasks.rescore_leads_task"

        def delay(self, *args):
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    enqueue(Unreachable(), [1, 2])
    assert "the sweeper will pick it up" in caplog.text


def test_large_id_lists_are_scored_in_batches(version, monkeypatch):
    monkeypatch.setattr("leads.scoring.rescoring.ID_BATCH", 2)
    leads = [cold_lead() for _ in range(5)]
    result = rescore_leads(lead_ids=[lead.id for lead in leads], now=NOW)
    assert result.scored == 5
    assert Lead.objects.filter(scored_version=version).count() == 5


def test_a_rescore_leaves_updated_at_alone_unless_the_stage_moves(version):
    before = NOW - dt.timedelta(days=3)
    sal = hot_lead(stage=Stage.SAL, updated_at=before)  # sales owns it: new score, same stage
    new = hot_lead(email="n@x.example", updated_at=before)  # crosses the threshold: new stage
    rescore_leads(lead_ids=[sal.id, new.id], now=NOW)
    sal.refresh_from_db()
    new.refresh_from_db()
    assert (sal.score, sal.scored_at, sal.updated_at) == (90, NOW, before)
    assert (new.stage, new.updated_at) == (Stage.MQL, NOW)


# What the scoring statement changes on a rescore. If an index held any of them, PostgreSQL could no
# longer update a lead row in place (HOT), and every row would be written through every index of the
# table again (a 1M-lead rescore measured ~4x slower; docs/scoring.md). It writes persona_id too,
# which keeps its foreign-key index: a row's persona only changes when personas are edited,
# and an unchanged value does not stop a HOT update.
SCORING_COLUMNS = {
    "fit_score",
    "engagement_score",
    "score",
    "grade",
    "knocked_out",
    "completeness",
    "scored_version_id",
    "scored_at",
}


def test_no_index_of_the_lead_table_holds_a_column_the_rescore_writes():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("HOT updates are PostgreSQL's")
    with connection.cursor() as cursor:
        # Key columns, expression columns and predicate columns alike: any of them blocks HOT.
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, a.attname
            FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE i.indrelid = 'leads_lead'::regclass
              AND (a.attnum = ANY(i.indkey)
                   OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M')
                   OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
            """
        )
        indexed = cursor.fetchall()
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'leads_lead'::regclass")
        options = cursor.fetchone()[0]
    assert indexed, "the query found no index at all"
    assert [(index, column) for index, column in indexed if column in SCORING_COLUMNS] == []
    assert "fillfactor=75" in (options or [])
