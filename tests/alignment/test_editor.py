"""The editor end to end through HTTP: two real sessions, merges, conflicts, messages next to fields."""

from __future__ import annotations

import pytest
from django.urls import reverse

from alignment.forms import SpecEditor
from alignment.models import AgreementVersion
from tests.alignment.conftest import editor_data, row_index
from tests.factories import PersonaFactory

pytestmark = pytest.mark.django_db


def edit_url(version) -> str:
    return reverse("alignment:edit", args=[version.number])


def rule(spec, rule_id):
    return next(r for r in spec["fit_rules"] + spec["behaviour_rules"] if r["id"] == rule_id)


def test_unchanged_form_round_trips_to_the_same_spec(draft):
    persona = PersonaFactory(name="Revenue Executive")
    spec = {**draft.spec, "fit_rules": [*draft.spec["fit_rules"]]}
    spec["fit_rules"].append({"id": "fp", "field": "persona", "operator": "in", "values": [persona.pk], "points": 10})
    data = editor_data(spec, revision=1, personas=[persona])
    editor = SpecEditor(spec=spec, personas=[persona], data=data, revision=1)
    assert editor.is_valid(), editor.error_count
    assert editor.build() == spec


def test_unchanged_save_reports_nothing_to_save(login, marketing, draft):
    response = login(marketing).post(edit_url(draft), editor_data(draft.spec, revision=1), follow=True)
    assert b"No changes to save" in response.content
    draft.refresh_from_db()
    assert draft.revision == 1


def test_two_sessions_edit_different_rules_and_both_changes_are_kept(login, marketing, sales, draft):
    alice, bob = login(marketing), login(sales)
    # Both open the editor on revision 1.
    assert alice.get(edit_url(draft)).status_code == 200
    assert bob.get(edit_url(draft)).status_code == 200
    mine = editor_data(draft.spec, revision=1)
    mine[f"fit-{row_index(mine, 'fit', 'id', 'f1')}-points"] = 20
    theirs = editor_data(draft.spec, revision=1)
    theirs[f"beh-{row_index(theirs, 'beh', 'id', 'b3')}-points"] = 15
    theirs["mql_threshold"] = 65

    first = bob.post(edit_url(draft), theirs, follow=True)
    assert first.redirect_chain and b"Saved revision 2 with 2 changes." in first.content
    second = alice.post(edit_url(draft), mine, follow=True)
    assert b"Saved revision 3 with 1 change." in second.content
    assert b"Merged with the changes" in second.content
    draft.refresh_from_db()
    assert draft.revision == 3
    assert (rule(draft.spec, "f1")["points"], rule(draft.spec, "b3")["points"]) == (20, 15)
    assert draft.spec["mql_threshold"] == 65


def test_same_field_in_two_sessions_shows_both_values_and_the_user_chooses(login, marketing, sales, draft):
    alice, bob = login(marketing), login(sales)
    mine = editor_data(draft.spec, revision=1)
    mine["mql_threshold"] = 65
    mine[f"fit-{row_index(mine, 'fit', 'id', 'f2')}-points"] = 25  # no conflict: merges
    theirs = editor_data(draft.spec, revision=1)
    theirs["mql_threshold"] = 70
    assert bob.post(edit_url(draft), theirs).status_code == 302

    response = alice.post(edit_url(draft), mine)
    assert response.status_code == 409
    page = response.content.decode()
    assert "Choose what to keep" in page
    assert page.count('data-testid="conflict-row"') == 1
    assert "MQL threshold" in page
    assert [(r["label"], r["theirs"], r["mine"]) for r in response.context["rows"]] == [("MQL threshold", "70", "65")]
    draft.refresh_from_db()
    assert (draft.revision, draft.spec["mql_threshold"]) == (2, 70)  # nothing written yet

    context = response.context
    resolved = alice.post(
        reverse("alignment:resolve", args=[draft.number]),
        {"mine": context["mine_json"], "base_revision": 1, "note": "", "choice:mql_threshold": "mine"},
        follow=True,
    )
    assert b"Saved revision 3" in resolved.content
    draft.refresh_from_db()
    assert draft.spec["mql_threshold"] == 65
    assert rule(draft.spec, "f2")["points"] == 25


def test_resolve_without_a_choice_shows_the_chooser_again(login, marketing, sales, draft):
    theirs = editor_data(draft.spec, revision=1)
    theirs["mql_threshold"] = 70
    login(sales).post(edit_url(draft), theirs)
    mine = editor_data(draft.spec, revision=1)
    mine["mql_threshold"] = 65
    alice = login(marketing)
    mine_json = alice.post(edit_url(draft), mine).context["mine_json"]
    again = alice.post(reverse("alignment:resolve", args=[draft.number]), {"mine": mine_json, "base_revision": 1})
    assert again.status_code == 409
    draft.refresh_from_db()
    assert draft.spec["mql_threshold"] == 70


def test_validation_messages_show_next_to_their_fields_and_input_is_kept(login, marketing, draft):
    data = editor_data(draft.spec, revision=1)
    fit = row_index(data, "fit", "id", "f2")
    beh = row_index(data, "beh", "id", "b1")
    data[f"fit-{fit}-values"] = "5000, 200"
    data[f"beh-{beh}-cap"] = -5
    data["grade-1-max"] = 45
    data["time_zone"] = "Mars/Olympus"
    data["rej-1-code"] = "bad_fit"
    data[f"fit-{row_index(data, 'fit', 'id', 'f1')}-values"] = "Software, Sofware"
    response = login(marketing).post(edit_url(draft), data)
    assert response.status_code == 422
    editor = response.context["editor"]
    assert editor.fit.forms[fit].errors["values"] == ["The lower bound (5,000) must not exceed the upper bound (200)."]
    assert editor.beh.forms[beh].errors["cap"] == [
        "The cap cannot be negative; it limits the rule's points in either direction."
    ]
    assert editor.section_errors["grade_bands"] == ["Bands A (40 and above) and B (25–45) overlap."]
    assert editor.sla.errors["time_zone"] == ["Unknown time zone 'Mars/Olympus'; use a name such as Europe/London."]
    assert editor.rej.forms[1].errors["code"] == ["Duplicate reason code 'bad_fit'."]
    assert "'Sofware' is not a known industry." in editor.fit.forms[0].errors["values"]
    page = response.content.decode()
    assert "5000, 200" in page  # what was typed is still there
    assert "Nothing was saved yet" in page
    draft.refresh_from_db()
    assert draft.revision == 1


def test_field_level_form_errors(login, marketing, draft):
    data = editor_data(draft.spec, revision=1)
    index = row_index(data, "fit", "id", "f2")
    data[f"fit-{index}-values"] = "two hundred"
    data["mql_threshold"] = ""
    response = login(marketing).post(edit_url(draft), data)
    assert response.status_code == 422
    editor = response.context["editor"]
    assert editor.fit.forms[index].errors["values"] == ["'two hundred' is not a number (write 5000, not 5,000)."]
    assert editor.threshold.errors["mql_threshold"] == ["This field is required."]


def test_rules_added_and_removed_through_the_formsets(login, marketing, draft):
    client = login(marketing)
    row = client.get(reverse("alignment:rule_row", args=[draft.number, "beh"]), {"index": 11}, HTTP_HX_REQUEST="true")
    assert row.status_code == 200
    html = row.content.decode()
    assert 'name="beh-11-kind"' in html and 'name="beh-11-DELETE"' in html
    new_id = row.context["form"].initial["id"]
    data = editor_data(draft.spec, revision=1)
    data.update(
        {
            "beh-TOTAL_FORMS": 12,
            "beh-11-id": new_id,
            "beh-11-kind": "form_fill",
            "beh-11-points": 7,
            "beh-11-cap": 14,
            "beh-11-window_days": 45,
            f"fit-{row_index(data, 'fit', 'id', 'f3')}-DELETE": "on",
        }
    )
    assert client.post(edit_url(draft), data).status_code == 302
    draft.refresh_from_db()
    added = draft.spec["behaviour_rules"][-1]
    assert added == {
        "id": new_id,
        "kind": "form_fill",
        "points": 7,
        "cap": 14,
        "window_days": 45,
        "half_life_days": None,
    }
    assert "f3" not in [r["id"] for r in draft.spec["fit_rules"]]


def test_editing_a_proposed_draft_warns_then_reopens_and_voids(login, marketing, sales, draft):
    from alignment.services import draft_propose, draft_sign

    draft_propose(version=draft, user=marketing)
    draft_sign(version=draft, user=marketing, side="marketing")
    client = login(sales)
    page = client.get(edit_url(draft)).content.decode()
    assert "frozen for sign-off" in page and "voids" in page
    data = editor_data(draft.spec, revision=1)
    data["monthly_mql_quota"] = 450
    response = client.post(edit_url(draft), data, follow=True)
    assert b"signatures of Marketing were voided" in response.content
    draft.refresh_from_db()
    assert draft.status == AgreementVersion.Status.DRAFT
    workspace = client.get(reverse("alignment:version", args=[draft.number])).content.decode()
    assert 'data-testid="voided-signature"' in workspace


def test_a_closed_version_cannot_be_edited(login, marketing, active):
    assert login(marketing).get(edit_url(active)).status_code == 404


def test_a_rule_on_the_organisations_own_attribute_is_written_with_the_operators_of_its_type(login, marketing, draft):
    from alignment import dictionary_services as data_dictionary

    data_dictionary.attribute_create(
        key="lead_origin", label="Lead origin", type="choice", choices=[{"value": "google", "label": "Google"}]
    )
    data_dictionary.attribute_create(key="opted_out", label="Opted out", type="yes_no")
    client = login(marketing)
    page = client.get(edit_url(draft))
    assert page.context["operators_for"]["opted_out"] == ["is_true", "is_false", "known", "unknown"]
    assert page.context["value_hints"]["lead_origin"] == {"kind": "choice", "choices": ["Google"]}
    assert '<option value="lead_origin">Lead origin</option>' in page.content.decode()
    # A row added with the "Add" button offers them too.
    row = client.get(reverse("alignment:rule_row", args=[draft.number, "fit"]), {"index": 9}, HTTP_HX_REQUEST="true")
    assert '<option value="lead_origin">Lead origin</option>' in row.content.decode()
    data = editor_data(draft.spec, revision=1)
    data.update(
        {
            "fit-TOTAL_FORMS": int(data["fit-TOTAL_FORMS"]) + 2,
            "fit-20-id": "f-origin",
            "fit-20-field": "lead_origin",
            "fit-20-operator": "in",
            "fit-20-values": "Google",  # the label: stored as the value
            "fit-20-points": 12,
            "fit-21-id": "f-optout",
            "fit-21-field": "opted_out",
            "fit-21-operator": "is_true",
            "fit-21-values": "",
            "fit-21-points": -30,
        }
    )
    # Rows are numbered by the formset: put the new ones right after the existing ones.
    first = int(data["fit-TOTAL_FORMS"]) - 2
    for offset, suffix in ((0, "20"), (1, "21")):
        for name in ("id", "field", "operator", "values", "points"):
            data[f"fit-{first + offset}-{name}"] = data.pop(f"fit-{suffix}-{name}")
    response = client.post(edit_url(draft), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    draft.refresh_from_db()
    assert rule(draft.spec, "f-origin") == {
        "id": "f-origin",
        "field": "lead_origin",
        "operator": "in",
        "values": ["google"],
        "points": 12,
    }
    assert rule(draft.spec, "f-optout")["operator"] == "is_true" and rule(draft.spec, "f-optout")["values"] == []


def test_values_picked_from_the_dictionary_may_hold_commas_and_a_value_not_a_choice_is_refused(login, marketing, draft):
    from alignment import dictionary_services as data_dictionary

    data_dictionary.attribute_create(
        key="market",
        label="Market",
        type="choice",
        choices=[{"value": "kr", "label": "Korea, Republic of"}, {"value": "ke", "label": "Kenya"}],
    )
    data = editor_data(draft.spec, revision=1)
    index = row_index(data, "fit", "id", "f1")
    data[f"fit-{index}-field"] = "market"
    data[f"fit-{index}-values"] = "Korea, Republic of; Kenya"
    login(marketing).post(edit_url(draft), data)
    draft.refresh_from_db()
    assert next(r for r in draft.spec["fit_rules"] if r["id"] == "f1")["values"] == ["kr", "ke"]

    data = editor_data(draft.spec, revision=draft.revision)
    data[f"fit-{index}-values"] = "Kenya; Narnia"
    response = login(marketing).post(edit_url(draft), data)
    assert response.status_code == 422
    assert "Narnia" in " ".join(response.context["editor"].fit.forms[index].errors["values"])
