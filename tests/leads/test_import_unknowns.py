"""Values read as unknown in an import's value step are remembered for the next import of the same
attribute, as the choices' other spellings are; leaders edit the list on the Data page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import load_dictionary
from alignment.models import Attribute, DictionaryChange
from leads.intake import importing
from leads.models import ImportJob, Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def origin(db):
    return data_dictionary.attribute_create(
        key="lead_origin", label="Lead origin", type="choice", choices=[{"value": "Google"}, {"value": "Referral"}]
    )


def _upload_and_map(client, csv_text: str) -> ImportJob:
    client.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile("x.csv", csv_text.encode(), "text/csv")})
    job = ImportJob.objects.latest("id")
    response = client.post(
        reverse("leads:import_mapping", args=[job.pk]), {"col_0": "email", "col_1": "attr:lead_origin"}
    )
    assert response["Location"] == reverse("leads:import_values", args=[job.pk])
    return job


def _suggestions(job: ImportJob) -> dict[str, str]:
    job.refresh_from_db()
    (step,) = importing.value_step(job, load_dictionary())
    return {row.value: row.suggestion for row in step["rows"]}


def test_values_read_as_unknown_and_spellings_are_remembered_for_the_next_import(login, marketing, origin):
    leader = login(marketing)
    first = _upload_and_map(leader, "Email,Origin\na@x.example,Google\nb@x.example,Not given\nc@x.example,Ref\n")
    rows = {row: n for n, row in enumerate(_suggestions(first))}
    assert _suggestions(first)["Not given"] == importing.ADD_CHOICE  # nothing taught yet
    leader.post(
        reverse("leads:import_values", args=[first.pk]),
        {f"v_1_{rows['Not given']}": "", f"v_1_{rows['Ref']}": "Referral"},
    )
    leader.post(reverse("leads:import_run", args=[first.pk]))
    assert Attribute.objects.get(key="lead_origin").unknown_aliases == ["Not given"]
    assert DictionaryChange.objects.filter(subject="lead_origin", summary__contains="'Not given' as unknown").exists()

    second = _upload_and_map(leader, "Email,Origin\nd@x.example,not given\ne@x.example,Ref\nf@x.example,Select\n")
    assert _suggestions(second) == {"not given": "", "Ref": "Referral", "Select": ""}
    page = leader.get(reverse("leads:import_values", args=[second.pk])).content.decode()
    assert page.count('value="" selected') == 2
    leader.post(reverse("leads:import_values", args=[second.pk]), {})
    leader.post(reverse("leads:import_run", args=[second.pk]))
    second.refresh_from_db()
    assert (second.created_count, second.error_count) == (3, 0)
    stored = dict(Lead.objects.values_list("email", "attributes"))
    assert stored["d@x.example"] == {} and stored["e@x.example"] == {"lead_origin": "Referral"}
    assert Attribute.objects.get(key="lead_origin").unknown_aliases == ["Not given", "Select"]


def test_a_remembered_unknown_is_read_so_without_a_value_step(origin):
    data_dictionary.attribute_update(attribute=origin, unknown_aliases=["--"])
    plan = importing.ImportPlan(load_dictionary())
    assert plan.custom("--", 1, "lead_origin") == ("lead", None)
    with pytest.raises(Exception, match="not accepted by Lead origin"):
        plan.custom("Blog", 1, "lead_origin")


def test_leaders_edit_the_values_read_as_unknown_on_the_data_page(login, marketing, sdr, origin):
    url = reverse("leads:data_attribute_edit", args=["lead_origin"])
    assert login(sdr).post(url, {"unknown_aliases": "Select"}).status_code == 403
    leader = login(marketing)
    leader.post(url, {"label": "Lead origin", "unknown_aliases": "Select\nN/A\n\nselect\n"})
    assert Attribute.objects.get(key="lead_origin").unknown_aliases == ["Select", "N/A"]
    change = DictionaryChange.objects.filter(subject="lead_origin").latest("id")
    assert change.actor == marketing and "'Select', 'N/A' as unknown" in change.summary
    page = leader.get(reverse("leads:data_attribute", args=["lead_origin"])).content.decode()
    assert "Select\nN/A\n</textarea>" in page

    response = leader.post(url, {"unknown_aliases": "google"}, follow=True)
    assert "is a spelling of the choice Google; it cannot also mean unknown" in response.content.decode()
    assert Attribute.objects.get(key="lead_origin").unknown_aliases == ["Select", "N/A"]
