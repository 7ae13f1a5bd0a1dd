"""A rule reads in the data dictionary's words wherever it shows: the printable agreement, the diff,
the draft card and the inbox's "why" chips; renaming an attribute renames it everywhere."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import load_dictionary, load_rule_labels
from alignment.diff import spec_changes
from alignment.models import AgreementVersion
from alignment.spec import default_spec
from leads.inbox.selectors import ReasonRules
from tests.factories import AgreementVersionFactory

pytestmark = pytest.mark.django_db

RULE = {"id": "f9", "field": "lead_origin", "operator": "in", "values": ["landing_page", "api"], "points": 12}
WORDS = "Lead origin is one of Landing Page Submission, API"


@pytest.fixture
def origin(landing_origin):
    return landing_origin


@pytest.fixture
def versions(origin):
    old = AgreementVersionFactory(number=1, status=AgreementVersion.Status.RETIRED)
    spec = default_spec()
    spec["fit_rules"].append(RULE)
    new = AgreementVersionFactory(number=2, spec=spec)
    return old, new


def test_a_custom_rule_reads_in_dictionary_labels_in_the_diff(versions):
    old, new = versions
    texts = [c.text for c in spec_changes(old.spec, new.spec, {}, load_dictionary())]
    assert f"Added fit rule '{WORDS}' +12" in texts


def test_the_printable_agreement_and_the_diff_page_use_the_labels(login, sdr, versions):
    client = login(sdr)
    printed = client.get(reverse("alignment:our_agreement") + "?print=1").content.decode()
    assert WORDS in printed and "lead_origin" not in printed.replace('"lead_origin"', "")
    diffed = client.get(reverse("alignment:diff") + "?from=1&to=2").content.decode()
    assert WORDS in diffed


def test_the_why_chips_use_the_labels(origin):
    spec = default_spec()
    spec["fit_rules"] = [RULE]
    spec["behaviour_rules"] = []
    rules = ReasonRules(spec, {}, lambda: load_rule_labels(spec))
    assert rules.label(RULE, "fit") == "Lead origin is one of Landing Page Submission, API"


def test_renaming_the_attribute_and_a_value_renames_the_rule_everywhere(login, sdr, marketing, versions, origin):
    data_dictionary.attribute_update(attribute=origin, user=marketing, label="Where the lead came from")
    origin.choices.filter(value="api").update(label="Partner API", archived=True)
    renamed = "Where the lead came from is one of Landing Page Submission, Partner API"
    old, new = versions

    assert renamed in [c.text.split("'")[1] for c in spec_changes(old.spec, new.spec, {}, load_dictionary())]
    spec = dict(new.spec, behaviour_rules=[], fit_rules=[RULE])
    assert ReasonRules(spec, {}, lambda: load_rule_labels(spec)).label(RULE, "fit") == renamed
    client = login(sdr)
    assert renamed in client.get(reverse("alignment:our_agreement") + "?print=1").content.decode()
    assert renamed in client.get(reverse("alignment:diff") + "?from=1&to=2").content.decode()


def _conflicting_saves(marketing, sales, origin):
    """A draft holding the custom rule; sales and then marketing change its values from revision 2."""
    from alignment.services import draft_save, draft_start

    AgreementVersionFactory(number=1)
    draft = draft_start(user=marketing)
    spec = dict(draft.spec, fit_rules=[*draft.spec["fit_rules"], RULE])
    draft_save(version=draft, user=marketing, spec=spec, base_revision=1)
    theirs = dict(spec, fit_rules=[*spec["fit_rules"][:-1], dict(RULE, values=["referral"])])
    draft_save(version=draft, user=sales, spec=theirs, base_revision=2)
    mine = dict(spec, fit_rules=[*spec["fit_rules"][:-1], dict(RULE, values=["api"])])
    return draft, mine


def test_a_merge_conflict_on_a_custom_rule_is_titled_in_the_dictionary_labels(marketing, sales, origin):
    from alignment.services import MergeConflict, draft_save

    draft, mine = _conflicting_saves(marketing, sales, origin)
    with pytest.raises(MergeConflict) as info:
        draft_save(version=draft, user=marketing, spec=mine, base_revision=2)
    (conflict,) = info.value.conflicts
    assert conflict.key == "fit_rules/f9/values"
    dictionary = load_dictionary()
    assert conflict.label(dictionary=dictionary) == f"Fit rule '{WORDS}' — values"
    assert (conflict.shown("theirs", dictionary=dictionary), conflict.shown("mine", dictionary=dictionary)) == (
        "Referral",
        "API",
    )


def test_the_conflict_page_names_a_renamed_attribute_by_its_new_label(login, marketing, sales, origin):
    import json

    draft, mine = _conflicting_saves(marketing, sales, origin)
    data_dictionary.attribute_update(attribute=origin, user=marketing, label="Where the lead came from")
    origin.choices.filter(value="referral").update(label="Word of mouth")
    response = login(marketing).post(
        reverse("alignment:resolve", args=[draft.number]), {"mine": json.dumps(mine), "base_revision": 2}
    )
    assert response.status_code == 409
    (row,) = response.context["rows"]
    renamed = "Where the lead came from is one of Landing Page Submission, API"
    assert (row["label"], row["theirs"], row["mine"]) == (f"Fit rule '{renamed}' — values", "Word of mouth", "API")
    table = response.content.decode().split('data-testid="conflict-form"')[1].split("</table>")[0]
    table = table.split("<table")[1]
    assert "Where the lead came from" in table and "lead_origin" not in table


def test_the_why_chips_short_words_follow_renamed_built_in_attributes_values_and_kinds(marketing):
    from alignment.models import ActivityKind, Attribute

    seniority = Attribute.objects.get(key="seniority")
    data_dictionary.attribute_update(attribute=seniority, user=marketing, label="Rank")
    seniority.choices.filter(value="vp").update(label="Vice-president")
    data_dictionary.kind_update(kind=ActivityKind.objects.get(key="demo_request"), label="Asked for a demo")
    spec = default_spec()
    spec["fit_rules"] = [{"id": "f1", "field": "seniority", "operator": "in", "values": ["vp"], "points": 10}]
    spec["behaviour_rules"] = [
        {"id": "b1", "kind": "demo_request", "points": 30, "cap": 30, "window_days": 90, "half_life_days": None}
    ]
    rules = ReasonRules(spec, {}, lambda: load_rule_labels(spec))
    chips = rules.reasons({"seniority": "vp"}, {"b1": 1.0})
    assert [c.short for c in chips] == ["Asked for a demo ×1", "Rank: Vice-president"]
    assert chips[1].full == "Rank is one of Vice-president"
