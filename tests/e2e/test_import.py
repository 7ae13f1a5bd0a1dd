"""A marketing leader imports a CSV file with one bad row: sees it by line before and after, imports the rest."""

from __future__ import annotations

import pytest

from leads.models import Activity, ImportJob, Lead
from portal.access import Role
from tests.factories import TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CSV = (
    "E-mail Address;First Name;Last Name;Job Title;Firma;Website;Employees;Country;Seniority;Activity;Activity Date\n"
    "ada@analytical.example;Ada;Lovelace;VP Marketing;Analytical Engines;analytical.example;850;GB;VP;"
    "webinar_attended;2026-01-12T15:00:00Z\n"
    "grace@navy.example;Grace;Hopper;Director of Engineering;US Navy;;12000;US;Director;;\n"
    "not-an-email;Bad;Row;CEO;Nowhere;;lots;Narnia;Boss;;\n"
    "zoe@koeln.example;Zoë;Müller;Head of Revenue;Kölner Brauerei;;320;DE;Director;demo_request;2026-02-01\n"
)


@pytest.fixture
def leader(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    TeamFactory()
    return UserFactory(username="mia", first_name="Mia", last_name="Marketing", roles=[Role.MARKETING])


def test_marketing_leader_imports_a_csv_and_sees_the_bad_row_by_line(leader, page, log_in, shot, live_server, tmp_path):
    log_in(page, "mia")
    page.click("text=Import")
    page.wait_for_url("**/leads/import/")
    assert page.locator("h1").inner_text() == "Import leads from a CSV file"
    shot(page, "import-1-upload")

    upload = tmp_path / "spring-webinar.csv"
    upload.write_bytes(CSV.encode("latin-1"))
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_url("**/mapping/")
    facts = page.get_by_test_id("file-facts").inner_text()
    assert "4 rows" in facts and "Windows-1252" in facts and "semicolon" in facts
    # Guessed from the headers; "Firma" is German for company.
    assert page.locator("select[name=col_0]").input_value() == "email"
    assert page.locator("select[name=col_4]").input_value() == "company"
    assert page.locator("select[name=col_9]").input_value() == "activity_kind"
    shot(page, "import-2-mapping")

    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/preview/")
    bad = page.locator("tr[data-line='4']")
    assert "table-danger" in bad.get_attribute("class")
    problems = page.locator("tr[data-errors-for='4']").inner_text()
    assert "not a valid e-mail address" in problems and "Narnia" in problems and "Boss" in problems
    assert "3 rows ready" in page.get_by_test_id("preview-summary").inner_text()
    assert "Zoë" in page.locator("tr[data-line='5']").inner_text()
    shot(page, "import-3-preview")

    page.get_by_test_id("import-button").click()
    page.wait_for_url("**/leads/import/*/")
    assert page.get_by_test_id("created-count").inner_text() == "3"
    assert page.get_by_test_id("error-count").inner_text() == "1"
    table = page.get_by_test_id("error-table").inner_text()
    assert "E-mail Address" in table and "Country" in table and "4" in table
    with page.expect_download() as download:
        page.get_by_test_id("download-errors").click()
    content = download.value.path().read_text(encoding="utf-8-sig")
    assert content.splitlines()[1].startswith("4,") and "not-an-email" in content
    shot(page, "import-4-result")

    assert (
        Lead.objects.filter(email__in=["ada@analytical.example", "grace@navy.example", "zoe@koeln.example"]).count()
        == 3
    )
    assert Lead.objects.get(email="zoe@koeln.example").last_name == "Müller"
    assert Activity.objects.count() == 2

    page.click("text=History")
    page.wait_for_url("**/import/history/")
    assert "spring-webinar.csv" in page.get_by_test_id("history-table").inner_text()
    shot(page, "import-5-history")
    assert ImportJob.objects.get().status == ImportJob.Status.DONE


def test_a_large_import_shows_a_live_progress_bar(leader, page, log_in, shot, live_server, tmp_path, settings):
    settings.ACCORD_IMPORT_SYNC_ROWS = 10
    log_in(page, "mia")
    page.goto(f"{live_server.url}/leads/import/")
    upload = tmp_path / "big.csv"
    upload.write_text("email,first_name\n" + "".join(f"p{n}@progress.example,P{n}\n" for n in range(3000)))
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.click("button:has-text('Preview the import')")
    assert "in the background" in page.content()
    page.get_by_test_id("import-button").click()
    # Celery runs eagerly in tests, so the job is done when the page shows; the bar is full and still.
    page.wait_for_url("**/leads/import/*/")
    progress = page.get_by_test_id("import-progress")
    assert progress.get_attribute("hx-trigger") is None
    assert page.locator(".progress-bar").inner_text() == "100%"
    assert page.get_by_test_id("created-count").inner_text() == "3,000"
    shot(page, "import-6-large-done")
