"""One rule for a reason's words: the signed version in force when it was given, never a draft's."""

from __future__ import annotations

import copy
import datetime as dt

from django.template.loader import render_to_string
from django.urls import reverse

from alignment.models import AgreementVersion
from leads.inbox.selectors import reason_words, with_reason_labels
from leads.models import Transition
from sla import services
from tests.factories import AgreementVersionFactory, LeadFactory
from tests.sla.conftest import history, recent, refreshed


def _relabel(spec: dict, kind: str, code: str, label: str | None) -> dict:
    """A copy of ``spec`` whose ``code`` reads ``label`` (``None``: the code is dropped)."""
    spec = copy.deepcopy(spec)
    reasons = spec[f"{kind}_reasons"]
    spec[f"{kind}_reasons"] = [
        {**r, "label": label} if r["code"] == code else r for r in reasons if label is not None or r["code"] != code
    ]
    return spec


def test_a_saved_draft_never_lends_its_words(agreement):
    AgreementVersionFactory(
        status=AgreementVersion.Status.DRAFT,
        published_at=None,
        spec=_relabel(agreement.spec, "reject", "bad_fit", "Draft wording"),
    )
    words = reason_words()
    label = words.label("bad_fit", at=recent(1))
    assert (
        label != "Draft wording"
        and label == {r["code"]: r["label"] for r in agreement.spec["reject_reasons"]}["bad_fit"]
    )


def test_a_reason_reads_as_the_version_in_force_when_it_was_given(db):
    first = AgreementVersionFactory(status="retired", published_at=recent(20))
    first.spec = _relabel(first.spec, "reject", "bad_fit", "Poor fit")
    first.save()
    AgreementVersionFactory(published_at=recent(10), spec=_relabel(first.spec, "reject", "bad_fit", "Not our ICP"))
    words = reason_words()
    assert words.label("bad_fit", at=recent(15)) == "Poor fit"
    assert words.label("bad_fit", at=recent(5)) == "Not our ICP"
    assert words.label("bad_fit", version_id=first.pk, at=recent(5)) == "Poor fit"  # recorded on the transition


def test_a_dropped_reason_falls_back_to_the_newest_signed_version_that_had_it(db):
    first = AgreementVersionFactory(status="retired", published_at=recent(20))
    AgreementVersionFactory(published_at=recent(10), spec=_relabel(first.spec, "recycle", "bad_timing", None))
    assert reason_words().label("bad_timing", at=recent(1)) == "Bad timing"
    assert reason_words().label("made_up_code", at=recent(1)) == "Made up code"  # no signed version: words


def test_the_recycle_pareto_and_its_drill_down_read_a_dropped_reason_alike(login, manager, sdr, team, db):
    first = AgreementVersionFactory(status="retired", published_at=recent(30))
    first.spec = _relabel(first.spec, "recycle", "bad_timing", "Timing is off")
    first.save()
    AgreementVersionFactory(published_at=recent(8), spec=_relabel(first.spec, "recycle", "bad_timing", None))
    lead = LeadFactory(owner=sdr, team=team, grade="A")
    mql = recent(12)
    history(
        lead,
        ("new", mql - dt.timedelta(days=1)),
        ("mql", mql),
        ("nurture", mql + dt.timedelta(hours=1), sdr, "bad_timing"),
    )
    refreshed()
    client = login(manager)
    bars = client.get(reverse("sla:dashboard")).context["f"]["reasons"]["recycled"]
    assert [(b["code"], b["label"]) for b in bars] == [("bad_timing", "Timing is off")]
    drill = client.get(reverse("sla:drill") + "?metric=recycled&reason=bad_timing")
    assert [r["reason_label"] for r in drill.context["rows"]] == ["Timing is off"]
    assert "reason “Timing is off”" in drill.content.decode()
    assert "Timing is off" in client.get(reverse("sla:export", args=["recycles"])).content.decode()


def test_the_lead_page_reads_each_move_in_its_own_versions_words(db, sdr):
    first = AgreementVersionFactory(status="retired", published_at=recent(20))
    first.spec = _relabel(first.spec, "reject", "bad_fit", "Poor fit")
    first.save()
    AgreementVersionFactory(published_at=recent(10), spec=_relabel(first.spec, "reject", "bad_fit", "Not our ICP"))
    lead = LeadFactory(owner=sdr)
    history(lead, ("new", recent(16)), ("mql", recent(15)), ("rejected", recent(15, hour=12), sdr, "bad_fit"))
    history(lead, ("mql", recent(4)), ("rejected", recent(4, hour=12), sdr, "bad_fit"))
    moves = with_reason_labels(list(Transition.objects.filter(lead=lead, to_stage="rejected").order_by("at")))
    assert [t.reason_label for t in moves] == ["Poor fit", "Not our ICP"]


def test_a_report_keeps_the_words_and_targets_it_was_generated_with(db, team, sdr):
    active = AgreementVersionFactory(published_at=recent(60))
    active.spec = _relabel(active.spec, "reject", "bad_fit", "Poor fit")
    active.save()
    lead = LeadFactory(owner=sdr, team=team, grade="A")
    history(lead, ("new", recent(9)), ("mql", recent(8)), ("rejected", recent(8, hour=12), sdr, "bad_fit"))
    year, week, _ = recent(8).isocalendar()
    report = services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)
    stored = report.figures
    assert stored["reasons"]["rejected"][0]["label"] == "Poor fit"
    AgreementVersion.objects.filter(pk=active.pk).update(spec=_relabel(active.spec, "reject", "bad_fit", "Renamed"))
    report.refresh_from_db()
    assert report.figures == stored
    assert stored["agreement"]["versions"][0]["number"] == active.number
    assert stored["agreement"]["versions"][0]["response_hours"] == active.spec["sla"]["response_hours"]
    assert report.versions_label == f"version {active.number}"


def test_a_report_names_every_version_its_week_spans(db, team, sdr):
    from sla.weeks import iso_week_bounds

    year, week, _ = recent(8).isocalendar()
    start, end = iso_week_bounds(year, week, dt.UTC)
    old = AgreementVersionFactory(status="retired", published_at=start - dt.timedelta(days=30))
    new = AgreementVersionFactory(published_at=start + dt.timedelta(days=2))
    new.spec["sla"]["response_hours"]["B"] = 6
    new.save()
    AgreementVersionFactory(status=AgreementVersion.Status.DRAFT, published_at=None)
    report = services.report_generate(team_id=team.pk, iso_year=year, iso_week=week)
    versions = report.figures["agreement"]["versions"]
    assert [v["number"] for v in versions] == [old.number, new.number]
    assert versions[1]["response_hours"]["B"] == 6
    assert report.versions_label == f"versions {old.number} and {new.number}"
    assert f"versions {old.number} and {new.number}" in services.report_csv(report)
    html = render_to_string("sla/_report_content.html", {"f": report.figures, "report": report})
    assert f"v{new.number} (A 4.0 h, B 6 h" in html or f"v{new.number} (A 4 h, B 6 h" in html


def test_the_evidence_panels_rejection_reasons_read_the_signed_words_not_the_drafts(agreement):
    from leads.models import Stage
    from leads.scoring.backtest import rejection_reasons

    draft_spec = _relabel(agreement.spec, "reject", "bad_fit", "Draft wording")
    draft_spec["mql_threshold"] = 0
    now = recent(0)
    lead = LeadFactory(created_at=now - dt.timedelta(days=3), stage=Stage.REJECTED)
    Transition.objects.create(lead=lead, from_stage="mql", to_stage=Stage.REJECTED, reason_code="bad_fit", at=now)
    rows = rejection_reasons(spec=draft_spec, days=90, now=now)
    assert [r["label"] for r in rows] == [reason_words().label("bad_fit", at=now)]
    assert rows[0]["label"] != "Draft wording"
