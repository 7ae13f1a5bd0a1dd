"""Leads drawn from a planted truth: known effects on conversion, noise, and a leaky attribute.

The log-odds of converting is a sum of known effects of industry, company size, seniority and
three activity kinds; department, source, country and web visits have no effect; ``budget`` is
filled in *after* the outcome, by sales (BANT), so it leaks it. ``write`` stores a sample through
the ORM (history old enough for its outcome to be known); ``sample`` draws a fresh one in memory
as facts and activity times for the pure scorer.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass

INTERCEPT = -1.1
INDUSTRY = {
    "Software": 1.0,
    "Financial Services": 0.6,
    "Manufacturing": 0.0,
    "Retail": 0.0,
    "Healthcare": 0.0,
    "Education": -1.0,
}
SENIORITY = {"c_level": 0.9, "vp": 0.6, "director": 0.3, "manager": 0.0, "individual": -0.3, "student": -1.5}
# Per occurrence within the first 14 days: (effect per occurrence, most occurrences counted, chance of each)
ACTIVITY = {
    "demo_request": (1.3, 1, 0.15),
    "pricing_page_visit": (0.4, 3, 0.35),
    "unsubscribe": (-1.2, 1, 0.10),
    "web_visit": (0.0, 5, 0.6),  # noise
}
NOISE_CHOICES = {
    "department": ["marketing", "sales", "it", "finance", "operations"],
    "source": ["website", "paid_search", "social", "event", "webinar"],
    "country": ["US", "GB", "DE", "FR", "AU"],
}
PLANTED = {"industry": +1, "employees": +1, "seniority": +1}
PLANTED_KINDS = {"demo_request": +1, "pricing_page_visit": +1, "unsubscribe": -1}
LEAKY = "budget"


@dataclass
class Drawn:
    facts: dict
    times: dict[str, list[dt.timedelta]]  # occurrences after creation, by kind
    converted: bool


def _employees_effect(employees: int | None) -> float:
    return 0.0 if employees is None else 0.7 * (math.log10(employees) - 2.5)


def draw(rng: random.Random) -> Drawn:
    industry = rng.choice(list(INDUSTRY)) if rng.random() > 0.05 else None
    employees = int(10 ** rng.uniform(0.7, 4.3)) if rng.random() > 0.1 else None
    seniority = rng.choices(list(SENIORITY), weights=[1, 2, 3, 4, 4, 1])[0]
    logit = INTERCEPT + INDUSTRY.get(industry, 0.0) + _employees_effect(employees) + SENIORITY[seniority]
    times: dict[str, list[dt.timedelta]] = {}
    for kind, (effect, most, chance) in ACTIVITY.items():
        n = sum(rng.random() < chance for _ in range(most + 1))
        if n:
            times[kind] = sorted(dt.timedelta(days=rng.uniform(0, 13.5)) for _ in range(n))
        logit += effect * min(n, most)
    converted = rng.random() < 1 / (1 + math.exp(-logit))
    if converted:
        budget = rng.choices(["confirmed", "planned", "none"], weights=[80, 15, 5])[0]
    else:
        budget = rng.choices(["confirmed", "planned", "none", ""], weights=[10, 30, 40, 20])[0]
    facts = {
        "industry": industry,
        "employees": employees,
        "annual_revenue": None,
        "country": rng.choice(NOISE_CHOICES["country"]),
        "region": None,
        "job_title": "",
        "seniority": seniority,
        "department": rng.choice(NOISE_CHOICES["department"]),
        "persona": None,
        "budget": budget,
        "authority": "",
        "need": "",
        "timeline": "",
        "source": rng.choice(NOISE_CHOICES["source"]),
        "email_domain": "",
    }
    return Drawn(facts=facts, times=times, converted=converted)


def sample(n: int, seed: int) -> list[Drawn]:
    rng = random.Random(seed)
    return [draw(rng) for _ in range(n)]


def write(n: int, seed: int, *, now: dt.datetime, batch: int = 5000, every_kind: bool = False) -> int:
    """Store ``n`` leads created 100–500 days before ``now``, their activities and outcomes.

    ``every_kind`` adds, from a generator of its own, revenue and every other activity kind as
    noise: as many columns as an organisation's history has, none of them with an effect.
    """
    from alignment.spec import ACTIVITY_KIND_KEYS
    from leads.models import Account, Activity, Lead, Stage, Transition

    rng = random.Random(seed)
    noise = random.Random(seed + 1)
    extra_kinds = [k for k in ACTIVITY_KIND_KEYS if k not in ACTIVITY] if every_kind else []
    start = Lead.objects.count()
    written = 0
    while written < n:
        size = min(batch, n - written)
        drawn = [draw(rng) for _ in range(size)]
        for d in drawn:
            for kind in extra_kinds:
                if noise.random() < 0.2:
                    d.times[kind] = [dt.timedelta(days=noise.uniform(0, 13.5))]
        created = [now - dt.timedelta(days=rng.uniform(100, 500)) for _ in range(size)]
        accounts = Account.objects.bulk_create(
            [
                Account(
                    domain=f"planted{start + written + i}.example",
                    name=f"Planted {start + written + i}",
                    industry=d.facts["industry"] or "",
                    employees=d.facts["employees"],
                    annual_revenue=int(10 ** noise.uniform(5, 9)) if every_kind else None,
                    country=d.facts["country"],
                )
                for i, d in enumerate(drawn)
            ]
        )
        leads = Lead.objects.bulk_create(
            [
                Lead(
                    email=f"p{start + written + i}@planted{start + written + i}.example",
                    email_domain=f"planted{start + written + i}.example",
                    account=account,
                    seniority=d.facts["seniority"],
                    department=d.facts["department"],
                    source=d.facts["source"],
                    budget=d.facts["budget"],
                    stage=Stage.SQL if d.converted else Stage.LOST,
                    created_at=at,
                    updated_at=at,
                )
                for i, (d, account, at) in enumerate(zip(drawn, accounts, created, strict=True))
            ]
        )
        Activity.objects.bulk_create(
            [
                Activity(lead=lead, kind=kind, occurred_at=at + offset)
                for d, lead, at in zip(drawn, leads, created, strict=True)
                for kind, offsets in d.times.items()
                for offset in offsets
            ]
        )
        Transition.objects.bulk_create(
            [
                Transition(
                    lead=lead,
                    from_stage=Stage.NEW,
                    to_stage=Stage.SQL if d.converted else Stage.LOST,
                    at=at + dt.timedelta(days=30),
                    historical=True,
                )
                for d, lead, at in zip(drawn, leads, created, strict=True)
            ]
        )
        written += size
    return written
