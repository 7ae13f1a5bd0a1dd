#!/usr/bin/env python
"""Benchmark: rescoring every lead under a newly published agreement.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accord_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/rescore.py --leads 1000000

Works in a scratch database next to DATABASE_URL's (``<name>_bench_rescore``, created fresh and
dropped at the end unless ``--keep``), so it never touches real data. Generates N leads with 5
activities each with ``generate_series`` (no Python loops), then measures on the same data:

1. Accord's full rescore through the real code path: ``rescore_all`` with its id-range chunks,
   job rows, stage moves, transitions and routing — in eager mode (chunk after chunk in this
   process), and with one real Celery worker (needs REDIS_URL) with Celery's default pool of one
   process per core (``--concurrency``), which is what a user waits for after publishing and what
   ``accord_s`` reports when it was measured (``accord_eager_s`` is the eager run);
2. the floor: one hand-written SQL UPDATE computing the same scores (two shapes; the faster counts);
3. the naive per-lead ORM loop on a 20,000-lead sample, extrapolated to N;
4. a 1,000-activity batch: from commit to the new MQLs being visible in the inbox query — through the
   worker seconds after its full rescore, again once the database has settled, and eagerly.

With ``--custom`` the organisation has its own attributes (lead and account, every scorable type)
and version 2 adds eight rules on them to today's: the compiled rescore reads them from the JSON
``attributes`` columns, the floor spells the same rules out by hand, and a sample is checked
against the pure function.

Prints figures and ends with one JSON line. It measures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scratch import recreate_database, scratch_url, sql  # noqa: E402 - after the path insert

NAIVE_SAMPLE = 20_000
BATCH = 1_000


def log(message: str) -> None:
    print(message, flush=True)


# Activity kinds weighted like real traffic: opens and visits are common, demo requests rare.
KINDS = (
    ["email_open"] * 12 + ["web_visit"] * 12 + ["email_click"] * 6 + ["form_fill"] * 3
    + ["whitepaper_download"] * 3 + ["case_study_download"] * 2 + ["webinar_attended"] * 2
    + ["pricing_page_visit"] * 2 + ["tradeshow_scan", "unsubscribe", "demo_request", "contact_sales"]
    + ["free_trial_signup"]
)  # fmt: skip


def generate(n: int, now) -> None:
    """N leads (5% without an account), N/50 accounts, 5N activities over the last 200 days."""
    accounts = max(n // 50, 100)
    sql(
        """
        INSERT INTO leads_account (domain, name, industry, employees, annual_revenue, country, region, created_at)
        SELECT 'acct' || i || '.example', 'Account ' || i,
               (ARRAY['Software','Financial Services','Manufacturing','Retail','Healthcare','Education',
                      'Telecommunications',''])[1 + (i * 7) %% 8],
               CASE WHEN i %% 11 = 0 THEN NULL ELSE 5 + (i * 7919) %% 8000 END,
               (i::bigint * 104729) %% 500000000,
               (ARRAY['US','GB','DE','FR','JP','BR','IN',''])[1 + (i * 13) %% 8],
               (ARRAY['North America','EMEA','EMEA','EMEA','APAC','Latin America','APAC',''])[1 + (i * 13) %% 8],
               %(now)s
        FROM generate_series(1::bigint, %(accounts)s::bigint) AS i
        """,
        {"now": now, "accounts": accounts},
    )
    first_account = sql("SELECT min(id) FROM leads_account")[0][0]
    sql(
        """
        INSERT INTO leads_lead (email, email_domain, first_name, last_name, job_title, seniority, department,
                                phone, budget, authority, need, timeline, source, campaign, stage, fit_score,
                                engagement_score, grade, knocked_out, completeness, created_at, updated_at,
                                account_id)
        SELECT 'lead' || i || '@' || d.dom, d.dom, 'Pat', 'Lead ' || i,
               (ARRAY['Marketing Director','VP Revenue','Software Engineer','Head of IT','Student',
                      'Sales Manager','CMO',''])[1 + (i * 31) %% 8],
               (ARRAY['c_level','vp','director','manager','individual','student',''])[1 + (i * 17) %% 7],
               (ARRAY['marketing','sales','it','engineering','executive',''])[1 + (i * 5) %% 6],
               '', (ARRAY['confirmed','planned','none',''])[1 + (i * 3) %% 4], '', '', '',
               (ARRAY['website','event','webinar','paid_search'])[1 + i %% 4], '', 'new', 0, 0, '', false, 0,
               %(now)s, %(now)s,
               CASE WHEN i %% 20 = 0 THEN NULL ELSE %(first)s + (i::bigint * 7) %% %(accounts)s END
        FROM generate_series(1::bigint, %(n)s::bigint) AS i,
             LATERAL (SELECT CASE WHEN i %% 97 = 0 THEN 'leadforge.io' WHEN i %% 13 = 0 THEN 'gmail.com'
                                  ELSE 'co' || (i %% 5000) || '.example' END AS dom) AS d
        """,
        {"now": now, "n": n, "first": first_account, "accounts": accounts},
    )
    first_lead = sql("SELECT min(id) FROM leads_lead")[0][0]
    sql(
        """
        INSERT INTO leads_activity (lead_id, kind, occurred_at, details, created_at)
        SELECT %(first)s + (j - 1) / 5, (%(kinds)s::text[])[1 + (j * 7919) %% %(nkinds)s],
               %(now)s - make_interval(secs => (j::bigint * 104729) %% (200 * 86400)), '{}', %(now)s
        FROM generate_series(1::bigint, %(count)s::bigint) AS j
        """,
        {"now": now, "first": first_lead, "count": 5 * n, "kinds": KINDS, "nkinds": len(KINDS)},
    )


# The organisation's own attributes of ``--custom`` (key, type, object, choices).
CUSTOM_ATTRIBUTES = (
    ("lead_origin", "choice", "lead", ("google", "organic", "referral", "direct")),
    ("occupation", "choice", "lead", ("student", "working", "unemployed")),
    ("topics", "multi_choice", "lead", ("ai", "data", "cloud")),
    ("time_on_site", "number", "lead", ()),
    ("visits", "number", "lead", ()),
    ("opted_out", "yes_no", "lead", ()),
    ("plan", "choice", "account", ("free", "pro", "enterprise")),
    ("partner", "yes_no", "account", ()),
)


def generate_custom() -> None:
    """Values for the custom attributes on every lead and account (some absent: unknown)."""
    from alignment import dictionary_services as data_dictionary

    for key, kind, obj, choices in CUSTOM_ATTRIBUTES:
        data_dictionary.attribute_create(
            key=key, label=key.replace("_", " ").capitalize(), type=kind, object=obj,
            choices=[{"value": c} for c in choices],
        )  # fmt: skip
    sql(
        """
        UPDATE leads_lead SET attributes = jsonb_strip_nulls(jsonb_build_object(
            'lead_origin', (ARRAY['google','organic','referral','direct',NULL])[1 + (id * 7) %% 5],
            'occupation', (ARRAY['student','working','unemployed',NULL])[1 + (id * 3) %% 4],
            'topics', (ARRAY['["ai"]','["data","cloud"]','["ai","cloud"]','[]',NULL])[1 + (id * 11) %% 5]::jsonb,
            'time_on_site', CASE WHEN id %% 6 = 0 THEN NULL ELSE to_jsonb(((id * 37) %% 1000) / 10.0) END,
            'visits', CASE WHEN id %% 7 = 0 THEN NULL ELSE to_jsonb((id * 13) %% 20) END,
            'opted_out', CASE id %% 9 WHEN 0 THEN 'true'::jsonb WHEN 1 THEN 'false'::jsonb END))
        """,
        {},
    )
    sql(
        """
        UPDATE leads_account SET attributes = jsonb_strip_nulls(jsonb_build_object(
            'plan', (ARRAY['free','pro','enterprise',NULL])[1 + id %% 4],
            'partner', CASE id %% 5 WHEN 0 THEN 'true'::jsonb WHEN 1 THEN 'false'::jsonb END))
        """,
        {},
    )


# The custom rules of version 2, and the same rules written out by hand for the floor.
CUSTOM_RULES = [
    {"id": "c1", "field": "lead_origin", "operator": "in", "values": ["google", "referral"], "points": 6},
    {"id": "c2", "field": "occupation", "operator": "not_in", "values": ["student"], "points": 4},
    {"id": "c3", "field": "topics", "operator": "has_any", "values": ["ai", "data"], "points": 5},
    {"id": "c4", "field": "time_on_site", "operator": "between", "values": [20, 80.5], "points": 3},
    {"id": "c5", "field": "visits", "operator": "gte", "values": [10], "points": 4},
    {"id": "c6", "field": "opted_out", "operator": "is_true", "values": [], "points": -15},
    {"id": "c7", "field": "plan", "operator": "in", "values": ["pro", "enterprise"], "points": 7},
    {"id": "c8", "field": "partner", "operator": "is_false", "values": [], "points": -2},
]
FLOOR_CUSTOM_FIT = """
     + CASE WHEN lower(l2.attributes ->> 'lead_origin') IN ('google','referral') THEN 6 ELSE 0 END
     + CASE WHEN l2.attributes ->> 'occupation' <> '' AND lower(l2.attributes ->> 'occupation') <> 'student'
            THEN 4 ELSE 0 END
     + CASE WHEN (l2.attributes -> 'topics') ?| array['ai','data'] THEN 5 ELSE 0 END
     + CASE WHEN (l2.attributes ->> 'time_on_site')::numeric BETWEEN 20 AND 80.5 THEN 3 ELSE 0 END
     + CASE WHEN (l2.attributes ->> 'visits')::numeric >= 10 THEN 4 ELSE 0 END
     + CASE WHEN (l2.attributes -> 'opted_out') = 'true'::jsonb THEN -15 ELSE 0 END
     + CASE WHEN lower(a.attributes ->> 'plan') IN ('pro','enterprise') THEN 7 ELSE 0 END
     + CASE WHEN (a.attributes -> 'partner') = 'false'::jsonb THEN -2 ELSE 0 END"""
# Known: present and neither "" nor [] (what completeness counts).
FLOOR_CUSTOM_KNOWN = """
           + CASE WHEN l2.attributes ? 'lead_origin' THEN 1 ELSE 0 END
           + CASE WHEN l2.attributes ? 'occupation' THEN 1 ELSE 0 END
           + CASE WHEN (l2.attributes -> 'topics') <> '[]'::jsonb THEN 1 ELSE 0 END
           + CASE WHEN l2.attributes ? 'time_on_site' THEN 1 ELSE 0 END
           + CASE WHEN l2.attributes ? 'visits' THEN 1 ELSE 0 END
           + CASE WHEN l2.attributes ? 'opted_out' THEN 1 ELSE 0 END
           + CASE WHEN a.attributes ? 'plan' THEN 1 ELSE 0 END
           + CASE WHEN a.attributes ? 'partner' THEN 1 ELSE 0 END"""


def custom_floor(statement: str) -> str:
    """A floor statement with the custom rules: eight more fit terms, fourteen fields for completeness."""
    fit_end = "THEN 5 ELSE 0 END) AS fit,"
    known_end = "+ CASE WHEN l2.job_title <> '' THEN 1 ELSE 0 END)"
    mapping = " ".join(f"WHEN {k} THEN {int(100 * k / 14 + 0.5)}" for k in range(14))
    return (
        statement.replace(fit_end, f"THEN 5 ELSE 0 END{FLOOR_CUSTOM_FIT}) AS fit,")
        .replace(known_end, f"+ CASE WHEN l2.job_title <> '' THEN 1 ELSE 0 END{FLOOR_CUSTOM_KNOWN})")
        .replace(
            "WHEN 0 THEN 0 WHEN 1 THEN 17 WHEN 2 THEN 33 WHEN 3 THEN 50 WHEN 4 THEN 67 WHEN 5 THEN 83 ELSE 100 END",
            f"{mapping} ELSE 100 END",
        )
    )


def pure_differences(version, now, sample: int = 2000) -> int:
    """Leads of a sample whose stored scores differ from the pure function's."""
    from alignment.dictionary import load_dictionary
    from leads.models import Lead
    from leads.scoring.scorer import explain

    dictionary, spec, wrong = load_dictionary(), version.spec, 0
    for lead in Lead.objects.select_related("account").order_by("id")[:sample]:
        result = explain(lead, spec, now, dictionary=dictionary)
        stored = (lead.fit_score, lead.engagement_score, lead.knocked_out, lead.completeness, lead.grade)
        wrong += stored != (result.fit, result.engagement, result.knocked_out, result.completeness, result.grade)
    return wrong


def vacuum() -> None:
    for table in ("leads_lead", "leads_activity", "leads_account", "leads_transition", "leads_assignment"):
        sql(f"VACUUM ANALYZE {table}")


STATE_COLUMNS = (
    "stage, fit_score, engagement_score, grade, knocked_out, completeness, scored_version_id, scored_at, "
    "mql_at, sla_due_at, owner_id, team_id, persona_id, updated_at"
)


def save_state() -> tuple[int, int]:
    """Remember every lead as scored by version 1 (untimed), to start each measured run from it."""
    sql("DROP TABLE IF EXISTS bench_state")
    sql(f"CREATE TABLE bench_state AS SELECT id, {STATE_COLUMNS} FROM leads_lead")
    sql("ALTER TABLE bench_state ADD PRIMARY KEY (id)")
    marks = sql(
        "SELECT (SELECT coalesce(max(id), 0) FROM leads_transition), "
        "(SELECT coalesce(max(id), 0) FROM leads_assignment)"
    )
    return marks[0]


def restore_state(marks: tuple[int, int], where: str = "TRUE") -> None:
    """Back to the version-1 state (untimed): scores, stages, owners; later transitions removed."""
    assignments = ", ".join(f"{c} = b.{c}" for c in STATE_COLUMNS.replace(" ", "").split(","))
    sql(f"UPDATE leads_lead AS l SET {assignments} FROM bench_state AS b WHERE b.id = l.id AND {where}")
    sql("DELETE FROM leads_transition WHERE id > %s", [marks[0]])
    sql("DELETE FROM leads_assignment WHERE id > %s", [marks[1]])
    vacuum()


def snapshot() -> None:
    sql("DROP TABLE IF EXISTS bench_expected")
    sql(
        "CREATE TABLE bench_expected AS SELECT id, fit_score, engagement_score, grade, knocked_out, completeness "
        "FROM leads_lead"
    )


def differences() -> int:
    return sql(
        """
        SELECT count(*) FROM leads_lead l FULL JOIN bench_expected e ON e.id = l.id
        WHERE (l.fit_score, l.engagement_score, l.grade, l.knocked_out, l.completeness)
              IS DISTINCT FROM (e.fit_score, e.engagement_score, e.grade, e.knocked_out, e.completeness)
        """
    )[0][0]


def version_2_spec() -> dict:
    """What the two leaders changed: region is worth more, pricing visits count more, a lower bar."""
    from alignment.spec import default_spec

    spec = default_spec()
    next(r for r in spec["fit_rules"] if r["id"] == "f5")["points"] = 8
    next(r for r in spec["behaviour_rules"] if r["id"] == "b3")["points"] = 15
    spec["mql_threshold"] = 55
    return spec


# Version 2 of the agreement written out by hand: fit, knock-outs, completeness, then behaviour.
FLOOR_FIT = """
    (CASE WHEN lower(a.industry) IN ('software','financial services','manufacturing','telecommunications')
          THEN 15 ELSE 0 END
     + CASE WHEN a.employees BETWEEN 200 AND 5000 THEN 15 ELSE 0 END
     + CASE WHEN a.employees <= 20 THEN -10 ELSE 0 END
     + CASE WHEN lower(l2.seniority) IN ('c_level','vp','director') THEN 10 ELSE 0 END
     + CASE WHEN lower(a.region) IN ('north america','emea') THEN 8 ELSE 0 END
     + CASE WHEN lower(l2.budget) IN ('confirmed','planned') THEN 10 ELSE 0 END
     + CASE WHEN lower(l2.job_title) LIKE '%%marketing%%' OR lower(l2.job_title) LIKE '%%revenue%%'
            THEN 5 ELSE 0 END) AS fit,
    (lower(l2.email_domain) IN ('leadforge.io','pipelinely.com') OR lower(l2.seniority) = 'student') AS ko,
    (CASE (CASE WHEN a.industry <> '' THEN 1 ELSE 0 END + CASE WHEN a.employees IS NOT NULL THEN 1 ELSE 0 END
           + CASE WHEN l2.seniority <> '' THEN 1 ELSE 0 END + CASE WHEN a.region <> '' THEN 1 ELSE 0 END
           + CASE WHEN l2.budget <> '' THEN 1 ELSE 0 END + CASE WHEN l2.job_title <> '' THEN 1 ELSE 0 END)
       WHEN 0 THEN 0 WHEN 1 THEN 17 WHEN 2 THEN 33 WHEN 3 THEN 50 WHEN 4 THEN 67 WHEN 5 THEN 83 ELSE 100 END)
      AS completeness
"""
FLOOR_ENGAGEMENT = """
      LEAST(30 * count(*) FILTER (WHERE x.kind = 'demo_request' AND x.occurred_at > %(now)s - interval '90 days'), 30)
    + LEAST(25 * count(*) FILTER (WHERE x.kind = 'contact_sales' AND x.occurred_at > %(now)s - interval '90 days'), 25)
    + LEAST(15 * count(*) FILTER (WHERE x.kind = 'pricing_page_visit'
                                   AND x.occurred_at > %(now)s - interval '60 days'), 30)
    + LEAST(20 * count(*) FILTER (WHERE x.kind = 'free_trial_signup'
                                   AND x.occurred_at > %(now)s - interval '90 days'), 20)
    + LEAST(10 * count(*) FILTER (WHERE x.kind = 'webinar_attended'
                                   AND x.occurred_at > %(now)s - interval '90 days'), 20)
    + LEAST(5 * count(*) FILTER (WHERE x.kind = 'whitepaper_download'
                                  AND x.occurred_at > %(now)s - interval '90 days'), 15)
    + LEAST(5 * count(*) FILTER (WHERE x.kind = 'case_study_download'
                                  AND x.occurred_at > %(now)s - interval '90 days'), 15)
    + LEAST(2 * count(*) FILTER (WHERE x.kind = 'email_click' AND x.occurred_at > %(now)s - interval '30 days'), 10)
    + LEAST(8 * count(*) FILTER (WHERE x.kind = 'tradeshow_scan'
                                  AND x.occurred_at > %(now)s - interval '120 days'), 16)
    + floor(LEAST(coalesce(sum(power(0.5::float8,
                  (extract(epoch FROM (%(now)s - x.occurred_at))::float8 / 86400::float8) / 14::float8))
                  FILTER (WHERE x.kind = 'web_visit' AND x.occurred_at > %(now)s - interval '30 days'), 0), 10)
            + 0.5)::int
    + GREATEST(-20 * count(*) FILTER (WHERE x.kind = 'unsubscribe'), -20)
"""
FLOOR_WHERE = """x.kind IN ('demo_request','contact_sales','pricing_page_visit','free_trial_signup','webinar_attended',
                     'whitepaper_download','case_study_download','email_click','web_visit','tradeshow_scan',
                     'unsubscribe')
      AND x.occurred_at > %(now)s - interval '365 days' AND x.occurred_at <= %(now)s"""
FLOOR_SET = """
    fit_score = f.fit, engagement_score = {engagement},
    grade = CASE WHEN f.fit >= 40 THEN 'A' WHEN f.fit >= 25 THEN 'B' WHEN f.fit >= 10 THEN 'C' ELSE 'D' END,
    knocked_out = f.ko, completeness = f.completeness, scored_version_id = %(version)s, scored_at = %(now)s
"""
# Shape 1: a correlated subquery per lead (index-only scans of (lead, kind, occurred_at)).
FLOOR_CORRELATED = f"""
UPDATE leads_lead AS l SET {FLOOR_SET.format(engagement="f.eng")}
FROM (SELECT l2.id, {FLOOR_FIT},
             coalesce((SELECT {FLOOR_ENGAGEMENT} FROM leads_activity x
                       WHERE x.lead_id = l2.id AND {FLOOR_WHERE}
                         AND (l2.recycled_at IS NULL OR x.occurred_at > l2.recycled_at)), 0) AS eng
      FROM leads_lead l2 LEFT JOIN leads_account a ON a.id = l2.account_id OFFSET 0) AS f
WHERE l.id = f.id
"""
# Shape 2: one GROUP BY over all activities, joined.
FLOOR_GROUPED = f"""
UPDATE leads_lead AS l SET {FLOOR_SET.format(engagement="coalesce(e.eng, 0)")}
FROM (SELECT l2.id, {FLOOR_FIT} FROM leads_lead l2 LEFT JOIN leads_account a ON a.id = l2.account_id) AS f
LEFT JOIN (SELECT x.lead_id, {FLOOR_ENGAGEMENT} AS eng
           FROM leads_activity x JOIN leads_lead r ON r.id = x.lead_id
           WHERE {FLOOR_WHERE} AND (r.recycled_at IS NULL OR x.occurred_at > r.recycled_at)
           GROUP BY x.lead_id) AS e ON e.lead_id = f.id
WHERE l.id = f.id
"""


def run_floor(statement: str, version_id: int, now) -> float:
    from django.db import transaction

    start = time.perf_counter()
    with transaction.atomic():
        sql("SET LOCAL jit = off")
        sql(statement, {"now": now, "version": version_id})
    return time.perf_counter() - start


def naive_loop(ids: list[int], version, now) -> float:
    """What most projects write: load each lead, score it in Python, save it (and log a stage change)."""
    from alignment.calendar import sla_due_at
    from alignment.models import Persona
    from leads.models import Lead, Transition
    from leads.scoring.scorer import explain, persona_for, stage_after

    spec = version.spec
    personas = list(Persona.objects.active())
    start = time.perf_counter()
    for lead in Lead.objects.select_related("account").filter(id__in=ids).iterator(chunk_size=2000):
        lead.persona_id = persona_for(lead.job_title, lead.seniority, lead.department, personas)
        result = explain(lead, spec, now)
        stage = stage_after(lead, result, version_id=version.id, now=now)
        lead.fit_score, lead.engagement_score, lead.grade = result.fit, result.engagement, result.grade
        lead.knocked_out, lead.completeness = result.knocked_out, result.completeness
        lead.scored_version, lead.scored_at = version, now
        fields = ["persona", "fit_score", "engagement_score", "grade", "knocked_out", "completeness"]
        fields += ["scored_version", "scored_at"]
        if stage != lead.stage:
            Transition.objects.create(
                lead=lead, from_stage=lead.stage, to_stage=stage, at=now, agreement_version=version,
                score=result.total, grade=result.grade,
            )  # fmt: skip
            if stage == "mql":
                lead.mql_at, lead.sla_due_at = now, sla_due_at(spec, now, result.grade)
                fields += ["mql_at", "sla_due_at"]
            lead.stage = stage
            fields.append("stage")
        lead.save(update_fields=fields)
    return time.perf_counter() - start


def batch_candidates(threshold: int, count: int, now, exclude: list[int]) -> list[int]:
    """New leads 1–29 points under the threshold with no demo request in the window: +30 makes them MQLs."""
    rows = sql(
        """
        SELECT l.id FROM leads_lead l
        WHERE l.stage = 'new' AND NOT l.knocked_out AND l.score BETWEEN %(low)s AND %(high)s
          AND NOT (l.id = ANY(%(exclude)s))
          AND NOT EXISTS (SELECT 1 FROM leads_activity x WHERE x.lead_id = l.id AND x.kind = 'demo_request'
                          AND x.occurred_at > %(now)s - interval '90 days')
        ORDER BY l.id LIMIT %(count)s
        """,
        {"low": threshold - 29, "high": threshold - 1, "count": count, "now": now, "exclude": exclude},
    )
    return [r[0] for r in rows]


def activity_batch(ids: list[int], *, wait_for_worker: bool, timeout: float = 60.0) -> float:
    """Commit one activity per lead the way intake does, then wait until all are MQLs in the inbox."""
    from django.db import transaction
    from django.utils import timezone

    from leads.models import Activity, Lead
    from leads.scoring.rescoring import rescore_leads_later

    start = time.perf_counter()
    with transaction.atomic():
        at = timezone.now()
        Activity.objects.bulk_create(Activity(lead_id=i, kind="demo_request", occurred_at=at) for i in ids)
        rescore_leads_later(ids)
    deadline = start + timeout
    # The poll looks the leads up by primary key (a few ms), so that it does not compete for the
    # two cores with the work it waits for (``id IN (…)`` with stage = 'mql' walked the whole MQL
    # index: 26–54 ms a poll).
    poll = (
        f"SELECT count(*) FROM unnest(%s::bigint[]) AS t(id) JOIN {Lead._meta.db_table} AS l ON l.id = t.id"
        " WHERE l.stage = 'mql'"
    )
    while sql(poll, [list(ids)])[0][0] < len(ids):
        if not wait_for_worker or time.perf_counter() > deadline:
            return float("nan")
        time.sleep(0.02)
    return time.perf_counter() - start


def settle() -> float:
    """Let the database catch up with a full rewrite (dead rows vacuumed, statistics and dirty pages
    written), as autovacuum and the checkpointer do on their own in the minutes that follow."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) leads_lead, leads_activity, leads_transition")
        cursor.execute("CHECKPOINT")
    return time.perf_counter() - start


def start_worker(env: dict, concurrency: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", f"--concurrency={concurrency}", "--loglevel=WARNING",
         "--without-gossip", "--without-mingle", "-n", f"bench-rescore-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    from portal.celery import app

    for _ in range(120):
        if app.control.ping(timeout=0.5):
            return proc
        if proc.poll() is not None:
            break
    proc.terminate()
    sys.exit("the Celery worker did not come up")


def wait_for_job(job_id_before: int, timeout: float = 3600.0):
    from leads.models import RescoreJob

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        job = RescoreJob.objects.filter(id__gt=job_id_before).order_by("-id").first()
        if job and job.status not in (RescoreJob.Status.QUEUED, RescoreJob.Status.RUNNING):
            return job
        time.sleep(0.02)
    sys.exit("the worker did not finish the rescore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--custom", action="store_true", help="add 8 rules on the organisation's own attributes")
    parser.add_argument("--naive-sample", type=int, default=NAIVE_SAMPLE, help="leads in the naive loop's sample")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=os.cpu_count() or 1,
        help="the worker's processes (default: Celery's own default, one per core)",
    )
    args = parser.parse_args()
    n = args.leads
    url = os.environ.get("DATABASE_URL", "")
    admin_url, bench_url, bench_name = scratch_url(url, "bench_rescore")
    redis_url = os.environ.get("REDIS_URL", "")
    recreate_database(admin_url, bench_name)
    os.environ.update(DATABASE_URL=bench_url, CELERY_EAGER="1", DJANGO_SETTINGS_MODULE="portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from alignment.models import AgreementVersion
    from alignment.spec import default_spec
    from leads import tasks
    from leads.models import Lead, RescoreJob, Team, TeamMember, Transition
    from portal.access import Role

    try:
        call_command("migrate", verbosity=0)
        log(
            f"== bench/rescore.py --leads {n:,}{' --custom' if args.custom else ''} "
            f"(scratch database {bench_name}; load {os.getloadavg()[0]:.1f})"
        )
        now = timezone.now()
        as_of = now.isoformat()
        start = time.perf_counter()
        generate(n, now)
        if args.custom:
            generate_custom()
        vacuum()
        log(f"generate: {n:,} leads, {5 * n:,} activities in {time.perf_counter() - start:.1f} s")
        team = Team.objects.create(name="Inside Sales")
        sdrs = Group.objects.get(name=Role.SDR.value)
        for i in range(5):
            user = User.objects.create(username=f"sdr{i}")
            user.groups.add(sdrs)
            TeamMember.objects.create(team=team, user=user, capacity=50)

        # Version 1 scores the freshly imported leads (every qualifying lead moves: the heavy case).
        v1 = AgreementVersion.objects.create(number=1, status="active", spec=default_spec(), published_at=now)
        start = time.perf_counter()
        tasks.rescore_all.delay(v1.id, RescoreJob.Trigger.MANUAL, as_of)
        first_s = time.perf_counter() - start
        log(
            f"first scoring of unscored leads (version 1): {first_s:.2f} s = {n / first_s:,.0f} leads/s; "
            f"{Lead.objects.filter(stage='mql').count():,} MQLs, {Transition.objects.count():,} transitions"
        )
        # Version 2 is published: from here on every run starts from the version-1 state.
        v1.status = AgreementVersion.Status.RETIRED
        v1.save()
        spec = version_2_spec()
        if args.custom:
            spec["fit_rules"] += CUSTOM_RULES
        version = AgreementVersion.objects.create(number=2, status="active", spec=spec, published_at=now)
        threshold = version.spec["mql_threshold"]
        vacuum()
        marks = save_state()

        # (1) Accord, eager: the real code path, chunk after chunk in this process.
        restore_state(marks)  # every measured run starts from the same rewritten rows
        before = Transition.objects.count()
        start = time.perf_counter()
        job = RescoreJob.objects.get(pk=tasks.rescore_all.delay(version.id, RescoreJob.Trigger.PUBLISH, as_of).get())
        eager_s = time.perf_counter() - start
        log(
            f"accord, eager ({job.total_chunks} chunks of {settings.ACCORD_RESCORE_CHUNK:,} ids): {eager_s:.2f} s"
            f" = {n / eager_s:,.0f} leads/s; {Transition.objects.count() - before:,} stage changes"
        )
        snapshot()
        pure_wrong = pure_differences(version, now)
        log(f"pure function on a sample of 2,000 leads: {pure_wrong} differ")

        # (2) The floor: one hand-written UPDATE, same spec, same data, same starting state.
        floors = {}
        for label, statement in (("correlated subquery", FLOOR_CORRELATED), ("GROUP BY join", FLOOR_GROUPED)):
            statement = custom_floor(statement) if args.custom else statement
            restore_state(marks)
            floors[label] = run_floor(statement, version.id, now)
            same = differences() == 0
            log(f"floor, hand-written SQL ({label}): {floors[label]:.2f} s = {n / floors[label]:,.0f} leads/s"
                f"; scores equal: {same}")  # fmt: skip
            if not same:
                log(f"  {differences():,} leads differ")
        floor_s = min(floors.values())
        scores_equal = differences() == 0

        # (1b) Accord with one real worker.
        worker_s = batch_worker_s = batch_settled_s = None
        if redis_url:
            from portal.celery import app

            restore_state(marks)
            env = {**os.environ, "CELERY_EAGER": "0", "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"}
            app.control.purge()
            worker = start_worker(env, args.concurrency)
            app.conf.task_always_eager = False
            try:
                last = RescoreJob.objects.order_by("-id").values_list("id", flat=True).first() or 0
                start = time.perf_counter()
                tasks.rescore_all.delay(version.id, RescoreJob.Trigger.PUBLISH, as_of)
                job = wait_for_job(last)
                worker_s = time.perf_counter() - start
                same = differences() == 0 and job.status == RescoreJob.Status.DONE
                scores_equal = scores_equal and same
                log(f"accord, 1 worker ({args.concurrency} processes): {worker_s:.2f} s = {n / worker_s:,.0f} leads/s "
                    f"(ratio to floor {worker_s / floor_s:.2f}); scores equal: {same}")  # fmt: skip
                ids = batch_candidates(threshold, BATCH, timezone.now(), [])
                batch_worker_s = activity_batch(ids, wait_for_worker=True)
                log(f"batch, worker: {len(ids):,} activities → {len(ids):,} new MQLs in the inbox after "
                    f"{batch_worker_s:.2f} s (seconds after the full rescore rewrote every lead)")  # fmt: skip
                # The same once the database has caught up with that rewrite (what autovacuum and
                # the checkpointer would do in the minutes after a publish): a batch's usual case.
                settle_s = settle()
                ids = batch_candidates(threshold, BATCH, timezone.now(), [])
                batch_settled_s = activity_batch(ids, wait_for_worker=True)
                log(f"batch, worker, settled (VACUUM ANALYZE + CHECKPOINT first, {settle_s:.1f} s): {len(ids):,} "
                    f"activities → {len(ids):,} new MQLs in the inbox after {batch_settled_s:.2f} s")  # fmt: skip
            finally:
                app.conf.task_always_eager = True
                worker.terminate()
                worker.wait(timeout=30)
        else:
            log("accord, 1 worker: skipped (set REDIS_URL to measure with a real worker)")

        # (4) A 1,000-activity batch in eager mode (the web process rescores on commit).
        ids = batch_candidates(threshold, BATCH, timezone.now(), [])
        batch_s = activity_batch(ids, wait_for_worker=False)
        log(f"batch, eager: {len(ids):,} activities → {len(ids):,} new MQLs in the inbox after {batch_s:.2f} s")

        # (3) The naive loop on a sample (from the version-1 state), extrapolated.
        sample = list(Lead.objects.order_by("id").values_list("id", flat=True)[: args.naive_sample])
        restore_state(marks, f"l.id <= {sample[-1]}")
        naive_s = naive_loop(sample, version, now)
        naive_rate = len(sample) / naive_s
        log(f"naive per-lead ORM loop: {len(sample):,} leads in {naive_s:.1f} s = {naive_rate:,.0f} leads/s"
            f" → {n:,} would take {n / naive_rate:,.0f} s")  # fmt: skip
        # What a user waits for after publishing is the worker's run (Celery's default: one process
        # per core, each chunk its own transaction); eager mode (no broker) runs the chunks one by one.
        accord_s = worker_s if worker_s is not None else eager_s
        ratio = accord_s / floor_s
        speedup = (n / naive_rate) / accord_s
        label = f"1 worker × {args.concurrency}" if worker_s is not None else "eager"
        log(f"accord ({label}): ratio to floor {ratio:.2f} (target ≤ 1.5); speedup vs naive: {speedup:,.0f}× "
            f"(target ≥ 100); eager: ratio {eager_s / floor_s:.2f}, {(n / naive_rate) / eager_s:,.0f}×")  # fmt: skip
        print(
            json.dumps(
                {
                    "leads": n,
                    "accord_s": round(accord_s, 3),
                    "sql_floor_s": round(floor_s, 3),
                    "ratio_to_floor": round(ratio, 3),
                    "naive_leads_per_s": round(naive_rate, 1),
                    "speedup_vs_naive": round(speedup, 1),
                    "scores_equal": scores_equal,
                    "custom_rules": len(CUSTOM_RULES) if args.custom else 0,
                    "pure_sample_differences": pure_wrong,
                    "accord_eager_s": round(eager_s, 3),
                    "worker_processes": args.concurrency if worker_s is not None else 0,
                    "batch_worker_s": None if batch_worker_s is None else round(batch_worker_s, 3),
                    "batch_worker_settled_s": None if batch_settled_s is None else round(batch_settled_s, 3),
                    "batch_eager_s": round(batch_s, 3),
                }
            ),
            flush=True,
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(admin_url, bench_name, drop_only=True)


if __name__ == "__main__":
    main()
