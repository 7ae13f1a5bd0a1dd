"""CSV import into the organisation's own attributes: new attributes from columns, the value step,
remembered aliases, external ids and the command-line import with a mapping file."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import load_dictionary
from alignment.models import Attribute, AttributeChoice, DictionaryChange
from leads.intake import importing
from leads.models import ImportJob, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

EXPORT = """Prospect ID,Email,Lead Origin,Occupation,Time on site,Do Not Email,Notes
P-1,ada@corp.example,Google,Student,2.5,No,call back
P-2,bob@corp.example,Select,Working Professional,0,Yes,
P-3,cy@corp.example,Referral Sites,Select,10.25,no,x
P-4,dee@gmail.com,google,Unemployed,1,yes,
"""


@pytest.fixture
def origin(db):
    return data_dictionary.attribute_create(
        key="lead_origin", label="Lead origin", type="choice", choices=[{"value": "Google"}, {"value": "Referral"}]
    )


def _run(tmp_path, csv_text: str, mapping: dict) -> str:
    (tmp_path / "export.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "mapping.json").write_text(json.dumps(mapping), encoding="utf-8")
    out = StringIO()
    call_command("import_leads", str(tmp_path / "export.csv"), "--mapping", str(tmp_path / "mapping.json"), stdout=out)
    return out.getvalue()


MAPPING = {
    "columns": {
        "Prospect ID": "lead_external_id",
        "Email": "email",
        "Lead Origin": "lead_origin",
        "Occupation": {"new": "guess"},
        "Time on site": {"new": "guess"},
        "Do Not Email": {"new": "guess"},
    },
    "values": {"Lead Origin": {"Select": None, "Referral Sites": "Referral"}},
}


def test_a_foreign_export_imports_every_row_into_its_own_attributes(tmp_path, origin):
    out = _run(tmp_path, EXPORT, MAPPING)
    assert "4 leads created" in out and "0 rows not imported" in out, out
    types = dict(Attribute.objects.filter(builtin=False).values_list("key", "type"))
    assert types == {
        "lead_origin": "choice",
        "occupation": "choice",
        "time_on_site": "number",
        "do_not_email": "yes_no",
    }
    leads = {lead.external_id: lead.attributes for lead in Lead.objects.all()}
    assert leads["P-1"] == {
        "lead_origin": "Google",
        "occupation": "Student",
        "time_on_site": 2.5,
        "do_not_email": False,
    }
    assert leads["P-2"] == {
        "occupation": "Working Professional",
        "time_on_site": 0,
        "do_not_email": True,
    }  # Select: unknown
    assert leads["P-3"] == {"lead_origin": "Referral", "time_on_site": 10.25, "do_not_email": False}
    assert leads["P-4"]["lead_origin"] == "Google"
    # The mapping is remembered: the next file's "Referral Sites" reads as Referral by itself.
    assert AttributeChoice.objects.get(attribute=origin, value="Referral").aliases == ["Referral Sites"]
    assert not AttributeChoice.objects.filter(attribute__key="occupation", value="Select").exists()
    assert DictionaryChange.objects.filter(subject="occupation", action="attribute_created").exists()
    again = "Email,Lead Origin\ned@corp.example,referral sites\n"
    out = _run(tmp_path, again, {"columns": {"Email": "email", "Lead Origin": "lead_origin"}})
    assert "1 leads created" in out and "0 rows not imported" in out, out
    assert Lead.objects.get(email="ed@corp.example").attributes == {"lead_origin": "Referral"}


def test_a_value_nobody_mapped_is_reported_by_line_with_what_to_do(tmp_path, origin):
    out = _run(
        tmp_path,
        "Email,Lead Origin\na@corp.example,Carrier pigeon\n",
        {"columns": {"Email": "email", "Lead Origin": "lead_origin"}, "values": {"Lead Origin": {}}},
    )
    assert "0 leads created" in out and "1 rows not imported" in out
    assert 'line 2 (Lead Origin): "Carrier pigeon" is not accepted by Lead origin (lead_origin)' in out
    assert "give one of: Google, Referral." in out


def test_a_lead_is_updated_by_its_external_id_alone(tmp_path):
    LeadFactory(email="ada@corp.example", external_id="P-1", job_title="")
    out = _run(
        tmp_path,
        "Prospect ID,Title\nP-1,CTO\nP-9,CFO\n",
        {"columns": {"Prospect ID": "lead_external_id", "Title": "job_title"}},
    )
    assert "1 updated" in out and "1 rows not imported" in out, out
    assert "No lead has external_id P-9" in out
    assert Lead.objects.get().job_title == "CTO"


def test_an_ignored_column_is_never_an_error_and_unknown_columns_are_refused(tmp_path):
    out = _run(tmp_path, "Email,Junk\na@corp.example,\x01weird\n", {"columns": {"Email": "email", "Junk": None}})
    assert "1 leads created" in out
    with pytest.raises(CommandError, match="does not have: Nope"):
        _run(tmp_path, "Email\na@corp.example\n", {"columns": {"Email": "email", "Nope": "job_title"}})


def test_a_new_source_value_is_added_to_the_built_in_choices(tmp_path):
    out = _run(
        tmp_path,
        "Email,Source\na@corp.example,Google\nb@corp.example,Website\n",
        {"columns": {"Email": "email", "Source": "source"}, "values": {"Source": {"Google": "+new"}}},
    )
    assert "2 leads created" in out, out
    assert dict(Lead.objects.values_list("email", "source")) == {
        "a@corp.example": "Google",
        "b@corp.example": "website",
    }
    assert "Google" in [c.value for c in load_dictionary().attributes["source"].choices]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Yes", "No", "yes", "Select"], "yes_no"),
        (["1", "2.5", "-3", "1,200"], "number"),
        (["2026-03-01", "2025-12-31T10:00:00"], "date"),
        (["Student", "Working Professional", "Select"], "choice"),
        ([f"free text {i}" for i in range(101)], "text"),
        (["0", "1"], "number"),
    ],
)
def test_the_type_of_a_new_attribute_is_guessed_from_its_values(values, expected):
    assert importing.guess_type(Counter(values)) == expected


def test_the_value_step_lists_each_value_with_its_count_and_a_suggested_reading(leader_job, origin):
    job = importing.import_job_map(job=leader_job, columns=["email", "attr:lead_origin"])
    (step,) = importing.value_step(job, load_dictionary())
    rows = {r.value: (r.count, r.suggestion) for r in step["rows"]}
    assert rows == {"google": (2, "Google"), "Select": (1, ""), "Blog": (1, importing.ADD_CHOICE)}


@pytest.fixture
def leader_job(marketing):
    upload = SimpleUploadedFile(
        "x.csv", b"Email,Origin\na@x.example,google\nb@x.example,Select\nc@x.example,Blog\nd@x.example,google\n"
    )
    return importing.import_job_create(upload=upload, user=marketing)


def test_a_job_without_a_person_is_a_scheduled_load(tmp_path):
    _run(tmp_path, "Email\na@corp.example\n", {"columns": {"Email": "email"}})
    assert ImportJob.objects.get().created_by is None


def test_the_pages_create_an_attribute_from_a_column_and_ask_what_its_values_mean(login, marketing, sdr):
    from django.urls import reverse

    leader = login(marketing)
    csv_text = "Email,Occupation\na@x.example,Student\nb@x.example,Select\nc@x.example,Student\n"
    leader.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile("x.csv", csv_text.encode(), "text/csv")})
    job = ImportJob.objects.latest("id")
    page = leader.get(reverse("leads:import_mapping", args=[job.pk])).content.decode()
    assert "New attribute from this column: choice" in page
    response = leader.post(reverse("leads:import_mapping", args=[job.pk]), {"col_0": "email", "col_1": "new:choice"})
    assert response["Location"] == reverse("leads:import_values", args=[job.pk])
    page = leader.get(reverse("leads:import_values", args=[job.pk])).content.decode()
    assert "Student" in page and "Select" in page
    assert login(sdr).get(reverse("leads:import_values", args=[job.pk])).status_code == 403
    # Student is added as a choice, Select read as unknown (the suggestions, left as they are).
    response = leader.post(reverse("leads:import_values", args=[job.pk]), {})
    assert response["Location"] == reverse("leads:import_preview", args=[job.pk])
    assert leader.get(response["Location"]).status_code == 200
    leader.post(reverse("leads:import_run", args=[job.pk]))
    job.refresh_from_db()
    assert (job.created_count, job.error_count) == (3, 0)
    assert dict(Lead.objects.values_list("email", "attributes")) == {
        "a@x.example": {"occupation": "Student"},
        "b@x.example": {},
        "c@x.example": {"occupation": "Student"},
    }
    assert list(AttributeChoice.objects.filter(attribute__key="occupation").values_list("value", flat=True)) == [
        "Student"
    ]
    change = DictionaryChange.objects.get(subject="occupation", action="attribute_created")
    assert change.actor == marketing


# --- Cells cleaned once per distinct value ----------------------------------------------------


def test_a_repeated_value_is_cleaned_once_but_every_row_gets_its_own_result(origin):
    """Cells of a column repeat (choices, numbers): each distinct text is cleaned once per import,
    and a refused one is still reported on every line that holds it."""
    interests = data_dictionary.attribute_create(
        key="interests", label="Interests", type="multi_choice", choices=[{"value": "ai"}, {"value": "data"}]
    )
    plan = importing.ImportPlan(load_dictionary())
    header = ["email", "origin", "interests"]
    columns = ["email", f"attr:{origin.key}", f"attr:{interests.key}"]
    rows = [
        importing.validate_row(2 + n, [f"p{n}@corp.example", "google", "ai;data"], header, columns, plan=plan)
        for n in range(3)
    ]
    assert all(r.ok for r in rows)
    assert [r.lead["attributes"] for r in rows] == [{"lead_origin": "Google", "interests": ["ai", "data"]}] * 3
    # The remembered list is not shared: changing one row's value leaves the others alone.
    rows[0].lead["attributes"]["interests"].append("x")
    assert rows[1].lead["attributes"]["interests"] == ["ai", "data"]
    assert len(plan.cells[1]) == 1 and len(plan.cells[2]) == 1  # one distinct cell each, cleaned once

    bad = [
        importing.validate_row(10 + n, [f"q{n}@corp.example", "Fax", ""], header, columns, plan=plan) for n in (0, 1)
    ]
    assert [r.ok for r in bad] == [False, False]
    assert [dict(r.errors)["origin"] for r in bad] == [dict(bad[0].errors)["origin"]] * 2
    assert "Fax" in dict(bad[0].errors)["origin"]


def test_imported_new_leads_wait_for_their_first_score(marketing, settings, tmp_path):
    """New leads are inserted already waiting for a rescore; a lead the file updates is marked too."""
    known = LeadFactory(email="known@corp.example")
    Lead.objects.filter(pk=known.pk).update(rescore_requested_at=None)
    upload = SimpleUploadedFile("leads.csv", b"email,job_title\nnew@corp.example,CFO\nknown@corp.example,CTO\n")
    settings.MEDIA_ROOT = tmp_path
    job = importing.import_job_create(upload=upload, user=marketing)
    job = importing.import_job_map(job=job, columns=["email", "job_title"])
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    job = importing.import_job_run(job_id=job.pk)
    assert (job.created_count, job.updated_count) == (1, 1)
    waiting = dict(Lead.objects.values_list("email", "rescore_requested_at"))
    assert waiting["new@corp.example"] is not None
    assert waiting["known@corp.example"] is not None
