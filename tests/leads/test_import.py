"""CSV import: sniffing, mapping, per-row validation, the four pages, idempotent re-upload, big files."""

from __future__ import annotations

import codecs
import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from leads.intake import importing
from leads.models import Account, Activity, ImportJob, Lead, Stage, Transition
from portal.access import Role
from tests.factories import AgreementVersionFactory, LeadFactory, UserFactory

GOOD_AND_BAD = (
    "E-mail Address,First Name,Last Name,Title,Company Name,Website,Employees,Country,Seniority,"
    "Activity,Activity Date\n"
    "ada@analytical.example,Ada,Lovelace,VP Marketing,Analytical Engines,analytical.example,850,GB,VP,"
    "webinar_attended,2026-01-12T15:00:00Z\n"
    "grace@navy.example,Grace,Hopper,Director,US Navy,,12000,US,Director,,\n"
    "not-an-email,Bad,Row,CEO,Nowhere,,lots,Narnia,Boss,,\n"
    "\n"
    "alan@bletchley.example,Alan,Turing,Researcher,Bletchley,,1.2k,gb,individual contributor,demo_request,2026-02-01\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def leader(marketing, login):
    return login(marketing)


def _upload(client, content: bytes | str, name: str = "leads.csv"):
    data = content.encode() if isinstance(content, str) else content
    return client.post(reverse("leads:import_upload"), {"file": SimpleUploadedFile(name, data, "text/csv")})


def _import(client, content: bytes | str, name: str = "leads.csv", columns: list[str] | None = None) -> ImportJob:
    """Walk the four steps like a person: upload, accept (or set) the mapping, preview, import."""
    response = _upload(client, content, name)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = ImportJob.objects.latest("id")
    assert response["Location"] == reverse("leads:import_mapping", args=[job.pk])
    chosen = columns if columns is not None else importing.job_columns(job)
    response = client.post(
        reverse("leads:import_mapping", args=[job.pk]), {f"col_{i}": key for i, key in enumerate(chosen)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.get(reverse("leads:import_preview", args=[job.pk])).status_code == 200
    response = client.post(reverse("leads:import_run", args=[job.pk]))
    assert response["Location"] == reverse("leads:import_detail", args=[job.pk])
    job.refresh_from_db()
    return job


# --- Sniffing and mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        ("email,name\nzoë@x.example,Zoë\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "email,name\nzoë@x.example,Zoë\n".encode(), "utf-8-sig"),
        ("email;name\nzoe@x.example;Zoë Müller\n".encode("latin-1"), "cp1252"),
        (b"email,name\nz@x.example,\x81\x8d\xe9\n", "latin-1"),
        ("email,name\nzoe@x.example,Zoë\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encodings_are_detected(raw, encoding):
    found = importing.sniff(raw)
    assert found.encoding == encoding
    assert found.header == ["email", "name"]
    assert found.total_rows == 1


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("email,company\na@x.example,Acme\n", ","),
        ('email;company;city\na@x.example;"Acme, Inc";Köln\nb@x.example;Foo, Bar;Berlin\n', ";"),
        ("email\tcompany\na@x.example\tAcme, Inc\n", "\t"),
        ("email|company\na@x.example|Acme\n", "|"),
    ],
)
def test_delimiters_are_detected(text, delimiter):
    assert importing.sniff(text.encode()).delimiter == delimiter


def test_header_names_are_mapped_to_fields_and_each_field_used_once():
    header = [
        "E-Mail Address",
        "First Name",
        "Surname",
        "Job Title",
        "Company",
        "Website",
        "Email",
        "Notes",
        "Lead Source",
    ]
    assert importing.guess_mapping(header) == [
        "email",
        "first_name",
        "last_name",
        "job_title",
        "company",
        "domain",
        "",
        "",
        "source",
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"email,name\n", "no rows"),
        (b"\x00\x01\x02PK\x03\x04" * 50, "binary"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(raw, message):
    with pytest.raises(importing.ImportProblem, match=message):
        importing.sniff(raw)


def test_row_validation_names_the_column_of_each_problem():
    header = ["Email", "Employees", "Country", "Seniority", "Activity", "When"]
    columns = ["email", "employees", "country", "seniority", "activity_kind", "activity_occurred_at"]
    result = importing.validate_row(7, ["nope", "-3", "Atlantis", "boss", "web_visit", ""], header, columns)
    assert not result.ok and result.line == 7
    problems = dict(result.errors)
    assert set(problems) == {"Email", "Employees", "Country", "Seniority", "When"}
    assert "not a valid e-mail" in problems["Email"]
    assert "two-letter ISO code" in problems["Country"]
    assert "C-level" in problems["Seniority"]
    assert problems["When"] == "Give the date of this activity."


def test_numbers_larger_than_their_column_are_row_errors_not_a_failed_import(leader):
    """3 billion employees used to pass the cleaner and break the whole import at the INSERT."""
    header = ["email", "employees", "annual_revenue"]
    too_many = importing.validate_row(2, ["a@b.example", "3,000,000,000", "3,000,000,000"], header, header)
    assert dict(too_many.errors) == {"employees": "Employee count is too large."}
    job = _import(leader, "email,employees\nbig@acme.example,3000000000\nok@acme.example,2000000000\n")
    assert job.status == ImportJob.Status.DONE
    assert (job.created_count, job.error_count) == (1, 1)
    assert Lead.objects.get(email="ok@acme.example").account.employees == 2_000_000_000


def test_an_unexpected_error_fails_the_job_with_a_message_instead_of_leaving_it_running(leader, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(importing, "_flush", broken)
    job = _import(leader, "email\nada@acme.example\n")
    assert job.status == ImportJob.Status.FAILED
    assert "error on our side" in job.errors[0]["message"]


def test_a_valid_row_is_cleaned_like_the_api_does():
    header = ["email", "seniority", "country", "employees", "annual_revenue", "domain"]
    columns = header
    values = [" Ada@Example.COM ", "c-level", "united kingdom", "1,200", "$1.5M", "https://www.acme.example/x"]
    result = importing.validate_row(2, values, header, columns)
    assert result.ok
    assert result.lead == {
        "email": "Ada@example.com",
        "seniority": "c_level",
        "country": "GB",
        "employees": 1200,
        "annual_revenue": 1_500_000,
        "domain": "acme.example",
    }


# --- Permissions ----------------------------------------------------------------------------


def _all_urls(job):
    return [
        ("get", reverse("leads:import_upload")),
        ("get", reverse("leads:import_template")),
        ("get", reverse("leads:import_history")),
        ("get", reverse("leads:import_mapping", args=[job.pk])),
        ("get", reverse("leads:import_preview", args=[job.pk])),
        ("post", reverse("leads:import_run", args=[job.pk])),
        ("get", reverse("leads:import_detail", args=[job.pk])),
        ("get", reverse("leads:import_progress", args=[job.pk])),
        ("get", reverse("leads:import_errors", args=[job.pk])),
    ]


@pytest.fixture
def uploaded_job(marketing):
    upload = SimpleUploadedFile("x.csv", GOOD_AND_BAD.encode(), "text/csv")
    return importing.import_job_create(upload=upload, user=marketing)


def test_anonymous_users_are_sent_to_login(client, uploaded_job):
    for method, url in _all_urls(uploaded_job):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url


@pytest.mark.parametrize("role", [Role.SALES, Role.SDR, Role.MANAGER])
def test_other_roles_get_403_on_every_import_page(role, uploaded_job, login):
    client = login(UserFactory(roles=[role]))
    for method, url in _all_urls(uploaded_job):
        assert getattr(client, method)(url).status_code == 403, url
    uploaded_job.refresh_from_db()
    assert uploaded_job.status == ImportJob.Status.UPLOADED


def test_the_nav_shows_import_to_marketing_leaders_only(leader, sales, login):
    assert b'href="/leads/import/"' in leader.get(reverse("leads:lead_list")).content
    assert b'href="/leads/import/"' not in login(sales).get(reverse("leads:lead_list")).content


def test_the_upload_page_explains_the_columns_and_offers_the_template(leader):
    page = leader.get(reverse("leads:import_upload")).content.decode()
    assert "Columns Accord understands" in page and "activity_occurred_at" in page
    template = leader.get(reverse("leads:import_template"))
    assert template["Content-Disposition"].startswith("attachment")
    header = next(csv.reader(io.StringIO(template.content.decode())))
    assert header == [t.key for t in importing.TARGETS]


# --- The whole journey ----------------------------------------------------------------------


def test_good_rows_are_imported_and_bad_rows_reported_by_line_column_and_message(leader, team):
    job = _import(leader, GOOD_AND_BAD)
    assert job.status == ImportJob.Status.DONE
    assert (job.total_rows, job.processed_rows, job.created_count, job.updated_count, job.error_count) == (
        4,
        4,
        3,
        0,
        1,
    )
    ada = Lead.objects.select_related("account").get(email="ada@analytical.example")
    assert (ada.first_name, ada.job_title, ada.seniority, ada.source, ada.stage) == (
        "Ada",
        "VP Marketing",
        "vp",
        "import",
        Stage.NEW,
    )
    assert (ada.account.name, ada.account.employees, ada.account.region) == ("Analytical Engines", 850, "EMEA")
    alan = Lead.objects.select_related("account").get(email="alan@bletchley.example")
    assert (alan.seniority, alan.account.employees, alan.account.country) == ("individual", 1200, "GB")
    assert Transition.objects.filter(to_stage="new", from_stage="").count() == 3
    assert Activity.objects.filter(lead=ada, kind="webinar_attended").count() == 1
    assert Activity.objects.filter(lead=alan, kind="demo_request").count() == 1
    assert not Lead.objects.filter(first_name="Bad").exists()
    errors = {(e["line"], e["column"]): e["message"] for e in job.errors}
    assert set(errors) == {(4, "E-mail Address"), (4, "Employees"), (4, "Country"), (4, "Seniority")}
    assert "not a valid e-mail address" in errors[(4, "E-mail Address")]

    page = leader.get(reverse("leads:import_detail", args=[job.pk])).content.decode()
    assert "Narnia" in page and "E-mail Address" in page
    download = leader.get(reverse("leads:import_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:2] == ["line", "errors"] and rows[0][2] == "E-mail Address"
    assert len(rows) == 2 and rows[1][0] == "4" and rows[1][2] == "not-an-email"
    assert "Country:" in rows[1][1]


def test_the_preview_shows_each_bad_row_with_its_line_before_importing(leader):
    _upload(leader, GOOD_AND_BAD)
    job = ImportJob.objects.get()
    leader.post(
        reverse("leads:import_mapping", args=[job.pk]),
        {f"col_{i}": k for i, k in enumerate(importing.job_columns(job))},
    )
    page = leader.get(reverse("leads:import_preview", args=[job.pk])).content.decode()
    assert 'data-line="4"' in page and "table-danger" in page
    assert "1</strong> row with problems" in page.replace("\n", "")
    assert "Import 3 rows" in page
    assert not Lead.objects.exists()


def test_uploading_the_same_file_again_creates_no_duplicates(leader):
    first = _import(leader, GOOD_AND_BAD)
    counts = (Lead.objects.count(), Account.objects.count(), Activity.objects.count(), Transition.objects.count())
    second = _import(leader, GOOD_AND_BAD, name="same-again.csv")
    assert (
        Lead.objects.count(),
        Account.objects.count(),
        Activity.objects.count(),
        Transition.objects.count(),
    ) == counts
    # Nothing in the file is new: no lead is even written again.
    assert (second.created_count, second.updated_count, second.error_count) == (0, 0, 1)
    assert second.sha256 == first.sha256


def test_the_mapping_page_says_when_the_same_file_was_imported_before(leader):
    first = _import(leader, GOOD_AND_BAD)
    _upload(leader, GOOD_AND_BAD)
    job = ImportJob.objects.latest("id")
    page = leader.get(reverse("leads:import_mapping", args=[job.pk])).content.decode()
    assert "This exact file was imported" in page and reverse("leads:import_detail", args=[first.pk]) in page


def test_existing_leads_are_updated_in_any_case_and_empty_cells_keep_values(leader):
    lead = LeadFactory(email="Grace@Navy.example", phone="+1 555 0100", job_title="Engineer")
    job = _import(leader, "email,title,phone\ngrace@NAVY.example,Rear Admiral,\n")
    lead.refresh_from_db()
    assert (lead.job_title, lead.phone) == ("Rear Admiral", "+1 555 0100")
    assert (job.created_count, job.updated_count) == (0, 1)
    assert Lead.objects.count() == 1


def test_a_latin1_semicolon_file_imports_with_its_accents(leader):
    content = "Email;Vorname;Nachname;Firma\nzoe@koeln.example;Zoë;Müller;Kölner Brauerei, GmbH\n".encode("latin-1")
    job = _import(leader, content)
    assert job.encoding == "cp1252" and job.delimiter == ";"
    lead = Lead.objects.select_related("account").get()
    assert (lead.first_name, lead.last_name, lead.account.name) == ("Zoë", "Müller", "Kölner Brauerei, GmbH")


def test_a_utf8_bom_tab_file_imports(leader):
    content = codecs.BOM_UTF8 + "email\tfirst_name\nbom@tab.example\tÅsa\n".encode()
    job = _import(leader, content)
    assert job.encoding == "utf-8-sig" and job.delimiter == "\t"
    assert Lead.objects.get().first_name == "Åsa"


def test_the_template_file_itself_imports_cleanly(leader):
    job = _import(leader, importing.sample_csv())
    assert (job.created_count, job.error_count) == (2, 0)
    assert Activity.objects.count() == 1


def test_a_mapping_without_email_or_with_a_field_twice_is_refused(leader):
    _upload(leader, GOOD_AND_BAD)
    job = ImportJob.objects.get()
    url = reverse("leads:import_mapping", args=[job.pk])
    columns = importing.job_columns(job)
    no_email = {f"col_{i}": ("" if k == "email" else k) for i, k in enumerate(columns)}
    page = leader.post(url, no_email).content.decode()
    assert "Map one column to E-mail" in page
    twice = {f"col_{i}": ("first_name" if k == "last_name" else k) for i, k in enumerate(columns)}
    assert "First name is chosen for more than one column" in leader.post(url, twice).content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_clicking_import_twice_imports_once(leader):
    job = _import(leader, GOOD_AND_BAD)
    response = leader.post(reverse("leads:import_run", args=[job.pk]), follow=True)
    assert "imported already" in response.content.decode()
    job.refresh_from_db()
    assert job.created_count == 3 and Lead.objects.count() == 3


@pytest.mark.parametrize(("content", "message"), [("", "empty"), ("email,name\n", "no rows")])
def test_unusable_uploads_show_the_reason_on_the_form(leader, content, message):
    response = _upload(leader, content)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_large_files_import_in_a_celery_task_with_live_progress(leader, settings, django_capture_on_commit_callbacks):
    settings.ACCORD_IMPORT_SYNC_ROWS = 5
    rows = "".join(f"lead{n}@bulk.example,Lead {n}\n" for n in range(12))
    _upload(leader, "email,first_name\n" + rows)
    job = ImportJob.objects.get()
    leader.post(reverse("leads:import_mapping", args=[job.pk]), {"col_0": "email", "col_1": "first_name"})
    with django_capture_on_commit_callbacks() as callbacks:
        leader.post(reverse("leads:import_run", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING and not Lead.objects.exists()
    progress = leader.get(reverse("leads:import_progress", args=[job.pk]))
    assert 'hx-trigger="every 1s"' in progress.content.decode() and "HX-Refresh" not in progress
    for callback in callbacks:  # the worker picks the task up (eager in tests)
        callback()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == (ImportJob.Status.DONE, 12, 12)
    done = leader.get(reverse("leads:import_progress", args=[job.pk]) + "?was=running")
    assert done["HX-Refresh"] == "true" and "every 1s" not in done.content.decode()


def test_imported_leads_are_scored_by_the_active_agreement(leader, django_capture_on_commit_callbacks):
    version = AgreementVersionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        _import(leader, "email,seniority,industry,employees\nboss@big.example,c_level,Software,900\n")
    lead = Lead.objects.get()
    assert lead.scored_version == version
    assert lead.fit_score > 0 and lead.grade


def test_the_history_lists_imports_with_a_constant_number_of_queries(leader, marketing, django_assert_max_num_queries):
    for n in range(30):
        importing.import_job_create(upload=SimpleUploadedFile(f"f{n}.csv", b"email\na@b.example\n"), user=marketing)
    with django_assert_max_num_queries(8):
        response = leader.get(reverse("leads:import_history"))
    page = response.content.decode()
    assert "f29.csv" in page and "f4.csv" not in page and "Page 1 of 2" in page


def test_the_history_has_an_empty_state(leader):
    assert "No file has been imported yet" in leader.get(reverse("leads:import_history")).content.decode()


def test_see_the_imported_leads_lists_exactly_that_imports_leads(leader):
    existing = LeadFactory(email="grace@navy.example", source="website")
    LeadFactory(email="bystander@elsewhere.example", source="import")  # imported by an earlier file
    first = _import(leader, "email,first_name\nada@one.example,Ada\ngrace@navy.example,Grace\n")
    _import(leader, "email,first_name\nlin@two.example,Lin\n", name="second.csv")

    page = leader.get(reverse("leads:import_detail", args=[first.pk]))
    link = re.search(r'href="([^"]+)" data-testid="imported-leads"', page.content.decode()).group(1)
    listed = leader.get(link.replace("&amp;", "&"))

    emails = sorted(lead.email for lead in listed.context["page"].object_list)
    assert emails == ["ada@one.example", existing.email]
    assert "leads.csv" in listed.content.decode()  # the page says which import it lists
