"""Benchmark of the Evidence panel's backtest: a draft against the active agreement over 90 days.

Usage: DATABASE_URL=postgres://… python bench/backtest.py --leads 100000

Seeds the demo organisation with ``--leads`` leads (``demo.builder``, the same generator as
``manage.py seed_demo``; 14 weeks of history) unless the database already holds exactly that
many leads, then times ``leads.scoring.backtest.run_backtest`` (the counts and the weekly chart) and,
separately, loading the example leads the panel lists. Prints figures and ends with one JSON
line ``{"leads": N, "backtest_s": …}`` (the median of ``--repeat`` runs). It never asserts.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    from alignment.models import AgreementVersion
    from demo import builder as demo
    from leads.models import Activity, Lead, Transition
    from leads.scoring.backtest import cached_backtest, example_leads, run_backtest

    call_command("migrate", verbosity=0)
    existing = Lead.objects.count()
    if existing != args.leads or not AgreementVersion.objects.active():
        print(f"Seeding {args.leads:,} leads (the database held {existing:,}) …", flush=True)
        started = time.perf_counter()
        if demo.demo_present():
            demo.wipe()
        demo.seed(leads=args.leads, weeks=14, seed=42)
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
    active = AgreementVersion.objects.active()
    # A realistic draft: a lower bar, pricing visits worth more, one fit rule reweighted.
    draft = copy.deepcopy(active.spec)
    draft["mql_threshold"] = max(1, draft["mql_threshold"] - 10)
    for rule in draft["behaviour_rules"]:
        if rule["kind"] == "pricing_page_visit":
            rule["points"] += 5
    draft["fit_rules"][0]["points"] += 5

    print(
        f"Database: {connection.vendor}; {Lead.objects.count():,} leads, {Activity.objects.count():,} activities, "
        f"{Transition.objects.count():,} transitions; window {args.days} days"
    )
    timings = []
    for run in range(1, args.repeat + 1):
        started = time.perf_counter()
        result = run_backtest(draft_spec=draft, active_spec=active.spec, days=args.days)
        timings.append(time.perf_counter() - started)
        print(
            f"  run {run}: {timings[-1]:.2f} s — {result.leads:,} leads in the window; MQLs draft "
            f"{result.draft.mql:,} vs active {result.active.mql:,} (new {result.new:,}, dropped {result.dropped:,}, "
            f"missed SQL/won {result.missed:,})"
        )
    started = time.perf_counter()
    example_leads(result)
    print(f"  loading the example leads for the panel: {time.perf_counter() - started:.2f} s")
    # The panel as a leader uses it: first look, then another look after editing the draft.
    cache.clear()
    started = time.perf_counter()
    cached_backtest(draft_spec=draft, active_spec=active.spec, days=args.days)
    first_look = time.perf_counter() - started
    edited = copy.deepcopy(draft)
    edited["mql_threshold"] += 5
    started = time.perf_counter()
    cached_backtest(draft_spec=edited, active_spec=active.spec, days=args.days)
    print(
        f"  panel, first look: {first_look:.2f} s; after editing the draft (active side cached): "
        f"{time.perf_counter() - started:.2f} s"
    )
    print(json.dumps({"leads": Lead.objects.count(), "backtest_s": round(statistics.median(timings), 3)}))


if __name__ == "__main__":
    main()
