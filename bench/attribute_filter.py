#!/usr/bin/env python
"""Benchmark: the lead list filtered by the organisation's own attributes, with and without the
GIN indexes on ``attributes`` (``lead_attributes_gin``, ``account_attributes_gin``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accord .venv/bin/python bench/attribute_filter.py --leads 300000

Works in a scratch database next to DATABASE_URL's (``<name>_bench_attrs``, created fresh and
dropped at the end unless ``--keep``). Generates N leads with ``bench/rescore.py``'s generator and
custom attributes, plus a rare choice value (``lead_origin = partner_api`` on 0.5 % of the leads).
For each filter the lead list issues (built by ``LeadFilter`` exactly as the page builds it) it
prints the plan's index use and the median time of the page's two statements (the count and the
first 50 rows), first with the indexes, then after dropping them; then it builds them again and
times that. Prints one JSON line at the end; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scratch import recreate_database, scratch_url, sql  # noqa: E402 - after the path insert

INDEXES = {
    "lead_attributes_gin": "leads_lead",
    "account_attributes_gin": "leads_account",
}
# name → the lead list's query string (the page's own parameters).
FILTERS = {
    "rare_choice": {"a.lead_origin": ["partner_api"]},
    "common_choice": {"a.lead_origin": ["referral"]},
    "yes_no": {"a.opted_out": "yes"},
    "account_choice": {"a.plan": ["enterprise"]},
}
RUNS = 5


def log(message: str) -> None:
    print(message, flush=True)


def _median_ms(work) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 1)


def measure(label: str) -> dict:
    from django.http import QueryDict

    from alignment.dictionary import load_dictionary
    from leads.inbox.filters import LeadFilter
    from leads.models import Lead

    dictionary = load_dictionary()
    out = {}
    for name, params in FILTERS.items():
        query = QueryDict(mutable=True)
        for key, value in params.items():
            query.setlist(key, value if isinstance(value, list) else [value])
        base = Lead.objects.select_related("account", "owner", "persona").order_by("-updated_at", "-id")
        lead_filter = LeadFilter(query, queryset=base, dictionary=dictionary)
        assert lead_filter.is_valid(), lead_filter.errors
        qs = lead_filter.qs
        plan = qs.explain()
        matches = qs.count()
        out[name] = {
            "matches": matches,
            "uses_gin": any(index in plan for index in INDEXES),
            "count_ms": _median_ms(qs.count),
            "page_ms": _median_ms(lambda qs=qs: list(qs[:50])),
        }
        log(f"{label:>10} {name:<15} {matches:>8,} leads  gin={out[name]['uses_gin']!s:<5} "
            f"count {out[name]['count_ms']:>7} ms  first page {out[name]['page_ms']:>7} ms")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=300_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    from bench.rescore import generate, generate_custom

    admin_url, bench_url, bench_name = scratch_url(os.environ.get("DATABASE_URL", ""), "bench_attrs")
    recreate_database(admin_url, bench_name)
    os.environ.update(DATABASE_URL=bench_url, CELERY_EAGER="1", DJANGO_SETTINGS_MODULE="portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from alignment import dictionary_services as data_dictionary
    from alignment.models import Attribute

    try:
        call_command("migrate", verbosity=0)
        log(f"generating {args.leads:,} leads …")
        generate(args.leads, timezone.now())
        generate_custom()
        data_dictionary.attribute_update(
            attribute=Attribute.objects.get(key="lead_origin"), choices=[{"value": "partner_api"}]
        )
        sql(
            """UPDATE leads_lead SET attributes = attributes || '{"lead_origin": "partner_api"}'
               WHERE id %% 200 = 0""",
            {},
        )
        sql("VACUUM ANALYZE leads_lead")
        sql("VACUUM ANALYZE leads_account")
        sizes = {index: sql("SELECT pg_relation_size(%s::regclass)", [index])[0][0] // 1024 for index in INDEXES}
        with_index = measure("with GIN")
        for index in INDEXES:
            sql(f"DROP INDEX {index}")
        sql("ANALYZE leads_lead")
        without_index = measure("without")
        started = time.perf_counter()
        sql("CREATE INDEX lead_attributes_gin ON leads_lead USING gin (attributes jsonb_path_ops)")
        build_s = round(time.perf_counter() - started, 2)
        sql("CREATE INDEX account_attributes_gin ON leads_account USING gin (attributes jsonb_path_ops)")
        print(
            json.dumps(
                {
                    "leads": args.leads,
                    "index_kb": sizes,
                    "lead_index_build_s": build_s,
                    "with_gin": with_index,
                    "without_gin": without_index,
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
