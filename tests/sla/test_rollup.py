"""The daily roll-up: figures stay exact while it is built, caught up, partly stale or read in another time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Lead, Transition
from leads.sql import run, sql
from sla import passes
from sla.clock import current_terms
from sla.figures import Scope, compute, rolled
from sla.models import Pass, PassState, RollupDay
from tests.factories import AgreementVersionFactory, TeamFactory, UserFactory
from tests.sla.conftest import at, history
from tests.sla.reference import brute_force
from tests.sla.test_figures_brute_force import LONDON, NOW, _assert_same, _build, lead_history

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _scope(tz=LONDON, days=28, end=NOW, **kw):
    return Scope(start=end - dt.timedelta(days=days), end=end, tz=tz, now=NOW, **kw)


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(lead_history, min_size=1, max_size=5),
    later=st.lists(lead_history, min_size=1, max_size=5),
    reassign=st.booleans(),
    request_days=st.sampled_from([0, 1, 14]),
    tz=st.sampled_from([LONDON, NEW_YORK]),
    range_days=st.integers(min_value=1, max_value=40),
    team_filter=st.sampled_from([None, 0]),
)
def test_figures_stay_exact_as_the_log_grows_and_days_go_stale(
    first, later, reassign, request_days, tz, range_days, team_filter
):
    with transaction.atomic():
        old = AgreementVersionFactory(status="retired")
        old.spec["sla"]["response_hours"] = {"A": 2, "B": 6, "C": 12}
        old.save()
        active = AgreementVersionFactory()
        users = [UserFactory(username=f"roll-sdr{i}") for i in range(3)]
        teams = [TeamFactory(name="Inside Sales"), TeamFactory(name="Field Sales")]
        leads, _ = _build(first, users, teams, [old, active])
        scope = _scope(tz=tz, days=range_days, team_id=teams[team_filter].id if team_filter is not None else None)
        passes.refresh(terms=current_terms(), now=NOW)  # builds passes and roll-up from the first batch
        more, _ = _build(later, users, teams, [old, active])  # new passes on old and recent days
        leads.update(more)
        if reassign:
            lead = next(iter(leads.values()))
            Lead.objects.filter(pk=lead.pk).update(owner=users[2], team=teams[1])
            lead.refresh_from_db()
            leads[lead.pk] = lead
        terms = current_terms()
        passes.refresh(terms=terms, now=NOW, days=request_days)  # 0: every changed day is left stale
        figures = compute(scope, terms=terms)
        expected = brute_force(list(Transition.objects.all()), leads, scope, terms)
        _assert_same(figures, expected)
        assert figures == compute(scope, terms=terms, use_rollup=False)
        transaction.set_rollback(True)


def test_a_day_changed_later_is_re_aggregated_by_the_next_refresh(agreement, sdr, make_mql):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    passes.refresh(terms=current_terms(), now=NOW)
    assert not RollupDay.objects.filter(stale=True).exists()
    history_row = Transition.objects.create(
        lead=lead, from_stage="mql", to_stage="sal", at=at("2026-03-02 10:00"), actor=sdr, owner=sdr
    )
    Lead.objects.filter(pk=lead.pk).update(stage="sal")
    assert passes.refresh(terms=current_terms(), now=NOW) == 1
    state = passes.freshness(terms=current_terms(), now=NOW)
    assert state.rollup and not state.stale and not state.refreshing
    day = RollupDay.objects.get(day=dt.date(2026, 3, 2))
    assert not day.stale and day.generation == 1
    kinds = run(sql("SELECT kind, n, vals FROM sla_rollup WHERE section = 'mql' AND day = '2026-03-02'"))
    assert kinds == [("accepted", 1, [3600.0])]
    assert history_row.pk  # the SAL pass now exists too
    assert Pass.objects.filter(lead=lead, stage="sal").exists()


def test_stale_days_beyond_the_refresh_budget_are_read_from_the_passes(agreement, sdr, make_mql):
    leads = [make_mql(sdr, at(f"2026-03-0{d} 09:00")) for d in (2, 3, 4)]
    scope = _scope(end=at("2026-03-06 00:00"))
    terms = current_terms()
    passes.refresh(terms=terms, now=NOW)
    for lead in leads:
        history(lead, ("sal", lead.transitions.order_by("-at").first().at + dt.timedelta(hours=2), sdr))
    passes.refresh(terms=terms, now=NOW, days=1)
    with_rollup = compute(scope, terms=terms)
    assert RollupDay.objects.filter(stale=True).count() == 2  # one day re-aggregated, two left
    assert with_rollup == compute(scope, terms=terms, use_rollup=False)
    assert with_rollup["decisions"]["accepted"] == 3 and with_rollup["response"]["median_hours"] == 2.0


def test_finished_weeks_percentiles_are_cached_until_their_days_change(
    agreement, sdr, make_mql, django_capture_on_commit_callbacks
):
    old = make_mql(sdr, at("2026-02-10 09:00"))
    history(old, ("sal", at("2026-02-10 12:00"), sdr))
    scope = _scope(end=at("2026-03-06 00:00"))
    terms = current_terms()
    passes.refresh(terms=terms, now=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        first = compute(scope, terms=terms)
    week = next(w for w in first["trends"] if w["mqls"])
    assert week["median_hours"] == 3.0
    seen = []
    from sla.figures import dashboard

    original = rolled.rollup_figures_sql

    def spy(*args, **kwargs):
        seen.append(kwargs["pct_weeks"])
        return original(*args, **kwargs)

    dashboard.rollup_figures_sql = spy
    try:
        assert compute(scope, terms=terms) == first
        assert week["index"] not in seen[-1]  # served from the cache
        late = make_mql(sdr, at("2026-02-11 09:00"))  # a late entry lands in that week
        history(late, ("sal", at("2026-02-11 10:00"), sdr))
        passes.refresh(terms=terms, now=NOW)
        again = compute(scope, terms=terms)
        assert week["index"] in seen[-1]  # the day's generation moved: recomputed
    finally:
        dashboard.rollup_figures_sql = original
    assert again["trends"][week["index"]]["median_hours"] == 1.0
    assert again == compute(scope, terms=terms, use_rollup=False)


def test_an_unbuilt_log_is_never_built_inside_a_request(login, manager, agreement, sdr, make_mql):
    make_mql(sdr, at("2026-03-02 09:00"))
    response = login(manager).get(reverse("sla:dashboard"))
    assert response.status_code == 503
    assert "being prepared" in response.content.decode()
    assert not PassState.objects.exists() and not Pass.objects.exists()
    call_command("sla_refresh")
    assert PassState.objects.get().rollup_key
    assert login(manager).get(reverse("sla:dashboard")).status_code == 200


def test_a_transition_written_by_an_sdr_queues_the_refresh_on_commit(agreement, sdr, make_mql, on_commit):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    passes.refresh(terms=current_terms(), now=NOW)
    with on_commit(execute=False) as callbacks:
        Transition.objects.create(lead=lead, from_stage="mql", to_stage="sal", at=at("2026-03-02 10:00"), actor=sdr)
        Lead.objects.filter(pk=lead.pk).update(stage="sal")
    assert len(callbacks) == 1  # CELERY_EAGER: the refresh runs when the callback does
    callbacks[0]()
    assert Pass.objects.get(lead=lead, stage="mql").end_to_stage == "sal"


def test_the_command_rebuilds_passes_and_roll_up_from_scratch(agreement, sdr, make_mql, capsys):
    lead = make_mql(sdr, at("2026-03-02 09:00"))
    history(lead, ("rejected", at("2026-03-02 11:00"), sdr, "bad_fit"))
    call_command("sla_refresh")
    build = PassState.objects.get().rollup_build
    run(sql("DELETE FROM sla_rollup"), fetch=False)  # lost rows come back with --rebuild
    call_command("sla_refresh", "--rebuild")
    assert "built from the whole log" in capsys.readouterr().out
    assert PassState.objects.get().rollup_build != build
    assert run(sql("SELECT kind, reason_code, n FROM sla_rollup WHERE section = 'mql'")) == [("rejected", "bad_fit", 1)]


def test_a_deleted_lead_leaves_the_figures(agreement, sdr, make_mql):
    keep, gone = make_mql(sdr, at("2026-03-02 09:00")), make_mql(sdr, at("2026-03-03 09:00"))
    for lead in (keep, gone):
        history(lead, ("sal", lead.transitions.order_by("-at").first().at + dt.timedelta(hours=1), sdr))
    scope = _scope(end=at("2026-03-06 00:00"))
    terms = current_terms()
    passes.refresh(terms=terms, now=NOW)
    assert compute(scope)["mql"]["delivered"] == 2
    gone.delete()  # the ORM deletes its passes too: the trigger marks their days stale
    figures = compute(scope, terms=terms)
    assert figures["mql"]["delivered"] == 1 and figures["funnel"][1]["count"] == 1
    assert figures == compute(scope, terms=terms, use_rollup=False)


def test_a_publish_refreshes_the_figures_after_the_rescore_it_queues(agreement, sdr, make_mql, on_commit):
    from alignment.models import AgreementVersion
    from alignment.signals import agreement_published
    from sla.models import DirtyLead
    from tests.factories import AgreementVersionFactory
    from tests.sla.conftest import recent

    lead = make_mql(sdr, recent(2))
    passes.refresh(terms=current_terms())
    AgreementVersion.objects.filter(pk=agreement.pk).update(status="retired")
    new = AgreementVersionFactory(number=agreement.number + 1, spec={**agreement.spec, "mql_threshold": 1000})
    with on_commit(execute=True):
        agreement_published.send(sender=AgreementVersion, version_id=new.pk)
    lead.refresh_from_db()
    assert lead.stage != "mql"  # the rescore withdrew it: a set-based move, no signal of its own
    assert not DirtyLead.objects.exists()
    assert Pass.objects.get(lead=lead, stage="mql").end_id is not None
