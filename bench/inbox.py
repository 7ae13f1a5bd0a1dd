#!/usr/bin/env python
"""Benchmark: the first inbox page under load, against a real gunicorn server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accord_inbox .venv/bin/python bench/inbox.py --leads 1000000

Works in a scratch database next to DATABASE_URL's (``<name>_bench``, created fresh and dropped
at the end unless ``--keep``; ``--reuse`` keeps an existing one and skips generation), so it never
touches real data. Generates N leads (10 % open MQLs, 20 SDRs holding 50 each, the rest
unassigned), their accounts and activities with ``generate_series``, starts gunicorn (DEBUG off,
so Django's cached template loader is on), logs 20 SDRs in, first times one SDR alone loading
the page (``--solo`` loads), then has the 20 load their first inbox page at the same time, round
after round — half the "Mine" tab (where an SDR lands), half "Unassigned" (the 99 % of the queue).
Server time is gunicorn's own per-request time (``%(D)s`` in the access log: from the parsed
request to the last byte written, queueing in the listen backlog excluded); client latency,
queueing included, is printed too. Prints figures and ends with one JSON line; it asserts nothing
about time.

Workers: 2 sync workers by default, one per core of the 2-core box this project is measured on.
The page is CPU-bound (its SQL takes ~2 ms of a request), so a third or fourth worker adds no
throughput: it only time-slices the same two cores, and every request's server time stretches
with it (gunicorn's "2 × cores + 1" rule is for workers that wait on I/O). Threads (``gthread``)
would share one GIL per process the same way. ``--workers 4`` shows that trade-off.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scratch import recreate_database as recreate  # noqa: E402 - after the path insert
from bench.scratch import sql  # noqa: E402

SDRS = 20
OWNED_PER_SDR = 50
BENCH_KEY = "bench-only-not-a-secret"


def log(message: str) -> None:
    print(message, flush=True)


def scratch(url: str) -> tuple[str, str, str]:
    """(admin url, scratch url, scratch name) on the PostgreSQL server of ``url``."""
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("bench/inbox.py needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/name")
    name = parts.path.lstrip("/")
    name = name if name.endswith("_bench") else f"{name}_bench"
    return parts._replace(path="/postgres").geturl(), parts._replace(path=f"/{name}").geturl(), name


def database_exists(admin_url: str, name: str) -> bool:
    import psycopg2

    conn = psycopg2.connect(admin_url)
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        found = cur.fetchone() is not None
    conn.close()
    return found


def generate(n: int) -> list[int]:
    """People, one team, the active agreement, then accounts, leads and activities in SQL."""
    from django.contrib.auth.models import Group, User

    from alignment import spec as vocab
    from alignment.models import AgreementVersion, Persona
    from leads.models import Team, TeamMember
    from portal.access import Role

    sdr_group = Group.objects.get(name=Role.SDR.value)
    team = Team.objects.create(name="Inside Sales", routing=Team.Routing.PULL)
    sdr_ids = []
    for i in range(1, SDRS + 1):
        user = User.objects.create_user(f"sdr{i}", f"sdr{i}@bench.example", "bench", first_name="SDR", last_name=str(i))
        user.groups.add(sdr_group)
        TeamMember.objects.create(team=team, user=user, capacity=OWNED_PER_SDR * 2)
        sdr_ids.append(user.id)
    version = AgreementVersion.objects.create(number=1, status="active", spec=vocab.default_spec())
    personas = [
        Persona.objects.create(name=name, title_keywords=[kw], seniorities=["director", "vp"])
        for name, kw in (("Demand-gen leader", "marketing"), ("Revenue operations", "revenue"), ("IT buyer", "it"))
    ]

    accounts = max(1, n // 8)
    industries = "ARRAY[" + ",".join(f"'{i}'" for i in vocab.INDUSTRIES) + "]"
    countries = list(vocab.COUNTRIES.items())
    codes = "ARRAY[" + ",".join(f"'{c}'" for c, _ in countries) + "]"
    regions = "ARRAY[" + ",".join(f"'{r}'" for _, (_, r) in countries) + "]"
    started = time.perf_counter()
    sql(
        f"""
        INSERT INTO leads_account (domain, name, industry, employees, annual_revenue, country, region, created_at)
        SELECT 'acct' || g || '.example', 'Account ' || g,
               ({industries})[1 + g % {len(vocab.INDUSTRIES)}],
               10 + (g * 7919) % 20000, 1000000 + (g::bigint * 104729) % 900000000,
               ({codes})[1 + g % {len(countries)}], ({regions})[1 + g % {len(countries)}], now()
        FROM generate_series(1, {accounts}) g
        """
    )
    first_account = sql("SELECT min(id) FROM leads_account")[0][0]
    sdr_array = "ARRAY[" + ",".join(str(i) for i in sdr_ids) + "]"
    persona_array = "ARRAY[" + ",".join(str(p.id) for p in personas) + "]"
    owned = SDRS * OWNED_PER_SDR
    team, version = team.id, version.id  # every value below is an integer we made: safe to inline
    # Every 10th lead is an open MQL; the first 1,000 of them belong to the SDRs, the rest wait
    # unassigned. SLA due times spread over three days around now, some already overdue.
    sql(
        f"""
        INSERT INTO leads_lead (
            email, email_domain, first_name, last_name, job_title, seniority, department, phone,
            account_id, persona_id, budget, authority, need, timeline, source, campaign, stage, team_id,
            owner_id, fit_score, engagement_score, grade, knocked_out, completeness, scored_version_id,
            scored_at, mql_at, sla_due_at, created_at, updated_at)
        SELECT 'lead' || g || '@acct' || (1 + g % {accounts}) || '.example',
               'acct' || (1 + g % {accounts}) || '.example',
               'First' || g, 'Last' || g,
               (ARRAY['Marketing Director', 'VP Revenue', 'IT Manager', 'Analyst', 'CMO'])[1 + g % 5],
               (ARRAY['director', 'vp', 'manager', 'individual', 'c_level'])[1 + g % 5],
               (ARRAY['marketing', 'sales', 'it', 'finance'])[1 + g % 4], '',
               {first_account} + g % {accounts},
               CASE WHEN g % 3 = 0 THEN NULL ELSE ({persona_array})[1 + g % {len(personas)}] END,
               (ARRAY['', 'confirmed', 'planned', 'none'])[1 + g % 4], '', '', '',
               (ARRAY['website', 'webinar', 'event', 'paid_search', 'referral'])[1 + g % 5], '',
               CASE WHEN g % 10 = 0 THEN 'mql'
                    ELSE (ARRAY['new', 'nurture', 'sal', 'sql', 'won', 'lost', 'rejected',
                                'disqualified'])[1 + (g / 10) % 8]
               END,
               {team},
               CASE WHEN g % 10 = 0 AND g / 10 <= {owned} THEN ({sdr_array})[1 + (g / 10) % {SDRS}]
                    WHEN g % 10 <> 0 AND (g / 10) % 8 IN (2, 3) THEN ({sdr_array})[1 + g % {SDRS}]
               END,
               (g * 31) % 61, 20 + (g * 17) % 50,
               (ARRAY['A', 'B', 'C', 'D'])[1 + g % 4], false, 40 + g % 61, {version}, now(),
               CASE WHEN g % 10 = 0 THEN now() - make_interval(mins => 600 + (g * 37) % 2880) END,
               CASE WHEN g % 10 = 0 THEN now() + make_interval(mins => (g * 37) % 4320 - 1440) END,
               now() - make_interval(days => g % 365), now()
        FROM generate_series(1, {n}) g
        """,
    )
    kinds = (
        "ARRAY['demo_request', 'pricing_page_visit', 'webinar_attended', 'email_click', 'web_visit', "
        "'whitepaper_download']"
    )
    sql(
        f"""
        INSERT INTO leads_activity (lead_id, kind, occurred_at, details, created_at)
        SELECT l.id, ({kinds})[1 + (l.id + k) % 6], now() - make_interval(hours => ((l.id * k * 13) % 1800)::int),
               '{{}}', now()
        FROM leads_lead l CROSS JOIN generate_series(1, CASE WHEN l.stage = 'mql' THEN 3 ELSE 1 END) k
        """
    )
    log(f"  generated {n:,} leads, {accounts:,} accounts, activities in {time.perf_counter() - started:.1f} s")
    sql("VACUUM ANALYZE")
    return sdr_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "DEBUG": "0",
        "SECRET_KEY": BENCH_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CELERY_EAGER": "1",
        "LOG_LEVEL": "WARNING",
        "EMAIL_URL": "console://",
    }


def start_server(db_url: str, port: int, workers: int, access_log: str) -> subprocess.Popen:
    env = server_env(db_url)
    # Production settings (DEBUG off) except the static-file storage: the page's HTML is measured,
    # not the assets, and plain storage needs no collectstatic run into the shared checkout.
    settings_dir = tempfile.mkdtemp(prefix="inbox-bench-settings-")
    Path(settings_dir, "inbox_bench_settings.py").write_text(
        "from portal.settings import *  # noqa: F403\n"
        'STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}\n'
    )
    env.update(PYTHONPATH=f"{settings_dir}:{ROOT}", DJANGO_SETTINGS_MODULE="inbox_bench_settings")
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            access_log,
            "--access-logformat",
            "%(U)s %(q)s %(s)s %(D)s",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("gunicorn did not start")


def sessions_for(user_ids: list[int]) -> list[str]:
    """A real session (as after logging in) for each SDR."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    cookies = []
    for user in get_user_model().objects.filter(id__in=user_ids).order_by("id"):
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies["sessionid"].value)
    return cookies


def queries_per_page(user_id: int) -> dict[str, int]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(id=user_id))
    counts = {}
    for tab in ("mine", "unassigned"):
        client.get(f"/leads/inbox/?tab={tab}")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/leads/inbox/?tab={tab}")
        assert response.status_code == 200, response.status_code
        counts[tab] = len(ctx)
    return counts


def solo(port: int, cookie: str, loads: int) -> None:
    """One SDR alone loads the Unassigned page ``loads`` times in a row (the first is a warm-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for n in range(loads):
        conn.request(
            "GET",
            f"/leads/inbox/?tab=unassigned&solo={n}",
            headers={"Cookie": f"sessionid={cookie}", "X-Forwarded-Proto": "https"},
        )
        conn.getresponse().read()


def drive(port: int, cookies: list[str], rounds: int) -> list[tuple[str, float, int]]:
    """Each user loads its first page ``rounds`` times; every round starts together (barrier)."""
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(cookies))

    def user(index: int, cookie: str) -> None:
        tab = "mine" if index % 2 == 0 else "unassigned"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for r in range(rounds):
            barrier.wait()
            started = time.perf_counter()
            # As behind the TLS-terminating proxy of a production deployment (DEBUG off redirects to https).
            headers = {"Cookie": f"sessionid={cookie}", "X-Forwarded-Proto": "https"}
            conn.request("GET", f"/leads/inbox/?tab={tab}&round={r}", headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                results.append((tab, elapsed, response.status if b"inbox-row" in body else -response.status))

    threads = [threading.Thread(target=user, args=(i, c)) for i, c in enumerate(cookies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def server_times(access_log: str) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"mine": [], "unassigned": [], "solo": []}
    for line in Path(access_log).read_text().splitlines():
        parts = line.split()
        if len(parts) != 4 or parts[0] != "/leads/inbox/" or parts[2] != "200":
            continue
        query = parts[1]
        if "solo=" in query and not query.endswith("solo=0"):
            times["solo"].append(int(parts[3]) / 1000)  # microseconds → ms
        elif "round=" in query and not query.endswith("round=0"):
            times["mine" if "tab=mine" in query else "unassigned"].append(int(parts[3]) / 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=50, help="page loads per user (the first is a warm-up)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default: one per core)")
    parser.add_argument("--solo", type=int, default=30, help="page loads by one SDR alone, before the load test")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="reuse an existing scratch database as is")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    admin_url, bench_url, name = scratch(url)
    reuse = args.reuse and database_exists(admin_url, name)
    log(f"inbox benchmark: {args.leads:,} leads in {name} ({'reused' if reuse else 'fresh'}), {SDRS} users")
    log("  load average at the start: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if not reuse:
        recreate(admin_url, name)
    # The server and this process share the key, so sessions made here are valid there.
    os.environ.update(
        DATABASE_URL=bench_url, CELERY_EAGER="1", DJANGO_SETTINGS_MODULE="portal.settings", SECRET_KEY=BENCH_KEY
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from leads.models import Lead

    started = time.perf_counter()
    if not reuse:
        call_command("migrate", verbosity=0)
        sdr_ids = generate(args.leads)
    else:
        sdr_ids = list(get_user_model().objects.filter(username__startswith="sdr").values_list("id", flat=True))
    total = Lead.objects.count()
    mqls = Lead.objects.filter(stage="mql").count()
    log(f"  data ready: {total:,} leads, {mqls:,} open MQLs ({time.perf_counter() - started:.1f} s)")

    queries = queries_per_page(sdr_ids[0])
    log(f"  queries per page: mine {queries['mine']}, unassigned {queries['unassigned']}")
    cookies = sessions_for(sdr_ids)

    with tempfile.NamedTemporaryFile(prefix="inbox-bench-", suffix=".log", delete=False) as handle:
        access_log = handle.name
    port = free_port()
    server = start_server(bench_url, port, args.workers, access_log)
    try:
        solo(port, cookies[1], args.solo)
        wall = time.perf_counter()
        results = drive(port, cookies, args.rounds)
        wall = time.perf_counter() - wall
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    bad = [r for r in results if r[2] != 200]
    if bad:
        log(f"  WARNING: {len(bad)} responses were not a full inbox page (status {bad[0][2]})")
    measured = [r for r in results if r[2] == 200]
    client_ms = [ms for _, ms, _ in measured[SDRS:]]
    times = server_times(access_log)
    everything = times["mine"] + times["unassigned"]
    if times["solo"]:
        alone = times["solo"]
        log(f"  server time, one SDR alone (Unassigned): p50 {pct(alone, 50):.1f} ms, p95 {pct(alone, 95):.1f} ms")
    log(f"  gunicorn: {args.workers} sync workers; load average now: {os.getloadavg()[0]:.2f}")
    log(f"  {len(results):,} page loads by {SDRS} concurrent users in {wall:.1f} s ({len(results) / wall:.0f} pages/s)")
    for tab in ("mine", "unassigned"):
        if times[tab]:
            log(f"  server time {tab:>10}: p50 {pct(times[tab], 50):.1f} ms, p95 {pct(times[tab], 95):.1f} ms")
    log(f"  server time        all: p50 {pct(everything, 50):.1f} ms, p95 {pct(everything, 95):.1f} ms")
    p50, p95 = pct(client_ms, 50), pct(client_ms, 95)
    log(f"  client latency     all: p50 {p50:.1f} ms, p95 {p95:.1f} ms (queueing included)")
    Path(access_log).unlink(missing_ok=True)

    from django.db import connections

    connections.close_all()
    if not args.keep:
        recreate(admin_url, name, drop_only=True)
    print(
        json.dumps(
            {
                "leads": total,
                "p50_ms": round(pct(everything, 50), 1),
                "p95_ms": round(pct(everything, 95), 1),
                "queries_per_page": max(queries.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
