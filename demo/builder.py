"""A realistic, deterministic demo organisation (``manage.py seed_demo``).

Everything is derived from one ``random.Random(seed)`` and one anchor instant, so the same seed
and anchor give the same rows. Lifecycle histories are simulated lead by lead in memory and the
rows are then written in bulk (COPY on PostgreSQL, batched inserts on SQLite): 100,000 leads take
well under a minute on PostgreSQL.

The simulation uses the same pure scorer as the product (``leads.scoring.scorer.score_lead``): a lead
becomes an MQL when the agreement in force says so, and the final scores are those of the active
version at the anchor — so a rescore right after seeding changes (almost) nothing.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone

from alignment import diff as spec_diff
from alignment import spec as vocab
from alignment.calendar import BusinessCalendar, sla_due_at
from alignment.models import AgreementEvent, AgreementVersion, Persona, SignOff
from leads.bulk import copy_rows
from leads.intake.writes import clean_email
from leads.lifecycle import transitions_add
from leads.models import Account, Activity, Assignment, FollowUpAttempt, Lead, Stage, Team, TeamMember, Transition
from leads.scoring.scorer import behaviour_points, persona_for, score_lead, weights_from_times
from portal.access import Role

DEMO_PASSWORD = "accord-demo"  # noqa: S105 - demo accounts only, printed by seed_demo
DEMO_USERS = (
    ("marketing", "Maya", "Fischer", Role.MARKETING),
    ("sales", "Sam", "Okafor", Role.SALES),
    ("manager", "Morgan", "Reyes", Role.MANAGER),
    ("sdr1", "Priya", "Natarajan", Role.SDR),
    ("sdr2", "Lucas", "Meyer", Role.SDR),
    ("sdr3", "Chloe", "Dubois", Role.SDR),
    ("sdr4", "Tom", "Bennett", Role.SDR),
    ("admin", "Ada", "Admin", Role.ADMIN),
)

FIRST_NAMES = (
    "Emma Liam Olivia Noah Ava Elijah Sophia James Isabella Lucas Mia Mateo Amelia Ethan Harper Leo "
    "Evelyn Aiden Aria Oliver Chloe Daniel Ella Henry Grace Jack Nora Samuel Zoe Owen Hannah Ravi Anika "
    "Kenji Yuki Sofia Diego Lars Ingrid Pierre Camille Jonas Freya Marco Giulia Ahmed Fatima Chen Wei "
    "Aisha Tomasz Katarzyna Sean Niamh Pedro Beatriz Arjun Meera Hiroshi Sakura"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Martinez Lopez Wilson Anderson Taylor Thomas "
    "Moore Martin Lee Thompson White Harris Clark Lewis Walker Hall Young King Wright Scott Green Baker "
    "Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Müller Schmidt Schneider "
    "Dubois Laurent Rossi Bianchi Silva Santos Kowalski Nowak Jensen Hansen Larsen Tanaka Sato Suzuki "
    "Patel Sharma Singh Kim Park Nguyen O'Brien Murphy Kelly"
).split()
NAME_PARTS_A = (
    "North Blue Bright Iron Silver Clear Swift Summit Harbor Pioneer Vertex Atlas Nova Cedar Granite "
    "Maple Orbit Prime Quantum Red Solar Stone True Vivid Zenith Apex Beacon Crest Delta Ember Falcon "
    "Golden Horizon Keystone Lumen Meridian Oak Pacific Riverside Sterling Titan Union Westfield"
).split()
NAME_PARTS_B = (
    "wind field works labs systems logic point bridge path line gate wave core forge stack metrics "
    "craft ware link scale sphere source trail ridge mark"
).split()
NAME_SUFFIX = ("", "", " Group", " Inc", " Ltd", " GmbH", " AG", " Technologies", " Solutions", " Partners")

# (employees low, high) bands — every company size appears.
SIZE_BANDS = ((1, 10), (11, 50), (51, 200), (201, 1000), (1001, 5000), (5001, 50000))
SIZE_WEIGHTS = (8, 14, 22, 26, 18, 12)
COUNTRY_WEIGHTS = {
    "US": 30,
    "GB": 12,
    "DE": 9,
    "FR": 6,
    "CA": 5,
    "NL": 4,
    "AU": 4,
    "IN": 4,
    "ES": 3,
    "IT": 3,
    "SE": 2,
    "CH": 2,
    "IE": 2,
    "BR": 3,
    "MX": 2,
    "JP": 2,
    "SG": 2,
    "PL": 2,
    "BE": 1,
    "AT": 1,
    "DK": 1,
    "NO": 1,
    "FI": 1,
    "PT": 1,
    "AE": 1,
    "ZA": 1,
    "NZ": 1,
    "AR": 1,
    "CL": 1,
    "CO": 1,
    "KR": 1,
}
TITLES = {
    "c_level": {
        "executive": ["CEO", "Chief Operating Officer", "Founder & CEO"],
        "marketing": ["Chief Marketing Officer"],
        "sales": ["Chief Revenue Officer"],
        "it": ["CIO", "Chief Information Officer"],
        "engineering": ["CTO"],
        "finance": ["CFO"],
    },
    "vp": {
        "marketing": ["VP Marketing", "VP Demand Generation"],
        "sales": ["VP Sales", "VP Revenue Operations"],
        "it": ["VP IT Infrastructure"],
        "engineering": ["VP Engineering"],
        "operations": ["VP Operations"],
        "finance": ["VP Finance"],
    },
    "director": {
        "marketing": ["Director of Marketing", "Marketing Director", "Director, Growth Marketing"],
        "sales": ["Sales Director", "Director of Sales Development"],
        "it": ["IT Director", "Director of IT"],
        "engineering": ["Engineering Director"],
        "operations": ["Director of Operations"],
        "hr": ["HR Director"],
    },
    "manager": {
        "marketing": ["Marketing Manager", "Marketing Operations Manager", "Demand Generation Manager"],
        "sales": ["Sales Manager", "Revenue Operations Manager"],
        "it": ["IT Manager"],
        "engineering": ["Engineering Manager"],
        "operations": ["Operations Manager"],
        "finance": ["Finance Manager"],
        "hr": ["HR Manager"],
    },
    "individual": {
        "marketing": ["Marketing Specialist", "Content Marketer", "Marketing Analyst"],
        "sales": ["Account Executive", "Sales Representative"],
        "it": ["Systems Administrator"],
        "engineering": ["Software Engineer", "Data Engineer"],
        "finance": ["Financial Analyst"],
        "other": ["Consultant", "Analyst"],
    },
    "student": {"other": ["Student", "MBA Candidate", "Graduate Student"]},
}
SENIORITY_WEIGHTS = {"c_level": 6, "vp": 10, "director": 18, "manager": 28, "individual": 36, "student": 2}
SOURCE_WEIGHTS = {
    "website": 30,
    "paid_search": 14,
    "social": 10,
    "event": 8,
    "webinar": 10,
    "referral": 5,
    "partner": 5,
    "content": 12,
    "outbound": 4,
    "import": 2,
}
CAMPAIGNS = ("Q-Brand", "Pipeline Accelerator", "Ops Summit", "RevOps Webinar Series", "ICP Retargeting", "")
# Background noise every lead produces (kind, weight).
NOISE = (("web_visit", 40), ("email_open", 30), ("email_click", 12), ("whitepaper_download", 8))
NOISE += (("case_study_download", 4), ("form_fill", 6))
# What a lead with buying intent does on top of the noise.
INTENT = (("pricing_page_visit", 30), ("demo_request", 22), ("webinar_attended", 14), ("contact_sales", 12))
INTENT += (("free_trial_signup", 10), ("tradeshow_scan", 8), ("case_study_download", 4))
PERSONAS = (
    {
        "name": "Marketing Operations Leader",
        "summary": "Owns the demand funnel and the martech stack at a mid-size or large company.",
        "title_keywords": ["marketing", "demand", "growth"],
        "seniorities": ["director", "vp", "c_level"],
        "departments": ["marketing"],
        "buying_role": "decision_maker",
        "challenges": "Proving pipeline contribution; lead quality disputes with sales.",
        "motivations": "A definition of 'qualified' both teams trust; fewer rejected leads.",
        "interests": "Attribution, scoring models, revenue operations.",
    },
    {
        "name": "Revenue Executive",
        "summary": "Accountable for bookings; sponsors sales and marketing alignment.",
        "title_keywords": ["revenue", "sales", "cro"],
        "seniorities": ["vp", "c_level"],
        "departments": ["sales", "executive"],
        "buying_role": "decision_maker",
        "challenges": "Forecast accuracy; SDR capacity wasted on poor leads.",
        "motivations": "Predictable pipeline; faster speed to lead.",
        "interests": "Sales productivity, SLAs, win rates.",
    },
    {
        "name": "IT Evaluator",
        "summary": "Checks security and integration before purchase.",
        "title_keywords": ["it", "information", "infrastructure", "cio"],
        "seniorities": ["manager", "director", "vp", "c_level"],
        "departments": ["it"],
        "buying_role": "influencer",
        "challenges": "Tool sprawl, integrations, data protection.",
        "motivations": "Fewer systems, clean APIs, SSO.",
        "interests": "Security reviews, integration catalogues.",
    },
    {
        "name": "Marketing Practitioner",
        "summary": "Runs campaigns day to day; an early champion inside the account.",
        "title_keywords": ["marketing", "content", "campaign"],
        "seniorities": ["manager", "individual"],
        "departments": ["marketing"],
        "buying_role": "champion",
        "challenges": "Manual list work, unclear hand-off to sales.",
        "motivations": "Recognition for leads that convert.",
        "interests": "Templates, automation, reporting.",
    },
)


def _weighted(rng: random.Random, weights: dict | tuple):
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


@dataclass
class SimLead:
    id: int
    account: dict | None
    email: str
    fields: dict
    created_at: dt.datetime
    activities: list[tuple[str, dt.datetime]] = field(default_factory=list)
    transitions: list[dict] = field(default_factory=list)
    assignments: list[dict] = field(default_factory=list)
    stage: str = Stage.NEW
    owner_id: int | None = None
    mql_at: dt.datetime | None = None
    sla_due_at: dt.datetime | None = None
    first_action_at: dt.datetime | None = None
    recycled_at: dt.datetime | None = None
    revisit_on: dt.date | None = None
    opportunity_amount: float | None = None
    # Follow-up attempts after acceptance: (channel, outcome, at, note), logged by the owner.
    attempts: list[tuple[str, str, dt.datetime, str]] = field(default_factory=list)


ATTEMPT_NOTES = (
    "",
    "",
    "",
    "Left a voicemail, will try again Thursday",
    "Asked for a call next week",
    "Sent the case study",
)


def _weights_at(sim: SimLead, spec: dict, now: dt.datetime) -> dict[str, float]:
    """Activity weights per behaviour rule at ``now``, by the scorer's own rule (activities are oldest first)."""
    by_kind: dict[str, list[dt.datetime]] = {}
    for kind, at in sim.activities:
        by_kind.setdefault(kind, []).append(at)
    return weights_from_times(by_kind, spec["behaviour_rules"], now, sim.recycled_at)


class DemoBuilder:
    def __init__(self, *, leads: int, weeks: int, seed: int, anchor: dt.datetime, out=None):
        self.n_leads = leads
        self.weeks = weeks
        self.rng = random.Random(seed)
        self.anchor = anchor
        self.start = anchor - dt.timedelta(weeks=weeks)
        self.out = out

    def say(self, text: str) -> None:
        if self.out:
            self.out.write(text)

    # --- organisation ------------------------------------------------------------------------
    def build_people(self) -> dict[str, User]:
        users = {}
        groups = {role.value: Group.objects.get_or_create(name=role.value)[0] for role in Role}
        hashed = make_password(DEMO_PASSWORD)  # one slow hash, shared: every demo user has the same password
        for username, first, last, role in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": f"{username}@accord-demo.example"},
            )
            if created or not user.has_usable_password():
                user.password = hashed
            user.is_staff = role == Role.ADMIN
            user.is_superuser = role == Role.ADMIN
            user.save()
            user.groups.add(groups[role.value])
            users[username] = user
        team, _ = Team.objects.get_or_create(
            name="Inside Sales",
            defaults={"manager": users["manager"], "time_zone": "Europe/London", "routing": Team.Routing.ROUND_ROBIN},
        )
        sdrs = ("sdr1", "sdr2", "sdr3", "sdr4")
        for username in sdrs:
            TeamMember.objects.update_or_create(
                user=users[username], defaults={"team": team, "capacity": self.sdr_capacity(len(sdrs))}
            )
        self.team = team
        return users

    def sdr_capacity(self, sdrs: int) -> int:
        """Open MQLs per SDR sized to the demo's volume: the team holds a tenth of all leads at once.

        A publish that lowers the threshold by ten points makes about 5 % of the leads MQLs at once
        (263 of 5,000 at 60 → 50, measured), on top of the few open ones: they all find an owner.
        """
        return max(25, math.ceil(self.n_leads / 10 / sdrs))

    def build_agreement(self, users: dict[str, User]) -> tuple[list[Persona], AgreementVersion, AgreementVersion]:
        personas = []
        for data in PERSONAS:
            persona, _ = Persona.objects.get_or_create(name=data["name"], defaults=data)
            personas.append(persona)
        base = vocab.default_spec()
        v1_spec = vocab.default_spec()
        v1_spec["mql_threshold"] = 55
        v1_spec["behaviour_rules"] = [r for r in v1_spec["behaviour_rules"] if r["id"] != "b11"]
        v2_spec = base
        v2_spec["fit_rules"].append(
            {"id": "f8", "field": "persona", "operator": "in", "values": [personas[0].id, personas[1].id], "points": 10}
        )
        v1_published = self.start - dt.timedelta(days=21)
        v2_published = self.anchor - dt.timedelta(weeks=max(1, self.weeks // 2))
        v1 = AgreementVersion.objects.create(
            number=1,
            status=AgreementVersion.Status.RETIRED,
            spec=v1_spec,
            title="First shared definition",
            author=users["marketing"],
            proposed_at=v1_published - dt.timedelta(days=2),
            published_at=v1_published,
            published_by=users["marketing"],
            retired_at=v2_published,
            revision=3,
        )
        v2 = AgreementVersion.objects.create(
            number=2,
            status=AgreementVersion.Status.ACTIVE,
            spec=v2_spec,
            title="Personas, unsubscribes and a higher bar",
            author=users["sales"],
            based_on=v1,
            proposed_at=v2_published - dt.timedelta(days=1),
            published_at=v2_published,
            published_by=users["sales"],
            revision=5,
        )
        for version, drafted_days in ((v1, 5), (v2, 4)):
            for side, username in (("marketing", "marketing"), ("sales", "sales")):
                signoff = SignOff.objects.create(
                    version=version, side=side, user=users[username], revision=version.revision
                )
                SignOff.objects.filter(pk=signoff.pk).update(signed_at=version.published_at - dt.timedelta(hours=3))
            version.created_at = version.published_at - dt.timedelta(days=drafted_days)
            AgreementVersion.objects.filter(pk=version.pk).update(created_at=version.created_at)
        self.agreement_history(users, personas, v1, v2)
        return personas, v1, v2

    def agreement_history(self, users: dict[str, User], personas: list[Persona], v1, v2) -> None:
        """The audit trail of both versions, as the portal would have written it: who started,
        edited, proposed, signed and published each one, and when (the versions' and sign-offs'
        own times)."""
        names = {persona.id: persona.name for persona in personas}
        v2_changes = spec_diff.spec_changes(v1.spec, v2.spec, names)
        half = max(1, len(v2_changes) // 2)
        v1_edits = [
            [spec_diff.Change("fit_rules", "added", "Wrote the fit and behaviour rules and the MQL threshold")],
            [spec_diff.Change("sla", "added", "Set the SLA response times and the reject and recycle reasons")],
        ]
        Action = AgreementEvent.Action
        marketing, sales = users["marketing"], users["sales"]
        rows = []
        for version, author, other, started, edits in (
            (v1, marketing, sales, "Started version 1", v1_edits),
            (v2, sales, marketing, "Started version 2 from version 1", [v2_changes[:half], v2_changes[half:]]),
        ):
            rows.append((version, Action.CREATED, author, version.created_at, 1, started, {}))
            for i, (editor, changes) in enumerate(((author, edits[0]), (other, edits[1]))):
                at = version.created_at + dt.timedelta(days=1 + i, hours=2)
                rows.append((version, Action.SAVED, editor, at, 2 + i, spec_diff.summary(changes),
                             {"changes": [c.text for c in changes]}))  # fmt: skip
            rows.append(
                (version, Action.PROPOSED, author, version.proposed_at, version.revision,
                 f"Proposed revision {version.revision} for sign-off", {})
            )  # fmt: skip
            for signoff in version.signoffs.select_related("user").order_by("side"):
                rows.append(
                    (version, Action.SIGNED, signoff.user, signoff.signed_at, version.revision,
                     f"Signed for {signoff.side} (revision {version.revision})", {"side": signoff.side})
                )  # fmt: skip
            if version.number == 2:
                rows.append((v1, Action.RETIRED, sales, version.published_at, v1.revision, "Replaced by version 2",
                             {"replaced_by": 2}))  # fmt: skip
            retiring = ", retiring version 1" if version.number == 2 else ""
            rows.append(
                (version, Action.PUBLISHED, version.published_by, version.published_at, version.revision,
                 f"Published version {version.number}{retiring}", {})
            )  # fmt: skip
        events = AgreementEvent.objects.bulk_create(
            AgreementEvent(version=version, action=action, actor=actor, revision=revision, summary=summary,
                           details=details)
            for version, action, actor, _, revision, summary, details in rows
        )  # fmt: skip
        # ``at`` is stamped on insert; the history happened weeks ago.
        for event, row in zip(events, rows, strict=True):
            event.at = row[3]
        AgreementEvent.objects.bulk_update(events, ["at"])

    # --- accounts and leads ------------------------------------------------------------------
    def make_accounts(self) -> list[dict]:
        rng = self.rng
        count = max(40, self.n_leads // 4)
        accounts, used = [], set()
        next_id = (Account.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        countries = list(COUNTRY_WEIGHTS)
        country_w = [COUNTRY_WEIGHTS[c] for c in countries]
        for i in range(count):
            base = rng.choice(NAME_PARTS_A) + rng.choice(NAME_PARTS_B)
            name = base.capitalize() if base[0].islower() else base
            domain = base.lower().replace(" ", "")
            n = 1
            while domain in used:
                n += 1
                domain = f"{base.lower()}{n}"
            used.add(domain)
            tld = rng.choice((".com", ".com", ".io", ".co", ".net"))
            low, high = SIZE_BANDS[rng.choices(range(len(SIZE_BANDS)), weights=SIZE_WEIGHTS)[0]]
            employees = rng.randint(low, high)
            country = rng.choices(countries, weights=country_w)[0]
            unknown = rng.random()
            accounts.append(
                {
                    "id": next_id + i,
                    "domain": domain + tld,
                    "name": name + rng.choice(NAME_SUFFIX),
                    "industry": rng.choice(vocab.INDUSTRIES) if unknown > 0.04 else "",
                    "employees": employees if unknown > 0.08 else None,
                    "annual_revenue": int(employees * rng.uniform(60_000, 350_000)) if unknown > 0.2 else None,
                    "country": country,
                    "region": vocab.region_for_country(country),
                }
            )
        return accounts

    def make_leads(self, accounts: list[dict], personas: list[Persona]) -> list[SimLead]:
        rng = self.rng
        next_id = (Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        sims, emails = [], set()
        span = (self.anchor - self.start).total_seconds()
        for i in range(self.n_leads):
            account = rng.choice(accounts)
            seniority = _weighted(rng, SENIORITY_WEIGHTS)
            department = rng.choice(list(TITLES[seniority]))
            title = rng.choice(TITLES[seniority][department])
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".lower().replace("'", "")
            domain = account["domain"]
            roll = rng.random()
            if seniority == "student" or roll < 0.05:
                domain = rng.choice(vocab.FREE_EMAIL_DOMAINS)
            elif roll < 0.055:
                domain = rng.choice(vocab.COMPETITOR_DOMAINS)
            # The intake's own rule: every seeded address is one the API and a CSV import would take.
            email = clean_email(f"{local}@{domain}")
            n = 1
            while email in emails:
                n += 1
                email = clean_email(f"{local}{n}@{domain}")
            emails.add(email)
            # Leads arrive at a steady pace over the whole history.
            created = self.start + dt.timedelta(seconds=span * rng.random())
            created = min(created, self.anchor - dt.timedelta(minutes=5))
            bant_known = rng.random() < 0.35
            fields = {
                "first_name": first,
                "last_name": last,
                "job_title": title,
                "seniority": seniority,
                "department": department,
                "phone": f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
                if rng.random() < 0.6
                else "",
                "budget": rng.choice(("confirmed", "planned", "planned", "none")) if bant_known else "",
                "authority": rng.choice(("decision_maker", "influencer", "none")) if bant_known else "",
                "need": rng.choice(("urgent", "identified", "identified", "none")) if bant_known else "",
                "timeline": rng.choice(("this_quarter", "next_quarter", "this_year", "none")) if bant_known else "",
                "source": _weighted(rng, SOURCE_WEIGHTS),
                "campaign": rng.choice(CAMPAIGNS),
            }
            fields["persona_id"] = persona_for(title, seniority, department, personas)
            sim = SimLead(id=next_id + i, account=account, email=email, fields=fields, created_at=created)
            self.add_activities(sim)
            sims.append(sim)
        return sims

    def add_activities(self, sim: SimLead) -> None:
        rng = self.rng
        life = (self.anchor - sim.created_at).total_seconds()
        # Background activity accrues with time (about one touch every two weeks), so young leads
        # are not artificially "hotter" than old ones inside the scoring windows.
        weeks_alive = life / (7 * 86400)
        count = min(14, int(rng.expovariate(1 / max(0.3, 0.55 * weeks_alive))) + 1)
        for _ in range(count):
            at = sim.created_at + dt.timedelta(seconds=life * rng.random())
            sim.activities.append((_weighted(rng, NOISE), at))
        # About one lead in five shows buying intent at some point.
        if rng.random() < 0.24:
            # Intent usually shows within days of arriving (a campaign response), sometimes weeks later.
            burst_at = sim.created_at + dt.timedelta(days=min(rng.expovariate(1 / 6), 60))
            for _ in range(rng.randint(1, 4)):
                at = burst_at + dt.timedelta(hours=rng.uniform(0, 72))
                if at < self.anchor:
                    sim.activities.append((_weighted(rng, INTENT), at))
        if rng.random() < 0.02:
            sim.activities.append(("unsubscribe", sim.created_at + dt.timedelta(seconds=life * rng.random())))
        sim.activities.sort(key=lambda a: a[1])

    # --- lifecycle ---------------------------------------------------------------------------
    def facts(self, sim: SimLead) -> dict:
        account = sim.account or {}
        return {
            "industry": account.get("industry"),
            "employees": account.get("employees"),
            "annual_revenue": account.get("annual_revenue"),
            "country": account.get("country"),
            "region": account.get("region"),
            "job_title": sim.fields["job_title"],
            "seniority": sim.fields["seniority"],
            "department": sim.fields["department"],
            "persona": sim.fields["persona_id"],
            "budget": sim.fields["budget"],
            "authority": sim.fields["authority"],
            "need": sim.fields["need"],
            "timeline": sim.fields["timeline"],
            "source": sim.fields["source"],
            "email_domain": sim.email.split("@")[1],
        }

    def move(
        self, sim: SimLead, to: str, at: dt.datetime, *, actor=None, reason="", note="", version=None, result=None
    ):
        sim.transitions.append(
            {
                "from_stage": sim.stage if sim.transitions else "",
                "to_stage": to,
                "at": at,
                "actor_id": actor,
                "owner_id": sim.owner_id,
                "reason_code": reason,
                "note": note,
                "agreement_version_id": version.id if version else None,
                "score": result.total if result else None,
                "grade": result.grade if result else "",
            }
        )
        sim.stage = to

    def version_at(self, at: dt.datetime) -> AgreementVersion:
        return self.v1 if at < self.v2.published_at else self.v2

    def respond_delay(self, sim: SimLead, mql_at: dt.datetime, spec: dict) -> dt.datetime:
        """When the SDR first acts: mostly inside the SLA, one in eight late."""
        due = sla_due_at(spec, mql_at, sim.transitions[-1]["grade"] or "D")
        budget = (due - mql_at).total_seconds()
        fraction = self.rng.uniform(1.05, 2.5) if self.rng.random() < 0.125 else self.rng.uniform(0.05, 0.95)
        return mql_at + dt.timedelta(seconds=budget * fraction)

    def simulate(self, sim: SimLead) -> None:
        rng, anchor = self.rng, self.anchor
        self.move(sim, Stage.NEW, sim.created_at)
        facts = self.facts(sim)
        # Knock-outs are caught the moment the lead arrives.
        first = score_lead(facts, {}, self.version_at(sim.created_at).spec)
        if first.knocked_out:
            version = self.version_at(sim.created_at)
            at = sim.created_at + dt.timedelta(minutes=rng.randint(1, 30))
            hit = next(h for h in first.breakdown if h.section == "knockout")
            self.move(sim, Stage.DISQUALIFIED, at, reason="knocked_out", note=hit.label, version=version, result=first)
            return
        mql_at, version, result = self.first_qualifying(sim, facts)
        nurture_at = sim.created_at + dt.timedelta(days=rng.randint(5, 14))
        if mql_at is None or mql_at >= anchor:
            if nurture_at < anchor and rng.random() < 0.7:
                self.move(sim, Stage.NURTURE, nurture_at, reason="nurture_program", note="Enrolled in nurture")
            return
        if nurture_at < mql_at and rng.random() < 0.5:
            self.move(sim, Stage.NURTURE, nurture_at, reason="nurture_program", note="Enrolled in nurture")
        self.mql_pass(sim, mql_at, version, result, second=False)

    def first_qualifying(self, sim: SimLead, facts: dict):
        """The first activity after which the agreement in force made the lead an MQL (or Nones).

        Fit does not change over time, so it is scored once per version; only activities that
        can raise the score are checked (windows and decay only ever lower it).
        """
        base: dict = {}
        counts: dict[str, int] = {}
        for kind, _ in sim.activities:
            counts[kind] = counts.get(kind, 0) + 1
        for kind, at in sim.activities:
            version = self.version_at(at)
            if kind not in self.positive_kinds[version.id]:
                continue
            if version.id not in base:
                fit = score_lead(facts, {}, version.spec)
                # Upper bound: every activity the lead ever has, inside every window, undecayed.
                # A lead that cannot reach the threshold even then never qualifies under this version.
                best = sum(
                    min(r["points"] * counts.get(r["kind"], 0), r["cap"] if r.get("cap") is not None else 10**9)
                    for r in version.spec["behaviour_rules"]
                    if r["points"] > 0
                )
                hopeless = fit.knocked_out or fit.fit + best < version.spec["mql_threshold"]
                base[version.id] = (fit, hopeless)
            fit, hopeless = base[version.id]
            if hopeless:
                continue
            spec = version.spec
            weights = _weights_at(sim, spec, at)
            engagement = sum(
                behaviour_points(r, weights[r["id"]]) for r in spec["behaviour_rules"] if r["id"] in weights
            )
            if fit.fit + engagement >= spec["mql_threshold"]:
                result = score_lead(facts, weights, spec)
                return at + dt.timedelta(minutes=self.rng.randint(1, 20)), version, result
        return None, None, None

    def mql_pass(self, sim: SimLead, mql_at: dt.datetime, version, result, *, second: bool) -> None:
        rng, anchor = self.rng, self.anchor
        sim.owner_id = self.next_sdr()
        sim.assignments.append(
            {"from_owner_id": None, "to_owner_id": sim.owner_id, "reason": "round_robin", "at": mql_at}
        )
        self.move(sim, Stage.MQL, mql_at, version=version, result=result)
        sim.mql_at = mql_at
        sim.sla_due_at = sla_due_at(version.spec, mql_at, result.grade or "D")
        sim.first_action_at = None
        acted = self.respond_delay(sim, mql_at, version.spec)
        if anchor - mql_at < dt.timedelta(days=3) and rng.random() < 0.4:
            acted = anchor + dt.timedelta(hours=1)  # a backlog: the inbox is never empty on Monday morning
        if acted >= anchor:
            return  # still open in the inbox
        sim.first_action_at = acted
        roll = rng.random()
        sdr = sim.owner_id
        if roll < 0.20:
            code = _weighted(
                rng, {"bad_fit": 35, "bad_data": 15, "no_intent": 30, "existing_customer": 8, "duplicate": 5}
            )
            self.move(sim, Stage.REJECTED, acted, actor=sdr, reason=code, note="", version=version, result=result)
            return
        if roll < 0.30 and not second:
            code = _weighted(rng, {"no_budget": 40, "bad_timing": 30, "no_response": 20, "too_early": 10})
            sim.recycled_at = acted
            sim.revisit_on = (acted + dt.timedelta(days=rng.randint(30, 90))).date()
            self.move(sim, Stage.NURTURE, acted, actor=sdr, reason=code, note="Revisit later", version=version)
            sim.owner_id = None
            # Some recycled leads come back with fresh intent and start a new clock.
            if rng.random() < 0.3:
                back = acted + dt.timedelta(days=rng.randint(10, 40))
                if back < anchor - dt.timedelta(hours=2):
                    sim.activities.append(("demo_request", back))
                    sim.activities.append(("pricing_page_visit", back + dt.timedelta(minutes=5)))
                    sim.activities.sort(key=lambda a: a[1])
                    v = self.version_at(back)
                    res = score_lead(self.facts(sim), _weights_at(sim, v.spec, back + dt.timedelta(minutes=6)), v.spec)
                    if res.qualifies:
                        self.mql_pass(sim, back + dt.timedelta(minutes=10), v, res, second=True)
            return
        self.move(sim, Stage.SAL, acted, actor=sdr, version=version, result=result)
        self.follow_up(sim, acted, version.spec)
        if rng.random() < 0.34:
            sql_at = acted + dt.timedelta(days=rng.uniform(2, 20))
            sim.attempts = [a for a in sim.attempts if a[2] < sql_at]  # attempts stop once the lead is an SQL
            if sql_at >= anchor:
                return
            sim.opportunity_amount = round(rng.uniform(8_000, 180_000), -2)
            self.move(sim, Stage.SQL, sql_at, actor=sdr, version=version, result=result)
            close_at = sql_at + dt.timedelta(days=rng.uniform(10, 45))
            if close_at < anchor:
                outcome = rng.random()
                if outcome < 0.35:
                    self.move(sim, Stage.WON, close_at, actor=self.sales_id, version=version, result=result)
                elif outcome < 0.75:
                    reason = rng.choice(("price", "competitor", "no_decision"))
                    self.move(sim, Stage.LOST, close_at, actor=self.sales_id, reason=reason, version=version)

    def follow_up(self, sim: SimLead, accepted: dt.datetime, spec: dict) -> None:
        """Attempts after acceptance: most SDRs keep the terms, some make the last attempt late, some stop short."""
        rng = self.rng
        terms = (spec.get("sla") or {}).get("followup") or {}
        required, days = int(terms.get("attempts") or 3), int(terms.get("days") or 5)
        calendar = BusinessCalendar.from_spec((spec.get("sla") or {}).get("calendar") or {})
        period = days * calendar.hours_per_day
        roll = rng.random()
        if roll < 0.6:  # kept
            shares = sorted(rng.uniform(0.02, 0.95) for _ in range(required + rng.randint(0, 1)))
        elif roll < 0.8:  # the last attempt after the period
            shares = sorted(rng.uniform(0.02, 0.9) for _ in range(required - 1)) + [rng.uniform(1.05, 1.8)]
        else:  # stopped short
            shares = sorted(rng.uniform(0.02, 0.9) for _ in range(rng.randint(0, required - 1)))
        for i, share in enumerate(shares):
            at = calendar.add_hours(accepted, share * period)
            if at >= self.anchor:
                break
            last = i == len(shares) - 1
            outcome = _weighted(rng, {"no_answer": 40, "voicemail": 30, "connected": 20 if last else 5, "replied": 10})
            channel = _weighted(rng, {"call": 55, "email": 35, "social": 10})
            sim.attempts.append((channel, outcome, at, rng.choice(ATTEMPT_NOTES)))

    def next_sdr(self) -> int:
        sdr = self.sdr_ids[self.rr % len(self.sdr_ids)]
        self.rr += 1
        return sdr

    def finalise(self, sim: SimLead) -> dict:
        """Scores of the active version at the anchor; leads the active version would move are moved."""
        spec = self.v2.spec
        result = score_lead(self.facts(sim), _weights_at(sim, spec, self.anchor), spec)
        if sim.stage in (Stage.NEW, Stage.NURTURE) and result.qualifies:
            at = self.anchor - dt.timedelta(minutes=self.rng.randint(5, 5 * 24 * 60))
            if at > sim.transitions[-1]["at"]:
                self.mql_pass(sim, at, self.v2, result, second=True)
        elif sim.stage == Stage.MQL and not result.qualifies:
            at = max(sim.transitions[-1]["at"] + dt.timedelta(minutes=1), self.v2.published_at)
            if at < self.anchor:
                self.move(
                    sim,
                    Stage.NURTURE,
                    at,
                    reason="no_longer_qualifies",
                    note="no longer meets version 2",
                    version=self.v2,
                )
                sim.owner_id = None
        return {
            "fit_score": result.fit,
            "engagement_score": result.engagement,
            "grade": result.grade,
            "knocked_out": result.knocked_out,
            "completeness": result.completeness,
        }

    # --- writing -----------------------------------------------------------------------------
    def build(self) -> dict:
        users = self.build_people()
        personas, self.v1, self.v2 = self.build_agreement(users)
        self.positive_kinds = {
            v.id: {r["kind"] for r in v.spec["behaviour_rules"] if r["points"] > 0} for v in (self.v1, self.v2)
        }
        self.sdr_ids = [users[f"sdr{i}"].id for i in range(1, 5)]
        self.sales_id = users["sales"].id
        self.rr = 0
        accounts = self.make_accounts()
        sims = self.make_leads(accounts, personas)
        lead_rows, activity_rows, transition_rows, assignment_rows, attempt_rows = [], [], [], [], []
        for sim in sims:
            self.simulate(sim)
            scores = self.finalise(sim)
            last = sim.transitions[-1]["at"]
            lead_rows.append(
                (
                    sim.id,
                    sim.email,
                    sim.email.split("@")[1],
                    sim.fields["first_name"],
                    sim.fields["last_name"],
                    sim.fields["job_title"],
                    sim.fields["seniority"],
                    sim.fields["department"],
                    sim.fields["phone"],
                    sim.account["id"],
                    sim.fields["persona_id"],
                    sim.fields["budget"],
                    sim.fields["authority"],
                    sim.fields["need"],
                    sim.fields["timeline"],
                    sim.fields["source"],
                    sim.fields["campaign"],
                    sim.stage,
                    self.team.id,
                    sim.owner_id if sim.stage in (Stage.MQL, Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST) else None,
                    scores["fit_score"],
                    scores["engagement_score"],
                    scores["grade"],
                    scores["knocked_out"],
                    scores["completeness"],
                    self.v2.id,
                    self.anchor,
                    sim.mql_at,
                    sim.sla_due_at,
                    sim.first_action_at,
                    sim.recycled_at,
                    sim.revisit_on,
                    sim.opportunity_amount,
                    sim.created_at,
                    max(last, sim.activities[-1][1]) if sim.activities else last,
                )
            )
            for kind, at in sim.activities:
                activity_rows.append((sim.id, kind, at, None, "{}", at))
            transition_rows.extend({"lead_id": sim.id, **t} for t in sim.transitions)
            for a in sim.assignments:
                assignment_rows.append((sim.id, a["from_owner_id"], a["to_owner_id"], a["reason"], None, a["at"]))
            sal_owner = next((t["owner_id"] for t in reversed(sim.transitions) if t["to_stage"] == Stage.SAL), None)
            for channel, outcome, at, note in sim.attempts:
                attempt_rows.append((sim.id, channel, outcome, note, at, sal_owner or self.sdr_ids[0], at))
        account_rows = [
            (
                a["id"],
                a["domain"],
                a["name"],
                a["industry"],
                a["employees"],
                a["annual_revenue"],
                a["country"],
                a["region"],
                self.start,
            )
            for a in accounts
        ]
        copy_rows(
            Account,
            ["id", "domain", "name", "industry", "employees", "annual_revenue", "country", "region", "created_at"],
            account_rows,
        )
        copy_rows(Lead, LEAD_COLUMNS, lead_rows)
        copy_rows(Activity, ["lead_id", "kind", "occurred_at", "external_id", "details", "created_at"], activity_rows)
        transitions_add(transition_rows, by="demo")
        copy_rows(Assignment, ["lead_id", "from_owner_id", "to_owner_id", "reason", "actor_id", "at"], assignment_rows)
        copy_rows(
            FollowUpAttempt, ["lead_id", "channel", "outcome", "note", "at", "logged_by_id", "logged_at"], attempt_rows
        )
        reset_sequences([Account, Lead])
        last_at = {}
        for sim in sims:
            for a in sim.assignments:
                last_at[a["to_owner_id"]] = max(last_at.get(a["to_owner_id"], a["at"]), a["at"])
        for member in TeamMember.objects.filter(user_id__in=last_at):
            member.last_assigned_at = last_at[member.user_id]
            member.save(update_fields=["last_assigned_at"])
        return {
            "accounts": len(account_rows),
            "leads": len(lead_rows),
            "activities": len(activity_rows),
            "transitions": len(transition_rows),
        }


LEAD_COLUMNS = [
    "id",
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "job_title",
    "seniority",
    "department",
    "phone",
    "account_id",
    "persona_id",
    "budget",
    "authority",
    "need",
    "timeline",
    "source",
    "campaign",
    "stage",
    "team_id",
    "owner_id",
    "fit_score",
    "engagement_score",
    "grade",
    "knocked_out",
    "completeness",
    "scored_version_id",
    "scored_at",
    "mql_at",
    "sla_due_at",
    "first_action_at",
    "recycled_at",
    "revisit_on",
    "opportunity_amount",
    "created_at",
    "updated_at",
]


def reset_sequences(models: list) -> None:
    if connection.vendor != "postgresql":
        return
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def demo_present() -> bool:
    return Lead.objects.exists() or AgreementVersion.objects.exists()


def wipe(*, people: bool = False) -> None:
    """Remove every lead, account and agreement (``--reset``); with ``people`` also demo users and teams."""
    from alignment.models import Comment

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = [m._meta.db_table for m in (FollowUpAttempt, Activity, Transition, Assignment, Lead, Account)]
            # Deferred foreign-key checks from earlier writes in this transaction must fire first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    for model in (FollowUpAttempt, Activity, Transition, Assignment, Lead, Account, Comment, SignOff):
        model.objects.all().delete()
    AgreementVersion.objects.update(based_on=None)
    AgreementVersion.objects.all().delete()
    Persona.history.all().delete()
    Persona.objects.all().delete()
    if people:
        TeamMember.objects.all().delete()
        Team.objects.all().delete()
        User.objects.filter(username__in=[u[0] for u in DEMO_USERS]).delete()


def seed(*, leads: int, weeks: int, seed: int, anchor: dt.datetime | None = None, out=None) -> dict:
    anchor = anchor or timezone.now().replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        return DemoBuilder(leads=leads, weeks=weeks, seed=seed, anchor=anchor, out=out).build()
