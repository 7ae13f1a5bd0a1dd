"""Numbers we can trust: random lifecycle histories, every figure against a plain-Python recomputation."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import random
import zoneinfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from alignment.models import AgreementVersion
from alignment.spec import default_spec
from leads.models import FollowUpAttempt, TeamMember, Transition
from sla.clock import current_terms
from sla.figures import Drill, DrillRows, Scope, compute, iso_week_bounds, local_midnight
from sla.passes import refresh
from sla.services import report_figures
from sla.tables import chart_tables
from tests.factories import AgreementVersionFactory, LeadFactory, TeamFactory, TeamMemberFactory, UserFactory
from tests.sla.reference import brute_force, hours
from tests.sla.reference import reason_words as reference_words

NOW = dt.datetime(2026, 4, 8, 13, 7, tzinfo=dt.UTC)  # two weeks of history straddle the 29 March DST change
LONDON = zoneinfo.ZoneInfo("Europe/London")
STAGES_AFTER_MQL = ["sal", "rejected", "nurture", "disqualified", "new"]
STAGES_AFTER_SAL = ["sql", "lost", "nurture", "won"]
UNDOABLE_STAGES = {"sal", "rejected", "nurture", "disqualified", "sql", "won", "lost"}
UNDO_AFTER = dt.timedelta(seconds=8)

step = st.fixed_dictionaries(
    {
        "gap_minutes": st.integers(min_value=0, max_value=60 * 24 * 6),
        "choice": st.integers(min_value=0, max_value=9),
        "actor": st.sampled_from([None, 0, 1, 2]),
        "owner": st.sampled_from([None, 0, 1, 2]),
        "reason": st.sampled_from(["", "bad_fit", "bad_data", "no_budget", "too_early", "duplicate"]),
        "grade": st.sampled_from(["", "A", "B", "C", "D"]),
        "old_version": st.booleans(),
        "undo": st.sampled_from([False, False, False, True]),
        # Follow-up attempts logged after the move (minutes later), kept only when it is into SAL.
        "attempts": st.lists(st.integers(min_value=0, max_value=60 * 24 * 8), max_size=4),
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
    leads, rows, attempts = {}, [], []
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
            # (the seeded follow-up worlds draw no undos)
            if s.get("undo") and new in UNDOABLE_STAGES and s["actor"] is not None and at + UNDO_AFTER <= NOW:
                # The SDR takes the move back seconds later: the lead returns where it was.
                at = at + UNDO_AFTER
                rows.append(
                    Transition(
                        lead=lead,
                        from_stage=new,
                        to_stage=stage,
                        at=at,
                        actor=users[s["actor"]],
                        owner=users[s["owner"]] if s["owner"] is not None else None,
                        reason_code="undo",
                        agreement_version=versions[1],
                    )
                )
                continue
            stage = new
            if new == "sal":
                attempts += [
                    FollowUpAttempt(
                        lead=lead, channel="call", outcome="no_answer", at=when, logged_by=users[0], logged_at=when
                    )
                    for when in (at + dt.timedelta(minutes=m) for m in s["attempts"])
                    if when <= NOW
                ]
        lead.stage = stage
        lead.owner = users[h["owner"]] if h["owner"] is not None else None
        lead.save(update_fields=["stage", "owner"])
        leads[lead.id] = lead
    Transition.objects.bulk_create(rows)
    FollowUpAttempt.objects.bulk_create(attempts)
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


# --- Publishes in the middle of the history ------------------------------------------------------------

TIME_ZONES = [LONDON, zoneinfo.ZoneInfo("America/New_York"), zoneinfo.ZoneInfo("Asia/Tokyo")]
REASONS = ["", "bad_fit", "bad_data", "no_budget", "bad_timing", "too_early", "new_reason", "never_defined"]

publish = st.fixed_dictionaries(
    {
        "days_ago": st.integers(min_value=0, max_value=100),
        "targets": st.fixed_dictionaries({g: st.sampled_from([None, 1, 2, 4, 6, 8, 24]) for g in "ABCD"}),
        "threshold": st.integers(min_value=40, max_value=90),
        "drop": st.sampled_from(["", "bad_fit", "no_budget", "bad_timing"]),
        "rename": st.sampled_from(["", "bad_fit", "too_early", "no_budget"]),
        "add": st.booleans(),
    }
)
republish_step = st.fixed_dictionaries(
    {
        "gap_minutes": st.integers(min_value=0, max_value=60 * 24 * 6),
        "choice": st.integers(min_value=0, max_value=9),
        "actor": st.sampled_from([None, 0, 1, 2]),
        "owner": st.sampled_from([None, 0, 1, 2]),  # None on a system move: the owner was released
        "reason": st.sampled_from(REASONS),
        "grade": st.sampled_from(["", "A", "B", "C", "D"]),
        "attempts": st.lists(st.integers(min_value=0, max_value=60 * 24 * 8), max_size=4),
    }
)
republish_history = st.fixed_dictionaries(
    {
        "start_minutes_ago": st.integers(min_value=0, max_value=60 * 24 * 7 * 14),
        "source": st.sampled_from(["website", "event"]),
        "team": st.integers(min_value=0, max_value=2),
        "owner": st.sampled_from([None, 0, 1, 2]),
        "steps": st.lists(republish_step, min_size=1, max_size=8),
    }
)


def _spec(base: dict, change: dict, n: int) -> dict:
    spec = copy.deepcopy(base)
    spec["mql_threshold"] = change["threshold"]
    spec["sla"]["response_hours"] = {g: h for g, h in change["targets"].items() if h is not None}
    for kind in ("reject", "recycle"):
        reasons = [r for r in spec[f"{kind}_reasons"] if r["code"] != change["drop"]]
        for r in reasons:
            if r["code"] == change["rename"]:
                r["label"] = f"{r['label']} (v{n})"
        spec[f"{kind}_reasons"] = reasons
    if change["add"]:
        spec["reject_reasons"].append({"code": "new_reason", "label": f"New in v{n}", "description": ""})
    return spec


def _publish(publishes) -> list[AgreementVersion]:
    """A baseline version before any history, then one signed version per drawn publish; the last is active."""
    base = default_spec()
    changes = sorted(publishes, key=lambda p: -p["days_ago"])
    versions = [AgreementVersionFactory(number=1, status="retired", published_at=NOW - dt.timedelta(days=200))]
    for n, change in enumerate(changes, start=2):
        at = NOW - dt.timedelta(days=change["days_ago"], minutes=10 - n)  # same day: in drawn order
        versions.append(
            AgreementVersionFactory(number=n, status="retired", spec=_spec(base, change, n), published_at=at)
        )
    AgreementVersion.objects.filter(pk=versions[-1].pk).update(status="active")
    versions[-1].status = "active"
    AgreementVersionFactory(
        number=len(versions) + 1, status="draft", published_at=None, spec=_spec(base, changes[0], 99)
    )
    return versions


def _in_force(versions, at):
    return [v for v in versions if v.published_at <= at][-1]


def _build_republished(histories, users, teams, versions):
    leads, rows, attempts = {}, [], []
    for h in histories:
        lead = LeadFactory(source=h["source"], team=teams[h["team"]])
        at = NOW - dt.timedelta(minutes=h["start_minutes_ago"])
        stage = "new"
        rows.append(
            Transition(lead=lead, from_stage="", to_stage="new", at=at, agreement_version=_in_force(versions, at))
        )
        for s in h["steps"]:
            at = at + dt.timedelta(minutes=s["gap_minutes"])
            if at > NOW:
                break
            new = _next_stage(stage, s["choice"])
            actor = users[s["actor"]] if s["actor"] is not None and new != "mql" else None
            rows.append(
                Transition(
                    lead=lead,
                    from_stage=stage,
                    to_stage=new,
                    at=at,
                    actor=actor,
                    owner=users[s["owner"]] if s["owner"] is not None else None,
                    reason_code=s["reason"] if new in ("rejected", "nurture") else "",
                    grade=s["grade"] if new == "mql" else "",
                    agreement_version=_in_force(versions, at),
                )
            )
            stage = new
            if new == "sal":
                attempts += [
                    FollowUpAttempt(
                        lead=lead, channel="call", outcome="no_answer", at=when, logged_by=users[0], logged_at=when
                    )
                    for when in (at + dt.timedelta(minutes=m) for m in s["attempts"])
                    if when <= NOW
                ]
        lead.stage = stage
        lead.owner = users[h["owner"]] if h["owner"] is not None else None  # re-routed since
        lead.save(update_fields=["stage", "owner"])
        leads[lead.id] = lead
    Transition.objects.bulk_create(rows)
    FollowUpAttempt.objects.bulk_create(attempts)
    return leads, list(Transition.objects.all())


def _drill_count(scope, terms, **drill) -> int:
    return DrillRows(scope, Drill(**drill), terms).count()


def _assert_drill_downs_match(scope, terms, expected):
    counts = {
        "mqls": expected["delivered"],
        "decided": expected["acted"],
        "within_target": expected["within"],
        "breached": expected["breaches"],
        "open_now": expected["open_now"]["open"],
        "at_risk": expected["open_now"]["at_risk"],
        "overdue": expected["open_now"]["overdue"],
        "followup": expected["followup"]["n"],
        "followup_kept": expected["followup"]["kept"],
        "followup_missed": expected["followup"]["missed"],
        **{kind: expected["kinds"].get(kind, 0) for kind in ("accepted", "rejected", "recycled", "disqualified")},
        **{kind: expected["kinds"].get(kind, 0) for kind in ("withdrawn", "open")},
        **{stage: expected["funnel"].get(stage, 0) for stage in ("sal", "sql", "won")},
    }
    for metric, count in counts.items():
        assert _drill_count(scope, terms, metric=metric) == count, metric
    for kind in ("rejected", "recycled"):
        for code, count in expected["reasons"][kind].items():
            assert _drill_count(scope, terms, metric=kind, reason=code) == count, (kind, code)
    for sid, breaches in expected["sdr_breaches"].items():
        keys = {"sdr_unassigned": True} if sid is None else {"sdr": sid}
        assert _drill_count(scope, terms, metric="breached", **keys) == breaches, sid


def _assert_exports_match(figures, expected, versions, scope):
    tables = chart_tables(figures, lambda metric, **keys: "")
    rows = {key: list(csv.reader(io.StringIO(table.csv())))[1:] for key, table in tables.items()}
    assert [int(r[1]) for r in rows["funnel"]] == [
        expected["funnel"].get(stage, 0) for stage in ("mql", "sal", "sql", "won")
    ]
    at = min(scope.end, scope.now)
    for key, kind in (("rejections", "rejected"), ("recycles", "recycled")):
        want = sorted(expected["reasons"][kind].items(), key=lambda kv: (-kv[1], kv[0]))
        assert [(r[0], int(r[1])) for r in rows[key]] == [(reference_words(c, versions, at), n) for c, n in want]
    assert [int(r[1]) for r in rows["trends"]] == [w["mqls"] for w in expected["trends"]]
    by_name = {r[0]: int(r[1]) for r in rows["breaches_by_sdr"]}
    names = {s["id"]: s["name"] for s in figures["sdrs"]}
    assert by_name == {names[sid]: n for sid, n in expected["sdr_breaches"].items()}


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking these histories takes minutes
)
@given(
    publishes=st.lists(publish, min_size=1, max_size=3),
    histories=st.lists(republish_history, min_size=1, max_size=8),
    range_days=st.integers(min_value=1, max_value=60),
    range_end_days_ago=st.integers(min_value=0, max_value=20),
    team_filter=st.sampled_from([None, 0, 1, 2]),
    sdr_filter=st.sampled_from([None, 1]),
    leaver=st.sampled_from([None, 0, 2]),
)
def test_every_figure_matches_the_recount_across_publishes(
    publishes, histories, range_days, range_end_days_ago, team_filter, sdr_filter, leaver
):
    with transaction.atomic():
        versions = _publish(publishes)
        users = [UserFactory(username=f"rep-sdr{i}") for i in range(3)]
        teams = [TeamFactory(name=f"Team {i}", time_zone=tz.key) for i, tz in enumerate(TIME_ZONES)]
        for i, user in enumerate(users):
            TeamMemberFactory(user=user, team=teams[i % len(teams)])
        leads, transitions = _build_republished(histories, users, teams, versions)
        if leaver is not None:
            TeamMember.objects.filter(user=users[leaver]).delete()  # left the team: their past stays theirs
        terms = current_terms()
        refresh(terms=terms, now=NOW)
        tz = TIME_ZONES[team_filter] if team_filter is not None else LONDON
        end_day = (NOW - dt.timedelta(days=range_end_days_ago)).astimezone(tz).date()
        scope = Scope(
            start=local_midnight(end_day - dt.timedelta(days=range_days - 1), tz),
            end=local_midnight(end_day + dt.timedelta(days=1), tz),
            tz=tz,
            now=NOW,
            team_id=teams[team_filter].id if team_filter is not None else None,
            sdr_id=users[sdr_filter].id if sdr_filter is not None else None,
        )
        expected = brute_force(transitions, leads, scope, terms, versions=versions)
        figures = compute(scope, terms=terms, user_names={u.id: u.username for u in users})
        _assert_same(figures, expected)
        assert figures == compute(scope, terms=terms, user_names={u.id: u.username for u in users}, use_rollup=False)
        _assert_drill_downs_match(scope, terms, expected)
        _assert_exports_match(figures, expected, versions, scope)
        # The weekly report of the team's week that holds the range's end, as the Monday job stores it.
        team = teams[team_filter if team_filter is not None else 0]
        year, week, _ = end_day.isocalendar()
        report = report_figures(team=team, iso_year=year, iso_week=week, now=NOW, terms=terms)
        start, stop = iso_week_bounds(year, week, zoneinfo.ZoneInfo(team.time_zone))
        week_scope = Scope(start=start, end=stop, tz=zoneinfo.ZoneInfo(team.time_zone), now=NOW, team_id=team.id)
        _assert_same(report, brute_force(transitions, leads, week_scope, terms, versions=versions))
        in_order = sorted(versions, key=lambda v: v.published_at)
        spanned = [v.number for v in in_order if v.published_at < stop and _in_force_until(versions, v) > start]
        assert [v["number"] for v in report["agreement"]["versions"]] == spanned
        transaction.set_rollback(True)


def _in_force_until(versions, version):
    later = [v.published_at for v in versions if v.published_at > version.published_at]
    return min(later) if later else dt.datetime.max.replace(tzinfo=dt.UTC)


def _busy_histories(rng: random.Random, n: int) -> list[dict]:
    """Lead histories that reach SAL often, with attempts in and out of time, across weekends."""
    histories = []
    for _ in range(n):
        steps = []
        for _ in range(rng.randint(2, 6)):
            steps.append(
                {
                    "gap_minutes": rng.randint(0, 60 * 24 * 4),
                    "choice": rng.choice([0, 0, 5, 1, 2, 3, 4, 6, 8]),
                    "actor": rng.choice([None, 0, 1, 2]),
                    "owner": rng.choice([None, 0, 1, 2]),
                    "reason": rng.choice(["", "bad_fit", "too_early"]),
                    "grade": rng.choice(["", "A", "B", "C", "D"]),
                    "old_version": rng.random() < 0.3,
                    "attempts": sorted(rng.randint(0, 60 * 24 * 9) for _ in range(rng.randint(0, 4))),
                }
            )
        histories.append(
            {
                "start_minutes_ago": rng.randint(0, 60 * 24 * 7 * 12),
                "source": rng.choice(["website", "event"]),
                "team": rng.randint(0, 1),
                "owner": rng.choice([None, 0, 1, 2]),
                "steps": [
                    {
                        "gap_minutes": 10,
                        "choice": 0,
                        **{k: v for k, v in steps[0].items() if k not in ("gap_minutes", "choice")},
                    },
                    *steps,
                ],
            }
        )
    return histories


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_follow_up_figure_matches_the_recount_on_a_busy_world(seed):
    """Many accepted leads with attempts before, inside and after their period, and after they left SAL."""
    old = AgreementVersionFactory(status="retired")
    active = AgreementVersionFactory()
    users = [UserFactory(username=f"busy-sdr{i}") for i in range(3)]
    teams = [TeamFactory(name="Inside Sales"), TeamFactory(name="Field Sales")]
    leads, transitions = _build(_busy_histories(random.Random(seed), 60), users, teams, [old, active])
    terms = current_terms()
    refresh(terms=terms, now=NOW)
    for days, team, sdr in ((90, None, None), (30, 0, None), (45, None, 1)):
        scope = Scope(
            start=NOW - dt.timedelta(days=days),
            end=NOW,
            tz=LONDON,
            now=NOW,
            team_id=teams[team].id if team is not None else None,
            sdr_id=users[sdr].id if sdr is not None else None,
        )
        expected = brute_force(transitions, leads, scope, terms)
        _assert_same(compute(scope, terms=terms), expected)
        _assert_drill_downs_match(scope, terms, expected)
        if team is None and sdr is None:
            followup = expected["followup"]
            assert followup["n"] >= 10 and followup["kept"] and followup["missed"], followup
