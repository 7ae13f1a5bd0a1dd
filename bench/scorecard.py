"""Benchmark of a proposal from outcomes: the whole fit, cross-validation and model card included.

Usage: DATABASE_URL=postgres://… python bench/scorecard.py --leads 100000

Uses a database of its own: unless it already holds exactly ``--leads`` leads, it empties the
leads tables and writes a planted-truth history (``tests/leads/planted.py``: known effects, noise
in every other attribute and activity kind, a leaky sales-filled attribute). Then times
``leads.scoring.scorecard.propose`` over every lead (each step's time from its progress reports)
and prints the proposal's figures. Ends with one JSON line
``{"leads": N, "attributes": A, "propose_s": …, "cv_auc": …}`` (the median of ``--repeat`` runs).
It never asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


# Kinds of the noise attributes of ``--custom`` (cycled through): the stored value from a hash of
# the lead id and the attribute's key, about one lead in six without one (unknown).
CUSTOM = (
    ("choice", "(ARRAY['alpha','beta','gamma','delta','epsilon'])[1 + abs(hashtext(id::text || '{key}')) %% 5]"),
    ("number", "abs(hashtext(id::text || '{key}')) %% 1000"),
    ("yes_no", "abs(hashtext(id::text || '{key}')) %% 3 = 0"),
)


def add_custom(count: int) -> None:
    """Attributes of the organisation's own with no effect on the outcome, on every lead (once)."""
    from alignment import dictionary_services as data_dictionary
    from alignment.models import Attribute
    from bench.scratch import sql

    wanted = [(f"custom_{i}", *CUSTOM[i % len(CUSTOM)]) for i in range(count)]
    missing = [w for w in wanted if not Attribute.objects.filter(key=w[0]).exists()]
    if not missing:
        return
    started = time.perf_counter()
    for key, kind, _ in missing:
        choices = [{"value": v} for v in ("alpha", "beta", "gamma", "delta", "epsilon")] if kind == "choice" else []
        data_dictionary.attribute_create(key=key, label=key.replace("_", " ").capitalize(), type=kind, choices=choices)
    unknown = "abs(hashtext(id::text || 'u{key}')) %% 6 = 0"
    pairs = ", ".join(
        f"'{key}', CASE WHEN {unknown.format(key=key)} THEN NULL ELSE to_jsonb({value.format(key=key)}) END"
        for key, _, value in wanted
    )
    # Keys and expressions are this script's constants, never input.
    sql(f"UPDATE leads_lead SET attributes = attributes || jsonb_strip_nulls(jsonb_build_object({pairs}))", {})  # noqa: S608
    sql("VACUUM ANALYZE leads_lead")
    print(f"  {count} attributes of the organisation's own added in {time.perf_counter() - started:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--custom", type=int, default=9, help="noise attributes of the organisation's own (21 built-in + 9 = 30)"
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from leads.models import Account, Activity, Lead, Transition
    from leads.scoring.outcomes import parse_outcome
    from leads.scoring.scorecard import ProposalRequest, candidates, describe_rule, propose
    from tests.leads import planted

    call_command("migrate", verbosity=0)
    now = dt.datetime.now(dt.UTC)
    existing = Lead.objects.count()
    if existing != args.leads:
        print(f"Writing {args.leads:,} leads (the database held {existing:,}) …", flush=True)
        started = time.perf_counter()
        tables = [model._meta.db_table for model in (Transition, Activity, Lead, Account)]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        planted.write(args.leads, 42, now=now, every_kind=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"  written in {time.perf_counter() - started:.1f} s", flush=True)
    add_custom(args.custom)
    considered = [c for c in candidates() if c.before_contact and c.kind != "multi_choice"]
    print(
        f"Database: {connection.vendor}; {Lead.objects.count():,} leads, {Activity.objects.count():,} activities; "
        f"{len(considered)} attributes and activity kinds considered"
    )
    timings, proposal = [], None
    for run in range(1, args.repeat + 1):
        steps: list[tuple[float, str]] = []
        started = time.perf_counter()

        def report(percent: int, step: str, started=started, steps=steps) -> None:
            steps.append((time.perf_counter() - started, step))

        proposal = propose(ProposalRequest(outcome=parse_outcome("sql"), quota=2000), now=now, progress=report)
        timings.append(time.perf_counter() - started)
        print(f"  run {run}: {timings[-1]:.2f} s")
        ends = [at for at, _ in steps[1:]] + [timings[-1]]
        for (at, step), end in zip(steps, ends, strict=True):
            print(f"    {end - at:6.2f} s  {step}")
    card = proposal.card
    print(f"Proposal: {proposal.leads:,} leads, {proposal.conversions:,} converted; CV AUC {proposal.cv_auc}")
    for rule in proposal.spec["fit_rules"] + proposal.spec["behaviour_rules"]:
        print(f"  {rule['points']:+4d}  {describe_rule(rule)}   [{card['rule_notes'][rule['id']]}]")
    print(f"  MQL threshold {proposal.spec['mql_threshold']}: {card['threshold_why']}")
    summary = {
        "leads": proposal.leads,
        "attributes": len(considered),
        "custom_attributes": args.custom,
        "propose_s": round(statistics.median(timings), 2),
        "cv_auc": proposal.cv_auc,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
