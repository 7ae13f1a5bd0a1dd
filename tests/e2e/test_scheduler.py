"""The embedded default runs the beat schedule: with no Redis, the scheduler process that ``make run``
starts raises the breach warning an SDR sees in the app."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from leads.models import Stage
from portal.access import Role
from tests.factories import AgreementVersionFactory, LeadFactory, TeamFactory, TeamMemberFactory, UserFactory
from tests.sla.conftest import history

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scheduler():
    """The scheduler process of ``make run`` (no REDIS_URL: tasks run in it), on the test database."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "CELERY_EAGER", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    login = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    env["DATABASE_URL"] = f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    started = []

    def _start() -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_schedule"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield _start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def test_an_overdue_lead_gets_its_breach_warning_without_redis(live_server, new_page, log_in, shot, scheduler):
    AgreementVersionFactory()
    manager = UserFactory(username="manager", first_name="Morgan", roles=[Role.MANAGER])
    team = TeamFactory(manager=manager)
    sdr = UserFactory(username="sdr1", first_name="Priya", last_name="Shah", roles=[Role.SDR])
    TeamMemberFactory(team=team, user=sdr)
    lead = LeadFactory(owner=sdr, team=team, grade="A", first_name="Leo", last_name="Baker")
    mql_at = timezone.now() - dt.timedelta(days=8)
    history(lead, (Stage.NEW, mql_at - dt.timedelta(days=1)), (Stage.MQL, mql_at))

    page = new_page(1440, 900)
    log_in(page, "sdr1")
    page.goto(f"{live_server.url}/sla/notifications/")
    expect(page.get_by_test_id("notification")).to_have_count(0)

    process = scheduler()
    notes = page.get_by_test_id("notification")
    for _ in range(30):
        page.reload()
        if notes.count():
            break
        assert process.poll() is None, process.stdout.read()
        page.wait_for_timeout(1000)
    expect(notes.first).to_contain_text("Leo Baker")
    expect(notes.first).to_contain_text("SLA breach")
    shot(page, "scheduler-breach-warning")
