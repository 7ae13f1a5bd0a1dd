"""The embedded default of ``make run`` (SQLite, Celery eager): every main page answers for its role.

The rest of the suite runs on PostgreSQL; this runs the app in a child process on a fresh SQLite
file, migrates, seeds a small demo, builds the SLA figures (as ``make run`` does) and opens the
main pages as each role — SQL that PostgreSQL accepts and SQLite refuses (an ORDER BY inside a
UNION, say) shows up here as a failed page.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PAGES = [
    ("sdr1", "/leads/inbox/"),
    ("sdr1", "/leads/inbox/?tab=accepted"),
    ("sdr1", "/leads/"),
    ("sdr1", "/sla/"),
    ("manager", "/leads/inbox/?tab=team"),
    ("manager", "/leads/inbox/?tab=accepted"),
    ("manager", "/sla/"),
    ("manager", "/sla/leads/?metric=open_now"),
    ("manager", "/sla/reports/"),
    ("manager", "/leads/teams/"),
    ("marketing", "/agreement/"),
    ("marketing", "/agreement/draft/"),
    ("marketing", "/agreement/history/"),
    ("marketing", "/leads/evidence/?version=2"),
    ("marketing", "/leads/evidence/suggestions/?version=2"),
    ("marketing", "/leads/proposals/new/"),
    ("marketing", "/leads/data/"),
    ("marketing", "/leads/rejected/"),
    ("marketing", "/leads/import/"),
    ("marketing", "/leads/export.csv"),
]

CHILD = """
import json, os, sys
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from leads.models import Lead
call_command("migrate", verbosity=0)
call_command("seed_demo", leads=300, weeks=4, verbosity=0)
call_command("sla_refresh", verbosity=0)  # as make run does after seeding
pages = json.loads(sys.argv[1])
lead = Lead.objects.order_by("pk").first()
pages.append(["sdr1", f"/leads/{lead.pk}/"])
failed = []
for user, path in pages:
    client = Client()
    assert client.login(username=user, password="accord-demo"), user
    status = client.get(path, follow=True).status_code
    if status != 200:
        failed.append([user, path, status])
print(json.dumps(failed))
"""


def test_main_pages_answer_on_the_embedded_sqlite_default(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "CELERY_EAGER": "1",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(PAGES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert failed == [], f"pages that did not answer 200 on SQLite: {failed}\n{done.stderr[-4000:]}"
