"""Numbers we can trust: random lifecycle histories, every figure against a plain-Python recomputation."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads.models import Transition
from sla.clock import current_terms
from sla.figures import Scope, compute
from sla.passes import refresh
from tests.factories import AgreementVersionFactory, LeadFactory, TeamFactory, UserFactory
from tests.sla.reference import brute_force, hours

NOW = dt.datetime(2026, 4, 8, 13, 7, tzinfo=dt.UTC)  # two weeks of history straddle the 29 March DST change
LONDON = zoneinfo.ZoneInfo("Europe/London")
STAGES_AFTER_MQL = ["sal", "rejected", "nurture", "disqualified", "new"]
STAGES_AFTER_SAL = ["sql", "lost", "nurture", "won"]

step = st.fixed_dictionaries(
    {
        "gap_minutes": st.integers(min_value=0, max_value=60 * 24 * 6),
        "choice": st.integers(min_value=0, max_value=9),
        "actor": st.sampled_from([None, 0, 1, 2]),
        "owner": st.sampled_from([None, 0, 1, 2]),
        "reason": st.sampled_from(["", "bad_fit", "bad_data", "no_budget", "too_early", "duplicate"]),
        "grade": st.sampled_from(["", "A", "B", "C", "D"]),
        "old_version": st.booleans(),
    }
)
lead_history = st.fixed_dictionaries(
    {
        "start_minutes_ago": st.integers(min_value=0, max_value=60 * 24 * 7 * 14),
        "source": st.sampled_from(["website", "event"]),
        "team": st.integers(min_value=0, max_value=1),
        "owner": st.sampled_from([None, 0, 1, 2]),
        "steps": st.lists(step, min_size=1, max_size=7),
    }
)


def _next_stage(current: str, choice: int) -> str:
    if current in ("new", "nurture", "rejected", "disqualified", "lost"):
        return "mql" if choice < 7 else "nurture"
    if current == "mql":
        return STAGES_AFTER_MQL[choice % len(STAGES_AFTER_MQL)]
    if current == "sal":
        return STAGES_AFTER_SAL[choice % len(STAGES_AFTER_SAL)]
    if current == "sql":
        return "won" if choice < 5 else "lost"
    return "nurture"  # won → nurture (upsell), rare but legal in the log


def _build(histories, users, teams, versions):
    leads, rows = {}, []
    for h in histories:
        lead = LeadFactory(source=h["source"], team=teams[h["team"]])
        at = NOW - dt.timedelta(minutes=h["start_minutes_ago"])
        stage = "new"
        rows.append(Transition(lead=lead, from_stage="", to_stage="new", at=at))
        for s in h["steps"]:
            at = at + dt.timedelta(minutes=s["gap_minutes"])
            if at > NOW:
                break
            new = _next_stage(stage, s["choice"])
            rows.append(
                Transition(
                    lead=lead,
                    from_stage=stage,
                    to_stage=new,
                    at=at,
                    actor=users[s["actor"]] if s["actor"] is not None and new != "mql" else None,
                    owner=users[s["owner"]] if s["owner"] is not None else None,
                    reason_code=s["reason"] if new in ("rejected", "nurture") else "",
                    grade=s["grade"] if new == "mql" else "",
                    agreement_version=versions[0] if s["old_version"] else versions[1],
                )
            )
            stage = new
        lead.stage = stage
        lead.owner = users[h["owner"]] if h["owner"] is not None else None
        lead.save(update_fields=["stage", "owner"])
        leads[lead.id] = lead
    Transition.objects.bulk_create(rows)
    return leads, list(Transition.objects.all())


def _assert_same(f, expected):
    assert f["mql"]["delivered"] == expected["delivered"]
    for kind in ("accepted", "rejected", "recycled", "disqualified", "withdrawn", "open"):
        assert f["decisions"][kind] == expected["kinds"].get(kind, 0), kind
    assert f["breaches"] == expected["breaches"]
    assert f["response"]["within_target"] == expected["within"]
    assert f["response"]["median_hours"] == hours(expected["median_seconds"])
    assert f["response"]["p90_hours"] == hours(expected["p90_seconds"])
    assert [d["count"] for d in f["distribution"]] == expected["distribution"]
    for kind in ("rejected", "recycled"):
        assert {r["code"]: r["count"] for r in f["reasons"][kind]} == expected["reasons"][kind]
    for got, want in zip(f["trends"], expected["trends"], strict=True):
        assert got["mqls"] == want["mqls"]
        assert got["accepted"] == want["accepted"]
        assert got["acted"] == want["acted"]
        assert got["breaches"] == want["breaches"]
        assert got["median_hours"] == hours(want["median_seconds"])
    got_sdrs = {s["id"]: s for s in f["sdrs"] if s["passes"]}
    assert set(got_sdrs) == set(expected["sdrs"])
    for sid, want in expected["sdrs"].items():
        assert got_sdrs[sid]["passes"] == want["passes"]
        assert got_sdrs[sid]["accepted"] == want["accepted"]
        assert got_sdrs[sid]["breaches"] == want["breaches"]
        ranked = sorted(want["elapsed"])
        median = ranked[(len(ranked) + 1) // 2 - 1] if ranked else None
        assert got_sdrs[sid]["median_hours"] == hours(median)
    assert f["open_now"] == expected["open_now"]
    assert {k: f["followup"][k] for k in ("n", "kept", "missed")} == expected["followup"]
    assert {s["stage"]: s["count"] for s in f["funnel"]} == {
        "mql": expected["funnel"]["mql"],
        "sal": expected["funnel"].get("sal", 0),
        "sql": expected["funnel"].get("sql", 0),
        "won": expected["funnel"].get("won", 0),
    }


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    histories=st.lists(lead_history, min_size=1, max_size=8),
    range_days=st.integers(min_value=1, max_value=60),
    range_end_days_ago=st.integers(min_value=0, max_value=20),
    team_filter=st.sampled_from([None, 0, 1]),
    source_filter=st.sampled_from(["", "website"]),
    sdr_filter=st.sampled_from([None, 1]),
)
def test_every_figure_matches_a_brute_force_recomputation(
    histories, range_days, range_end_days_ago, team_filter, source_filter, sdr_filter
):
    with transaction.atomic():
        old = AgreementVersionFactory(status="retired")
        old.spec["sla"]["response_hours"] = {"A": 2, "B": 6, "C": 12}  # no D target in the old terms
        old.save()
        active = AgreementVersionFactory()
        users = [UserFactory(username=f"hyp-sdr{i}") for i in range(3)]
        teams = [TeamFactory(name="Inside Sales"), TeamFactory(name="Field Sales")]
        leads, transitions = _build(histories, users, teams, [old, active])
        end = NOW - dt.timedelta(days=range_end_days_ago)
        scope = Scope(
            start=end - dt.timedelta(days=range_days),
            end=end,
            tz=LONDON,
            now=NOW,
            team_id=teams[team_filter].id if team_filter is not None else None,
            source=source_filter,
            sdr_id=users[sdr_filter].id if sdr_filter is not None else None,
        )
        terms = current_terms()
        refresh(terms=terms, now=NOW)
        figures = compute(scope, terms=terms)
        expected = brute_force(transitions, leads, scope, terms)
        _assert_same(figures, expected)
        transaction.set_rollback(True)
