"""Benchmark of history and outcomes: importing past leads, then Evidence and Suggestions over them.

Usage: DATABASE_URL=postgres://… python bench/history.py --leads 100000 [--activities-per-lead 3] [--custom 12]

1. Import: ``--leads`` past leads spread over two years, each with its real ``created_at`` and, for
   about a third, a path to SQL and won (a few lost, rejected or disqualified), plus
   ``--activities-per-lead`` dated activities each — through the real import path
   (``leads.intake.writes.leads_write`` with ``leads.intake.history`` paths, in batches of 1,000
   as the batch API takes them, then ``activities_ingest``), by ``--clients`` processes side by side
   (2 by default, one per core, as concurrent API clients would; ``--clients 1`` for one).
   Rescoring requests are recorded but not drained (a worker's job, not part of an import).
   Each lead also carries values of ``--custom`` attributes of the organisation's own (choice,
   multi-choice, number, yes/no; about one in six unknown), 12 by default: with the 18 built-in
   attributes and activity kinds, Suggestions read 30.
2. Evidence (``leads.scoring.evidence.evidence``) of the default definition against outcomes over
   all history, and Suggestions (``leads.scoring.lift.lift``) on every attribute.

Works in a scratch database ``<name>_history_bench`` next to ``DATABASE_URL``'s (created, then
dropped unless ``--keep``). Prints figures and ends with one JSON line
``{"leads": N, "activities": M, "import_s": …, "leads_per_s": …, "evidence_s": …, "suggestions_s": …}``.
Never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

INDUSTRIES = ("Hospitality", "Software", "Retail", "Logistics", "Education", "Healthcare", "Manufacturing")
SOURCES = ("website", "event", "referral", "paid_search", "partner")
SENIORITIES = ("c_level", "vp", "director", "manager", "individual", "")
# The organisation's own attributes of ``--custom`` (cycled through when more are asked for).
CUSTOM_KINDS = (
    ("choice", ("google", "organic", "referral", "direct", "partner", "event")),
    ("multi_choice", ("ai", "data", "cloud", "security")),
    ("number", ()),
    ("yes_no", ()),
    ("choice", ("student", "working", "unemployed", "retired")),
    ("number", ()),
)
KINDS = ("web_visit", "email_open", "email_click", "pricing_page_visit", "demo_request", "webinar_attended")


def custom_attributes(count: int) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(f"custom_{i}", *CUSTOM_KINDS[i % len(CUSTOM_KINDS)]) for i in range(count)]


def _custom_value(rng: random.Random, kind: str, choices: tuple[str, ...]):
    """A stored value of one custom attribute; about one in six unknown (absent)."""
    if rng.random() < 1 / 6:
        return None
    if kind == "choice":
        return rng.choice(choices)
    if kind == "multi_choice":
        return sorted(rng.sample(choices, rng.randint(1, 2)))
    if kind == "number":
        return round(rng.uniform(0, 2000), 1)
    return rng.random() < 0.3


def _lead(rng: random.Random, i: int, now: dt.datetime, custom=()) -> dict:
    created = now - dt.timedelta(days=rng.uniform(30, 730), hours=rng.uniform(0, 23))
    industry = rng.choice(INDUSTRIES)
    seniority = rng.choice(SENIORITIES)
    # A planted truth: senior people in software and logistics convert more often.
    p = 0.2 + 0.25 * (industry in ("Software", "Logistics")) + 0.15 * (seniority in ("c_level", "vp", "director"))
    history = []
    if rng.random() < p:
        history = [
            {"stage": "mql", "at": created + dt.timedelta(days=rng.uniform(0, 5))},
            {"stage": "sql", "at": created + dt.timedelta(days=rng.uniform(6, 20))},
        ]
        if rng.random() < 0.6:
            history.append({"stage": "won", "at": created + dt.timedelta(days=rng.uniform(21, 29))})
    elif rng.random() < 0.1:
        history = [{"stage": rng.choice(["rejected", "disqualified"]), "at": created + dt.timedelta(days=2)}]
    return {
        "email": f"past.lead{i}@company{i % 40_000}.example",
        "first_name": "Past",
        "last_name": f"Lead {i}",
        "industry": industry,
        "seniority": seniority,
        "source": rng.choice(SOURCES),
        "employees": rng.choice([8, 40, 180, 900, 4000, 20000]),
        "created_at": created,
        "history": history,
        "attributes": {
            key: value for key, kind, choices in custom if (value := _custom_value(rng, kind, choices)) is not None
        },
    }


def import_part(part: int, clients: int, total: int, per_lead: int, custom, now, started: float):
    """One client's share of the import: every ``clients``-th batch of 1,000 leads, through the real
    write path (the leads with their history, then their activities, as the two batch endpoints
    take them). Returns the seconds spent writing leads and activities."""
    from django.db import connection, transaction

    from leads.intake.history import clean_history
    from leads.intake.writes import ActivityItem, activities_ingest, leads_write

    rng = random.Random(42 + part)
    lead_time = activity_time = 0.0
    for start in range(part * 1000, total, clients * 1000):
        rows = [_lead(rng, i, now, custom) for i in range(start, min(start + 1000, total))]
        for row in rows:
            row["history"] = clean_history(row["history"], created_at=row["created_at"], now=now)
        t0 = time.perf_counter()
        with transaction.atomic():
            leads_write(rows, now)
        t1 = time.perf_counter()
        items = []
        for row in rows:
            for _ in range(per_lead):
                at = row["created_at"] + dt.timedelta(days=rng.uniform(-10, 14))
                items.append(
                    ActivityItem(index=len(items), kind=rng.choice(KINDS), occurred_at=min(at, now), email=row["email"])
                )
        activities_ingest(items=items, now=now)
        lead_time += t1 - t0
        activity_time += time.perf_counter() - t1
        if part == 0 and (start // 1000) % 100 < clients:
            print(f"  batch of leads from {start:,}, {time.perf_counter() - started:.0f} s", flush=True)
    connection.close()
    return lead_time, activity_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=int, default=3)
    parser.add_argument(
        "--custom", type=int, default=12, help="attributes of the organisation's own (the built-in ones are 18)"
    )
    parser.add_argument(
        "--clients", type=int, default=2, help="importing side by side, as API clients would (one per core)"
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from bench.scratch import recreate_database

    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/accord")
    base, _, name = admin_url.rpartition("/")
    scratch = f"{name}_history_bench"
    recreate_database(admin_url, scratch)
    os.environ["DATABASE_URL"] = f"{base}/{scratch}"
    os.environ.pop("REDIS_URL", None)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from alignment.spec import default_spec
    from leads.models import Activity, Lead, Transition
    from leads.scoring.evidence import Window, evidence
    from leads.scoring.lift import lift
    from leads.scoring.outcomes import parse_outcome

    call_command("migrate", verbosity=0)
    from alignment import dictionary_services as data_dictionary

    custom = custom_attributes(args.custom)
    for key, kind, choices in custom:
        data_dictionary.attribute_create(
            key=key, label=key.replace("_", " ").capitalize(), type=kind, object="lead",
            choices=[{"value": c} for c in choices],
        )  # fmt: skip
    now = timezone.now()
    print(
        f"Importing {args.leads:,} past leads with {args.activities_per_lead} activities each "
        f"({args.clients} client{'s' if args.clients > 1 else ''} side by side) …",
        flush=True,
    )
    connection.close()  # the clients open their own
    started = time.perf_counter()
    if args.clients == 1:
        lead_time, activity_time = import_part(0, 1, args.leads, args.activities_per_lead, custom, now, started)
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=args.clients, mp_context=context) as pool:
            parts = [
                pool.submit(import_part, k, args.clients, args.leads, args.activities_per_lead, custom, now, started)
                for k in range(args.clients)
            ]
            times = [part.result() for part in parts]
        lead_time, activity_time = (sum(t[0] for t in times), sum(t[1] for t in times))
    import_s = time.perf_counter() - started
    leads = Lead.objects.count()
    activities = Activity.objects.count()
    print(
        f"  imported {leads:,} leads, {activities:,} activities, {Transition.objects.count():,} transitions in "
        f"{import_s:.1f} s ({leads / import_s:,.0f} leads/s; leads {lead_time:.1f} s, activities {activity_time:.1f} s)"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    outcome = parse_outcome("sql")
    spec = default_spec()
    started = time.perf_counter()
    ev = evidence(draft_spec=spec, active_spec=None, window=Window(), outcome=outcome)
    evidence_s = time.perf_counter() - started
    print(
        f"  evidence over all history: {evidence_s:.2f} s — {ev.leads:,} leads, {ev.converted:,} converted, "
        f"{ev.draft.mqls:,} would-be MQLs capturing {100 * (ev.draft.captured or 0):.0f} %"
    )
    started = time.perf_counter()
    result = lift(window=Window(), outcome=outcome, spec=spec)
    suggestions_s = time.perf_counter() - started
    attributes = len({r.attribute for r in result.rows})
    print(f"  suggestions: {suggestions_s:.2f} s — {len(result.rows)} rows over {attributes} attributes and kinds")

    connection.close()
    if not args.keep:
        recreate_database(admin_url, scratch, drop_only=True)
    print(
        json.dumps(
            {
                "leads": leads,
                "activities": activities,
                "import_s": round(import_s, 1),
                "leads_per_s": round(leads / import_s),
                "evidence_s": round(evidence_s, 2),
                "suggestions_s": round(suggestions_s, 2),
                "attributes": attributes,
                "clients": args.clients,
            }
        )
    )


if __name__ == "__main__":
    main()
