"""Propose from outcomes on the draft page: leaders propose and adopt, SDRs cannot; signers see the card."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from alignment.models import AgreementEvent, AgreementRevision, AgreementVersion
from alignment.spec import default_spec
from leads.models import ScorecardJob
from tests.factories import AgreementVersionFactory
from tests.leads import planted

pytestmark = pytest.mark.django_db

NEW = reverse("leads:scorecard_new")


@pytest.fixture
def history(db):
    planted.write(800, 21, now=dt.datetime.now(dt.UTC))


def _propose(client, **extra):
    data = {
        "outcome": "sql",
        "max_rules": 8,
        "attributes": ["industry", "employees", "seniority", "activity:demo_request", "activity:unsubscribe"],
        **extra,
    }
    return client.post(NEW, data)


def test_anonymous_is_sent_to_log_in(client):
    assert client.get(NEW).status_code == 302


def test_sdr_can_neither_propose_nor_read_nor_adopt_proposals(login, sdr, marketing, history):
    leader = login(marketing)
    _propose(leader)
    job = ScorecardJob.objects.get()
    client = login(sdr)
    assert client.get(NEW).status_code == 403
    assert _propose(client).status_code == 403
    assert client.get(reverse("leads:scorecard_job", args=[job.pk])).status_code == 403
    assert client.post(reverse("leads:scorecard_adopt", args=[job.pk])).status_code == 403
    assert ScorecardJob.objects.count() == 1 and not AgreementVersion.objects.exists()


def test_the_form_leaves_sales_filled_attributes_unticked_with_the_leakage_warning(login, marketing):
    response = login(marketing).get(NEW, {"version": ""})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="industry" id="attr-industry" checked' in html
    assert 'value="budget" id="attr-budget">' in html  # not ticked
    assert 'data-testid="leakage-warning"' in html


def test_a_leader_proposes_reads_the_card_and_starts_a_draft_the_other_signer_sees(login, marketing, sales, history):
    AgreementVersionFactory(number=1)  # the agreement in force, compared on the card
    client = login(marketing)
    response = _propose(client)
    job = ScorecardJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("leads:scorecard_job", args=[job.pk])
    assert job.status == ScorecardJob.Status.DONE and job.created_by == marketing
    page = client.get(response["Location"]).content.decode()
    assert "Cross-validated AUC" in page and "from data: " in page and "Active v1" in page

    adopted = client.post(reverse("leads:scorecard_adopt", args=[job.pk]))
    draft = AgreementVersion.objects.get(status=AgreementVersion.Status.DRAFT)
    assert adopted.status_code == 302 and adopted["Location"] == reverse("alignment:version", args=[draft.number])
    proposal = job.result["spec"]
    assert draft.spec["fit_rules"] == proposal["fit_rules"] and draft.spec["mql_threshold"] == proposal["mql_threshold"]
    assert draft.spec["sla"] == default_spec()["sla"]  # the SLA terms stay
    assert draft.model_card["cv_auc"] == job.result["cv_auc"] and draft.model_card["revision"] == draft.revision
    revision = AgreementRevision.objects.get(version=draft, revision=draft.revision)
    assert revision.note.startswith("Proposed from outcomes") and revision.author == marketing
    assert AgreementEvent.objects.filter(version=draft, action="from_data", actor=marketing).exists()

    # The sales leader sees the card, and each rule's evidence, before signing.
    other = login(sales).get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert 'data-testid="model-card"' in other and 'data-testid="proposal-note"' in other
    assert other.count('data-testid="data-note"') == len(proposal["fit_rules"]) + len(proposal["behaviour_rules"])
    listing = login(sales).get(reverse("alignment:history")).content.decode()
    assert "Began as a proposal from outcomes" in listing


def test_an_edited_rule_keeps_its_evidence_marked_as_before_the_edit(login, marketing, history):
    client = login(marketing)
    _propose(client)
    client.post(reverse("leads:scorecard_adopt", args=[ScorecardJob.objects.get().pk]))
    draft = AgreementVersion.objects.get(status=AgreementVersion.Status.DRAFT)
    from alignment.services import draft_save

    spec = {**draft.spec, "fit_rules": [dict(r) for r in draft.spec["fit_rules"]]}
    spec["fit_rules"][0]["points"] += 1
    draft_save(version=draft, user=marketing, spec=spec, base_revision=draft.revision)
    page = client.get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert page.count("(as proposed, before it was edited)") == 1


def test_too_little_history_gives_a_page_that_says_what_is_missing(login, marketing):
    planted.write(60, 4, now=dt.datetime.now(dt.UTC))
    client = login(marketing)
    response = _propose(client)
    job = ScorecardJob.objects.get()
    assert job.status == ScorecardJob.Status.FAILED
    page = client.get(response["Location"]).content.decode()
    assert "Not enough history" in page and "440 more leads" in page
    assert client.post(reverse("leads:scorecard_adopt", args=[job.pk])).status_code == 302
    assert not AgreementVersion.objects.exists()


def test_a_bad_request_is_shown_on_the_form(login, marketing):
    response = login(marketing).post(
        NEW, {"outcome": "sql", "max_rules": 0, "created_from": "2026-05-01", "created_to": "2026-01-01"}
    )
    assert response.status_code == 422
    assert not ScorecardJob.objects.exists()


def test_a_large_population_is_fitted_in_the_background_behind_a_progress_bar(
    login, marketing, history, monkeypatch, django_capture_on_commit_callbacks
):
    from leads.scoring import proposals

    monkeypatch.setattr(proposals, "INLINE_LEADS", 100)
    client = login(marketing)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _propose(client)
    job = ScorecardJob.objects.get()
    assert job.status == ScorecardJob.Status.QUEUED and len(queued) == 1
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="scorecard-progress"' in page and 'role="progressbar"' in page
    progress = reverse("leads:scorecard_progress", args=[job.pk])
    assert client.get(progress, headers={"HX-Request": "true"}).status_code == 200
    queued[0]()  # the worker runs the task
    job.refresh_from_db()
    assert job.status == ScorecardJob.Status.DONE and job.progress == 100 and job.result["leads"] == 800
    assert client.get(progress, headers={"HX-Request": "true"})["HX-Refresh"] == "true"
    assert login(marketing).get(response["Location"]).content.decode().count('data-testid="model-card"') == 1
