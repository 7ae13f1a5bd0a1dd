"""Benchmark of intake: CSV rows/s through the importer and activities/s through the batch API.

Usage: DATABASE_URL=postgres://… [REDIS_URL=redis://…] python bench/ingest.py [--csv-rows 100000] [--activities 100000]
       [--custom 10] [--api-leads 100000]

1. CSV: writes a ``--csv-rows`` file (realistic columns, one row in three with an activity,
   1 % invalid rows), then times what a marketing leader's import does: sniffing the upload,
   mapping, and ``leads.intake.importing.import_job_run`` (validation, set-based upserts, activities).
2. API: starts gunicorn (``--workers``) on ``--port`` against the same database, creates a token
   and posts ``--activities`` activities in batches of 1,000 from ``--clients`` threads, for the
   leads the import created (5 % unknown addresses, which create leads). Then it resends one
   batch to show that retries are counted as duplicates.
3. Custom attributes: the CSV carries ``--custom`` columns of the organisation's own (choice with
   placeholders such as "Select", multi-choice, decimal numbers, yes/no, dates); the import creates
   an attribute from each and runs the value step (placeholders read as unknown) as part of the
   timed import. ``--api-leads`` leads with those attributes then go through ``POST
   /api/v1/leads/batch`` (1,000 a request).

With REDIS_URL set the rescoring of touched leads is queued for workers (as in production) and
not part of the figures; without it Celery runs eagerly and rescoring is included. The rows the
benchmark created are deleted afterwards (``--keep`` keeps them). ``--leads`` is accepted for
``make bench`` and ignored. Ends with one JSON line
``{"activities": N, "activities_per_s": …, "csv_rows": M, "csv_rows_per_s": …}``. Never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

TITLES = ["VP Marketing", "Marketing Director", "Head of Revenue", "Engineer", "CFO", "Sales Manager", "Analyst"]
SENIORITIES = ["VP", "Director", "c-level", "Manager", "individual", ""]
INDUSTRIES = ["Software", "Financial Services", "Retail", "Manufacturing", "Healthcare", ""]
COUNTRIES = ["GB", "US", "DE", "France", "IN", "AU", ""]
KINDS = ["web_visit", "pricing_page_visit", "whitepaper_download", "email_click", "demo_request", "webinar_attended"]


# The organisation's own columns of the CSV, by type, cycled: (type, values a row picks from).
CUSTOM_COLUMNS = (
    ("choice", ["Google", "Organic Search", "Referral Sites", "Direct Traffic", "Select", "Olark Chat"]),
    ("number", ["0", "2.5", "3", "10.25", "1.5", "", "7"]),
    ("yes_no", ["Yes", "No", "No", ""]),
    ("choice", ["Student", "Unemployed", "Working Professional", "Select", "Other", ""]),
    ("multi_choice", ["ai;data", "cloud", "data", "", "ai;cloud;data"]),
    ("date", ["2026-01-15", "2025-11-30", "", "2026-02-01"]),
    ("choice", ["Mumbai", "Thane & Outskirts", "Other Cities", "Select", ""]),
    ("number", ["120", "35", "0", "", "999.9"]),
    ("yes_no", ["yes", "no"]),
    ("choice", ["Email Opened", "SMS Sent", "Page Visited on Website", "Olark Chat Conversation", "N/A"]),
)


def custom_columns(count: int) -> list[tuple[str, str, list[str]]]:
    return [(f"custom_{i}", *CUSTOM_COLUMNS[i % len(CUSTOM_COLUMNS)]) for i in range(count)]


def write_csv(path: Path, rows: int, run: str, rng: random.Random, custom: int = 0) -> None:
    extra = custom_columns(custom)
    header = ",".join(
        ["email", "first_name", "last_name", "job_title", "seniority", "company", "domain", "industry"]
        + ["employees", "country", "activity", "activity_date"]
        + [name for name, _, _ in extra]
    )
    now = dt.datetime.now(dt.UTC)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for n in range(rows):
            company = n % 5000
            email = f"lead{n}@co{company}-{run}.bench.example" if n % 100 else f"broken-{n}-at-nowhere"
            activity, when = "", ""
            if n % 3 == 0:
                activity = rng.choice(KINDS)
                when = (now - dt.timedelta(minutes=rng.randrange(60 * 24 * 90))).strftime("%Y-%m-%dT%H:%M:%SZ")
            # Company facts are the company's: the same on every row that names it.
            industry, country = INDUSTRIES[company % len(INDUSTRIES)], COUNTRIES[company % len(COUNTRIES)]
            own = "".join(f",{rng.choice(values)}" for _, _, values in extra)
            handle.write(
                f"{email},First{n},Last{n},{rng.choice(TITLES)},{rng.choice(SENIORITIES)},Company {company},,"
                f"{industry},{5 + company * 7 % 20000},{country},{activity},{when}{own}\n"
            )


def start_server(port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "1", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn") if (ROOT / ".venv").exists() else "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/openapi.json")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"gunicorn did not answer on 127.0.0.1:{port}")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def post_batches(
    port: int, token: str, batches: list[bytes], clients: int, path: str = "/api/v1/activities"
) -> tuple[float, dict, list[float]]:
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": 0, "created": 0, "updated": 0}
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(reversed(batches))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 202:
                    totals["errors"] += 1
                    continue
                result = json.loads(data)
                for key in ("accepted", "duplicates", "created", "updated"):
                    totals[key] += result.get(key, 0)
                totals["rejected"] += len(result["rejected"])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv-rows", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2, help="concurrent API clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--custom", type=int, default=10, help="columns of the organisation's own in the CSV")
    parser.add_argument("--api-leads", type=int, default=100_000, help="leads sent through POST /leads/batch")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's leads")
    parser.add_argument("--leads", type=int, help="ignored (make bench passes it to every benchmark)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL (postgres://…) to the database to benchmark against.")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.db import connection

    from alignment.models import Attribute
    from leads.intake import importing
    from leads.intake import writes as intake
    from leads.models import Account, ApiToken, ImportJob, Lead

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    rng = random.Random(42)
    mode = "queued to Redis (not timed)" if not settings.CELERY_TASK_ALWAYS_EAGER else "eager (timed with the import)"
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}; rescoring of touched leads: {mode}")
    print(f"Already in the database: {Lead.objects.count():,} leads")

    with tempfile.TemporaryDirectory() as tmp:
        settings.MEDIA_ROOT = tmp
        path = Path(tmp) / "bench.csv"
        started = time.perf_counter()
        write_csv(path, args.csv_rows, run, rng, args.custom)
        print(
            f"CSV: wrote {args.csv_rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        user, _ = User.objects.get_or_create(username="bench-ingest")
        started = time.perf_counter()
        job = importing.import_job_create(upload=SimpleUploadedFile("bench.csv", path.read_bytes()), user=user)
        columns = importing.job_columns(job)
        header = importing.job_header(job)
        for index, (_name, kind, _) in enumerate(
            custom_columns(args.custom), start=header.index("custom_0") if args.custom else 0
        ):
            columns[index] = f"{importing.NEW_PREFIX}{kind}"
        job = importing.import_job_map(job=job, columns=columns)
        if args.custom:  # the value step: every value a new choice, placeholders read as unknown
            job = importing.import_job_values(job=job, decisions={}, user=user)
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
        sniffed = time.perf_counter() - started
        job = importing.import_job_run(job_id=job.pk)
        csv_seconds = time.perf_counter() - started
        csv_rate = job.processed_rows / csv_seconds
        print(
            f"CSV: {job.processed_rows:,} rows in {csv_seconds:.1f} s (upload + sniff {sniffed:.1f} s) → "
            f"{csv_rate:,.0f} rows/s; {job.created_count:,} leads created, {job.error_count:,} rows rejected, "
            f"{job.mapping.get('activities_stored', 0):,} activities"
        )

    emails = [f"lead{n}@co{n % 5000}-{run}.bench.example" for n in range(args.csv_rows) if n % 100]
    now = dt.datetime.now(dt.UTC)
    batches = []
    for b in range(0, args.activities, args.batch):
        items = []
        for n in range(b, min(b + args.batch, args.activities)):
            email = rng.choice(emails) if n % 20 else f"new{n}@fresh-{run}.bench.example"
            items.append(
                {
                    "email": email,
                    "kind": rng.choice(KINDS),
                    "occurred_at": (now - dt.timedelta(minutes=rng.randrange(60 * 24 * 60))).isoformat(),
                    "external_id": f"bench-{run}-{n}",
                    "details": {"page": "/pricing", "utm_source": "bench"},
                }
            )
        batches.append(json.dumps({"activities": items}).encode())
    token, raw = intake.api_token_create(name=f"bench {run}")
    connection.close()

    server = start_server(args.port, args.workers)
    try:
        seconds, totals, latencies = post_batches(args.port, raw, batches, args.clients)
        latencies.sort()
        rate = totals["accepted"] / seconds if seconds else 0.0
        print(
            f"API: {len(batches)} batches of {args.batch} from {args.clients} clients to {args.workers} gunicorn "
            f"workers in {seconds:.1f} s → {rate:,.0f} activities/s; accepted {totals['accepted']:,}, "
            f"duplicates {totals['duplicates']:,}, rejected {totals['rejected']:,}, failed requests {totals['errors']}"
        )
        if latencies:
            p50, p95 = (
                latencies[len(latencies) // 2],
                latencies[int(len(latencies) * 0.95) - 1 if len(latencies) > 1 else 0],
            )
            print(f"API: per batch p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
        _, retry, _ = post_batches(args.port, raw, batches[:1], 1)
        print(f"API: resending the first batch → accepted {retry['accepted']}, duplicates {retry['duplicates']}")
        lead_rate = 0.0
        if args.api_leads:
            keys = {a.key: a.type for a in Attribute.objects.filter(key__startswith="custom_")}
            lead_batches = []
            for b in range(0, args.api_leads, args.batch):
                items = []
                for n in range(b, min(b + args.batch, args.api_leads)):
                    own = {
                        f"custom_{i}": rng.choice(v)
                        for i, (_, kind, v) in enumerate(custom_columns(args.custom))
                        if f"custom_{i}" in keys and kind != "choice"
                    }
                    items.append(
                        {"email": f"api{n}@co{n % 5000}-{run}.bench.example", "external_id": f"{run}-{n}",
                         "job_title": rng.choice(TITLES), "country": rng.choice(COUNTRIES) or None,
                         "attributes": {k: v for k, v in own.items() if v}}
                    )  # fmt: skip
                lead_batches.append(json.dumps({"leads": items}).encode())
            seconds, done, _ = post_batches(args.port, raw, lead_batches, args.clients, "/api/v1/leads/batch")
            lead_rate = (done["created"] + done["updated"]) / seconds if seconds else 0.0
            print(
                f"API: {args.api_leads:,} leads with custom attributes in batches of {args.batch} → "
                f"{lead_rate:,.0f} leads/s; created {done['created']:,}, rejected {done['rejected']:,}, "
                f"failed requests {done['errors']}"
            )
    finally:
        stop_server(server)

    if not args.keep:
        started = time.perf_counter()
        Lead.objects.filter(email__endswith=f"-{run}.bench.example").delete()
        Account.objects.filter(domain__endswith=f"-{run}.bench.example").delete()
        ImportJob.objects.filter(created_by=user).delete()
        Attribute.objects.filter(key__startswith="custom_", builtin=False).delete()
        ApiToken.objects.filter(pk=token.pk).delete()
        print(f"Cleanup: deleted the benchmark's rows in {time.perf_counter() - started:.1f} s")

    print(
        json.dumps(
            {
                "activities": totals["accepted"],
                "activities_per_s": round(rate, 1),
                "csv_rows": job.processed_rows,
                "csv_rows_per_s": round(csv_rate, 1),
                "csv_custom_columns": args.custom,
                "api_leads_per_s": round(lead_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
