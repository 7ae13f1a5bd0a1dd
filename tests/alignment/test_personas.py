"""Persona pages: create, edit with history (who, when, what), comments, archive."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alignment.models import Persona
from alignment.services import draft_save

pytestmark = pytest.mark.django_db


def persona_post(**overrides) -> dict:
    data = {
        "name": "Demand Gen Director",
        "summary": "Owns pipeline targets.",
        "title_keywords": "demand, marketing",
        "seniorities": ["director", "vp"],
        "departments": ["marketing"],
        "buying_role": "decision_maker",
        "challenges": "Proving ROI",
        "motivations": "",
        "interests": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_leader_creates_and_edits_a_persona_and_the_history_says_who_changed_what(login, marketing, sales):
    response = login(marketing).post(reverse("alignment:persona_create"), persona_post())
    persona = Persona.objects.get(name="Demand Gen Director")
    assert response.url == reverse("alignment:persona_detail", args=[persona.pk])
    assert persona.title_keywords == ["demand", "marketing"]
    login(sales).post(reverse("alignment:persona_edit", args=[persona.pk]), persona_post(buying_role="influencer"))
    records = list(persona.history.order_by("history_date"))
    assert [(r.history_user, r.history_change_reason) for r in records] == [(marketing, "Created"), (sales, "Edited")]
    page = login(marketing).get(reverse("alignment:persona_detail", args=[persona.pk])).content.decode()
    assert "decision_maker → influencer" in page


def test_the_history_costs_the_same_queries_for_two_edits_or_twenty(login, marketing):
    client = login(marketing)
    client.post(reverse("alignment:persona_create"), persona_post())
    persona = Persona.objects.get(name="Demand Gen Director")
    url = reverse("alignment:persona_detail", args=[persona.pk])
    client.post(reverse("alignment:persona_edit", args=[persona.pk]), persona_post(challenges="Edit 1"))
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(2, 21):
        client.post(reverse("alignment:persona_edit", args=[persona.pk]), persona_post(challenges=f"Edit {n}"))
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert len(few.captured_queries) > 0
    assert len(many.captured_queries) == len(few.captured_queries)
    assert "Edit 19 → Edit 20" in page and "Proving ROI → Edit 1" in page


def test_a_persona_needs_a_matching_criterion(login, marketing):
    response = login(marketing).post(
        reverse("alignment:persona_create"), persona_post(title_keywords="", seniorities=[], departments=[])
    )
    assert response.status_code == 422
    assert "Give at least one matching criterion" in response.content.decode()
    assert not Persona.objects.exists()


def test_comments_on_a_persona(login, marketing):
    persona = Persona.objects.create(name="IT Evaluator", departments=["it"])
    login(marketing).post(reverse("alignment:persona_comment", args=[persona.pk]), {"body": "Add security titles"})
    assert persona.comments.get().author == marketing


def test_archiving_is_refused_while_the_open_draft_scores_the_persona(login, marketing, draft):
    persona = Persona.objects.create(name="Revenue Executive", title_keywords=["revenue"])
    spec = {**draft.spec, "fit_rules": [*draft.spec["fit_rules"]]}
    spec["fit_rules"].append({"id": "fp", "field": "persona", "operator": "in", "values": [persona.pk], "points": 9})
    draft_save(version=draft, user=marketing, spec=spec, base_revision=1)
    client = login(marketing)
    refused = client.post(reverse("alignment:persona_archive", args=[persona.pk]), follow=True)
    assert b"still scores" in refused.content
    persona.refresh_from_db()
    assert persona.archived_at is None
    other = Persona.objects.create(name="Student", seniorities=["student"])
    client.post(reverse("alignment:persona_archive", args=[other.pk]))
    other.refresh_from_db()
    assert other.archived_at is not None
    assert other not in client.get(reverse("alignment:persona_list")).context["personas"]
    assert other in client.get(reverse("alignment:persona_list") + "?show=all").context["personas"]
    client.post(reverse("alignment:persona_restore", args=[other.pk]))
    other.refresh_from_db()
    assert other.archived_at is None


def test_a_new_persona_form_shows_an_empty_keywords_field_not_brackets(login, marketing):
    page = login(marketing).get(reverse("alignment:persona_create")).content.decode()
    assert 'name="title_keywords"' in page
    assert 'value="[]"' not in page


@pytest.mark.parametrize("typed", ["[]", " [ ] ", "[], ''", '["demand", "marketing"]'])
def test_brackets_and_quotes_are_never_stored_as_keywords(login, marketing, typed):
    login(marketing).post(reverse("alignment:persona_create"), persona_post(title_keywords=typed))
    keywords = Persona.objects.get().title_keywords
    assert "[]" not in keywords and not any(ch in word for word in keywords for ch in "[]\"'")
    assert keywords in ([], ["demand", "marketing"])
