"""SLA benchmark: dashboard server time and one week's report for a large organisation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accord .venv/bin/python bench/sla.py --leads 1000000

Uses its own database ``accord_sla_bench`` on the server named by DATABASE_URL (created and
migrated when missing; data is generated once with ``generate_series`` and reused while the lead
count matches). Each lead gets new → MQL → first action (accepted / rejected / recycled /
disqualified, 1 % left open), and 10 % of SALs move on to SQL: about three transitions per lead,
spread over two years ending now. Then it brings the SLA pass table and daily roll-up up to date the
way ``make run`` does after seeding (``sla_refresh``; ``--rebuild-figures`` times a build from
scratch) and times the dashboard with an empty figures cache (every trend week's percentiles
computed) and warm (finished weeks' percentiles cached), and one week's report. Prints figures and
ends with one JSON line: ``{"leads": N, "transitions": M, "dashboard_ms": …, "report_s": …}``
(``dashboard_ms`` is the cold-cache median, the honest worst case of a steady request).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "accord_sla_bench"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def bench_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/accord")
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        sys.exit("bench/sla.py needs PostgreSQL: set DATABASE_URL=postgres://…")
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def ensure_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    admin.close()


GENERATE = """
SELECT setseed(0.42);
TRUNCATE leads_lead, leads_transition, sla_alert, sla_notification, sla_weeklyreport, sla_pass, sla_dirtylead,
         sla_passstate RESTART IDENTITY CASCADE;
-- Leads: created over the last 730 days, one team, owners spread over the SDRs.
INSERT INTO leads_lead (email, email_domain, first_name, last_name, job_title, seniority, department, phone,
                        budget, authority, need, timeline, source, campaign, stage, fit_score, engagement_score,
                        grade, knocked_out, completeness, created_at, updated_at, team_id, owner_id)
SELECT 'lead' || g || '@bench.example', 'bench.example', 'Lead', 'No ' || g, 'Marketing Director', 'director',
       'marketing', '', '', '', '', '',
       (ARRAY['website','paid_search','event','webinar','referral'])[1 + g %% 5], '', 'new',
       20 + g %% 30, 40 + g %% 20, (ARRAY['A','B','C','D'])[1 + (g * 7) %% 4], false, 80,
       now() - make_interval(secs => (%(n)s - g)::float8 / %(n)s * 730 * 86400 + 3600),
       now(), %(team)s, (%(sdrs)s::bigint[])[1 + g %% array_length(%(sdrs)s::bigint[], 1)]
FROM generate_series(1, %(n)s) AS g;

CREATE TEMP TABLE bench_plan AS
SELECT l.id AS lead_id, l.owner_id, l.grade, l.created_at AS new_at,
       l.created_at + make_interval(secs => 3600 + random() * 3 * 86400) AS mql_at,
       random() AS outcome, random() * 30 * 3600 AS delay, random() AS onward
FROM leads_lead l;

INSERT INTO leads_transition (lead_id, from_stage, to_stage, at, reason_code, note, grade, owner_id, actor_id,
                              agreement_version_id)
SELECT lead_id, '', 'new', new_at, '', '', '', NULL::bigint, NULL::bigint, %(version)s FROM bench_plan
UNION ALL
SELECT lead_id, 'new', 'mql', mql_at, '', '', grade, owner_id, NULL::bigint, %(version)s FROM bench_plan
UNION ALL
SELECT lead_id, 'mql',
       CASE WHEN outcome < 0.62 THEN 'sal' WHEN outcome < 0.80 THEN 'rejected'
            WHEN outcome < 0.95 THEN 'nurture' ELSE 'disqualified' END,
       mql_at + make_interval(secs => delay),
       CASE WHEN outcome < 0.62 THEN '' WHEN outcome < 0.80
            THEN (ARRAY['bad_fit','bad_data','no_intent','existing_customer','duplicate'])[1 + (lead_id %% 5)]
            WHEN outcome < 0.95 THEN (ARRAY['no_budget','bad_timing','no_response','too_early'])[1 + (lead_id %% 4)]
            ELSE '' END,
       '', '', owner_id, owner_id, %(version)s
FROM bench_plan WHERE outcome < 0.99 AND mql_at + make_interval(secs => delay) < now()
UNION ALL
SELECT lead_id, 'sal', 'sql', mql_at + make_interval(secs => delay + 4 * 86400), '', '', '', owner_id, owner_id,
       %(version)s
FROM bench_plan WHERE outcome < 0.62 AND onward < 0.16 AND mql_at + make_interval(secs => delay + 4 * 86400) < now();

UPDATE leads_lead l SET stage = t.to_stage
FROM (SELECT DISTINCT ON (lead_id) lead_id, to_stage FROM leads_transition ORDER BY lead_id, at DESC, id DESC) t
WHERE t.lead_id = l.id;
DROP TABLE bench_plan;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed dashboard requests (median reported)")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the data even if the count matches")
    parser.add_argument(
        "--rebuild-figures", action="store_true", help="time building the pass table and roll-up from scratch"
    )
    args = parser.parse_args()

    url = bench_url()
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["CELERY_EAGER"] = "1"
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from alignment.models import AgreementVersion
    from leads.models import Lead, Team, TeamMember, Transition
    from portal.access import Role
    from sla import services

    setup_test_environment()  # locmem e-mail, test client allowed hosts
    call_command("migrate", verbosity=0)
    version = AgreementVersion.objects.filter(status="active").first() or AgreementVersion.objects.create(
        number=1, status="active", published_at=timezone.now()
    )
    manager, _ = User.objects.get_or_create(username="bench-manager", defaults={"email": "manager@bench.example"})
    manager.groups.add(Group.objects.get(name=Role.MANAGER.value))
    team, _ = Team.objects.get_or_create(name="Bench Team", defaults={"manager": manager})
    sdrs = []
    for i in range(20):
        user, _ = User.objects.get_or_create(username=f"bench-sdr{i}", defaults={"email": f"sdr{i}@bench.example"})
        user.groups.add(Group.objects.get(name=Role.SDR.value))
        TeamMember.objects.get_or_create(user=user, defaults={"team": team})
        sdrs.append(user.pk)

    leads = Lead.objects.count()
    if args.regenerate or leads != args.leads:
        print(f"Generating {args.leads:,} leads and their transitions …", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(GENERATE, {"n": args.leads, "team": team.pk, "sdrs": sdrs, "version": version.pk})
            cursor.execute("ANALYZE leads_lead")
            cursor.execute("ANALYZE leads_transition")
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    leads = Lead.objects.count()
    transitions = Transition.objects.count()
    print(f"{leads:,} leads, {transitions:,} transitions")

    started = time.perf_counter()
    built = services.figures_refresh(rebuild=args.rebuild_figures)
    what = "built from scratch" if built < 0 else f"caught up ({built:,} changed leads)"
    print(f"sla_refresh: pass table and daily roll-up {what} in {time.perf_counter() - started:.1f} s", flush=True)

    client = Client()
    client.force_login(manager)
    started = time.perf_counter()
    first = client.get("/sla/")
    assert first.status_code == 200, first.status_code
    print(f"first dashboard request: {time.perf_counter() - started:.3f} s")

    def timed(runs: int, *, cold: bool) -> list[float]:
        out = []
        for _ in range(runs):
            if cold:
                cache.clear()
            started = time.perf_counter()
            response = client.get("/sla/")
            out.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        return out, response

    cold, _ = timed(args.runs, cold=True)
    warm, response = timed(args.runs, cold=False)
    dashboard_ms = statistics.median(cold)
    f = response.context["f"]
    print(
        f"dashboard (last 28 days, 12-week trends), {f['mql']['delivered']:,} MQLs in range, "
        f"{sum(w['mqls'] for w in f['trends']):,} in the trend weeks:\n"
        f"  empty figures cache: median {dashboard_ms:.0f} ms over {args.runs} runs "
        f"(min {min(cold):.0f}, max {max(cold):.0f})\n"
        f"  finished weeks cached: median {statistics.median(warm):.0f} ms (min {min(warm):.0f}, max {max(warm):.0f})"
    )

    import zoneinfo

    year, week = services.previous_iso_week(now=timezone.now(), tz=zoneinfo.ZoneInfo(team.time_zone))
    report_timings = []
    for _ in range(3):
        cache.clear()  # a report is generated once a week: time it without cached weeks
        started = time.perf_counter()
        report = services.report_generate(
            team_id=team.pk,
            iso_year=year,
            iso_week=week,
        )
        services.report_send(report_id=report.pk)
        report_timings.append(time.perf_counter() - started)
    report_s = statistics.median(report_timings)
    print(
        f"weekly report {year}-W{week:02d} (snapshot + HTML/CSV e-mail, empty figures cache): median {report_s:.3f} s "
        f"(min {min(report_timings):.3f}, max {max(report_timings):.3f}); "
        f"{report.figures['mql']['delivered']:,} MQLs that week"
    )
    print(
        json.dumps(
            {
                "leads": leads,
                "transitions": transitions,
                "dashboard_ms": round(dashboard_ms, 1),
                "report_s": round(report_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
