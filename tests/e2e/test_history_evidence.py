"""On an empty installation a leader imports past leads with outcomes and reads a first draft's evidence."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.utils import timezone

from leads.models import Lead, Stage
from portal.access import Role
from tests.factories import TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def history_csv(n: int = 80) -> str:
    rng = random.Random(4)
    today = timezone.now().date()
    rows = ["Email,Company,Industry,Employees,Seniority,Lead Stage,Created,Close Date"]
    for i in range(n):
        created = today - dt.timedelta(days=rng.randint(40, 300))
        industry = rng.choice(["Software", "Retail", "Logistics"])
        seniority = rng.choice(["VP", "Director", "Manager", "Individual"])
        converts = rng.random() < (0.6 if industry == "Software" and seniority in ("VP", "Director") else 0.15)
        stage = "Closed Won" if converts else rng.choice(["open", "Closed Lost", "Unqualified", ""])
        closed = (created + dt.timedelta(days=30)).isoformat() if stage else ""
        rows.append(
            f"past{i}@firm{i}.example,Firm {i},{industry},{rng.choice([40, 250, 900, 3000])},{seniority},"
            f"{stage},{created.isoformat()},{closed}"
        )
    return "\n".join(rows) + "\n"


@pytest.fixture
def leader(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    TeamFactory()
    return UserFactory(username="mia", first_name="Mia", last_name="Marketing", roles=[Role.MARKETING])


def test_history_import_then_the_first_drafts_evidence(leader, page, log_in, shot, live_server, tmp_path):
    log_in(page, "mia")
    page.goto(f"{live_server.url}/leads/import/")
    upload = tmp_path / "crm-export.csv"
    upload.write_text(history_csv())
    page.set_input_files("input[name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_url("**/mapping/")
    # Guessed from the headers: the history columns are offered like any other target.
    assert page.locator("select[name=col_5]").input_value() == "outcome"
    assert page.locator("select[name=col_6]").input_value() == "created_at"
    assert page.locator("select[name=col_7]").input_value() == "outcome_at"
    page.click("button:has-text('Preview the import')")
    page.wait_for_url("**/preview/")
    page.get_by_test_id("import-button").click()
    page.wait_for_url("**/leads/import/*/")
    assert page.get_by_test_id("created-count").inner_text() == "80"
    won = Lead.objects.filter(stage=Stage.WON).count()
    assert won > 10

    page.goto(f"{live_server.url}/agreement/")
    page.get_by_test_id("new-draft-title").fill("Our first definition")
    page.get_by_test_id("start-draft").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/agreement/draft/")
    page.get_by_test_id("tab-evidence").click()
    panel = page.get_by_test_id("evidence")
    panel.wait_for()
    scope = page.get_by_test_id("evidence-scope").inner_text()
    assert "80 leads" in scope and "converted" in scope
    assert "reached SQL or won" in page.get_by_test_id("outcome-definition").inner_text()
    assert "that converted" in page.get_by_test_id("captured-detail").inner_text()
    page.wait_for_timeout(300)  # the charts draw after the swap
    shot(page, "evidence-history")

    page.get_by_test_id("tab-suggestions").click()
    table = page.get_by_test_id("signals")
    table.wait_for()
    assert "Software" in table.inner_text()
    assert page.get_by_test_id("sales-signals").count() == 0 or "Budget" in page.content()
    shot(page, "suggestions-history")
