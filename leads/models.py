from __future__ import annotations

import datetime
import hashlib

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from alignment import spec as vocab


class Stage(models.TextChoices):
    NEW = "new", "New"
    NURTURE = "nurture", "Nurture"
    MQL = "mql", "MQL"
    SAL = "sal", "SAL"
    SQL = "sql", "SQL"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    REJECTED = "rejected", "Rejected"
    DISQUALIFIED = "disqualified", "Disqualified"


def list_weekdays() -> list[int]:
    """Monday to Friday: a new team's working days."""
    return [0, 1, 2, 3, 4]


# Stages sales has taken ownership of: scoring updates their scores but never moves them.
WORKED_STAGES = (Stage.SAL, Stage.SQL, Stage.WON, Stage.LOST)
FUNNEL_STAGES = (Stage.MQL, Stage.SAL, Stage.SQL, Stage.WON)


class Team(models.Model):
    """A sales team: its SDRs, its manager, its time zone and how MQLs reach its SDRs."""

    class Routing(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin on MQL"
        PULL = "pull", "Pull ('Next lead' button)"

    name = models.CharField(max_length=120, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    time_zone = models.CharField(max_length=64, default="Europe/London")
    routing = models.CharField(max_length=20, choices=Routing.choices, default=Routing.ROUND_ROBIN)
    escalate_breaches = models.BooleanField(
        default=False, help_text="Return breached, unaccepted leads to the unassigned pool."
    )
    working_days = models.JSONField(default=list_weekdays, help_text="Days the team works, Monday = 0.")
    work_start = models.TimeField(default=datetime.time(9, 0), help_text="When the team's day starts (its time zone).")
    work_end = models.TimeField(default=datetime.time(17, 30), help_text="When the team's day ends (its time zone).")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamEvent(models.Model):
    """Append-only record of a change to a team's settings or to one of its SDRs: who, when, what."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="events")
    member = models.ForeignKey(
        "TeamMember", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Empty: the team."
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()
    changes = models.JSONField(default=list, help_text="One sentence per changed setting, old → new.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The settings page's change history of one team, newest first.
            models.Index(fields=["team", "at"], name="teamevent_team_at_idx"),
        ]


class TeamMember(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="members")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_membership")
    capacity = models.PositiveIntegerField(default=50, help_text="Most open leads (MQL/SAL) this SDR holds at once.")
    away_until = models.DateTimeField(null=True, blank=True, help_text="Out of office until; no new leads routed.")
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Account(models.Model):
    """A company, identified by its web domain."""

    domain = models.CharField(max_length=253, unique=True)
    name = models.CharField(max_length=200)
    industry = models.CharField(max_length=60, blank=True)
    employees = models.PositiveIntegerField(null=True, blank=True)
    annual_revenue = models.BigIntegerField(null=True, blank=True, help_text="USD per year")
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=40, blank=True)
    # The organisation's own account attributes (``alignment.dictionary`` says how each type is stored).
    attributes = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            # The lead list's filters on the organisation's account attributes: containment
            # (``account.attributes @> '{"key": value}'``, ``leads.inbox.filters``). jsonb_path_ops
            # serves exactly @> and is smaller than the default opclass (no ``?`` key lookups, which
            # the list only issues negated, where no index helps). On SQLite: a plain index.
            GinIndex(fields=["attributes"], opclasses=["jsonb_path_ops"], name="account_attributes_gin"),
        ]

    def __str__(self) -> str:
        return self.name


class LeadQuerySet(models.QuerySet):
    def search(self, text: str) -> LeadQuerySet:
        """Leads matching every word of ``text`` (any case) in their e-mail, name, company or title.

        Each word may match a different field, so "Leo Baker", "baker acme" and "leo@acme" all find
        Leo Baker of Acme; a full e-mail is one word and matches the e-mail column.
        """
        for word in text.split()[:8]:  # a pasted paragraph is not a search; eight words narrow enough
            self = self.filter(
                Q(email__icontains=word)
                | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(account__name__icontains=word)
                | Q(job_title__icontains=word)
            )
        return self


class Lead(models.Model):
    """A person who may buy. ``stage`` always equals the ``to_stage`` of the lead's latest Transition."""

    email = models.EmailField(max_length=254)
    # The source system's id: integrations and imports may name a lead by it instead of its e-mail.
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    email_domain = models.CharField(max_length=253, blank=True, help_text="Lower-case part after the @.")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    seniority = models.CharField(max_length=20, choices=vocab.SENIORITIES, blank=True)
    department = models.CharField(max_length=20, choices=vocab.DEPARTMENTS, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    persona = models.ForeignKey(
        "alignment.Persona", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    # BANT
    budget = models.CharField(max_length=20, choices=vocab.BUDGET, blank=True)
    authority = models.CharField(max_length=20, choices=vocab.AUTHORITY, blank=True)
    need = models.CharField(max_length=20, choices=vocab.NEED, blank=True)
    timeline = models.CharField(max_length=20, choices=vocab.TIMELINE, blank=True)

    # The lead's own country (rules read it, else the account's): a free-mail lead has no account.
    country = models.CharField(max_length=2, blank=True, db_default="", help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=40, blank=True, db_default="")
    # The organisation's own lead attributes (``alignment.dictionary`` says how each type is stored).
    # A database default too: bulk loads that write their own INSERTs leave it out.
    attributes = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()), blank=True)

    # The built-in sources label themselves; the Data page may add others (shown as stored).
    source = models.CharField(max_length=60, choices=vocab.SOURCES, blank=True)
    campaign = models.CharField(max_length=120, blank=True)

    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.NEW)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_leads"
    )

    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    # Stored generated column: one rescoring UPDATE writes fit and engagement once, the database adds them.
    score = models.GeneratedField(
        expression=F("fit_score") + F("engagement_score"), output_field=models.IntegerField(), db_persist=True
    )
    grade = models.CharField(max_length=1, blank=True)
    knocked_out = models.BooleanField(default=False)
    completeness = models.PositiveSmallIntegerField(default=0, help_text="% of the definition's fields known")
    # Neither indexed nor checked by the database: a full rescore stamps every row, and an index on
    # the stamp (or a foreign-key check per row at commit) would turn each cheap in-page (HOT) update
    # into a write through every index of the table. The version is locked while it is stamped.
    scored_version = models.ForeignKey(
        "alignment.AgreementVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    scored_at = models.DateTimeField(null=True, blank=True)
    # Set in the transaction that makes a new score necessary (an activity, an edit, an import);
    # cleared by the rescoring pass that takes the request, in a statement before the one that
    # scores, so the score always reads everything the request's transaction committed.
    rescore_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Oldest rescore request not yet taken by a rescoring pass."
    )

    mql_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    first_action_at = models.DateTimeField(null=True, blank=True)
    recycled_at = models.DateTimeField(null=True, blank=True)
    revisit_on = models.DateField(null=True, blank=True)
    opportunity_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("email"),
                name="lead_email_ci_unique",
                violation_error_message="Another lead already has this e-mail; a lead is found by its e-mail.",
            ),
        ]
        indexes = [
            # Inbox queue: open MQLs by SLA urgency (partial: only MQLs are indexed). The queue sorts
            # by (sla_due_at, score DESC, id); PostgreSQL sorts each run of equal due times by score
            # (incremental sort). No index holds a score column: then a rescore that changes scores
            # but no indexed column updates rows in place (HOT), without touching any index.
            models.Index(F("sla_due_at").asc(), "id", name="lead_mql_queue_idx", condition=Q(stage="mql")),
            # "Mine" tab and per-SDR figures.
            models.Index(fields=["owner", "stage"], name="lead_owner_stage_idx"),
            # Inbox "Mine" tab: an SDR's MQLs in queue order. Without it PostgreSQL may walk the whole
            # lead_mql_queue_idx looking for the SDR's 50 leads (190-200 ms on 1M leads, measured).
            models.Index("owner", F("sla_due_at").asc(), "id", name="lead_mine_queue_idx", condition=Q(stage="mql")),
            # Inbox "Accepted" tab: an SDR's SAL/SQL leads in queue order (partial: only those stages).
            models.Index(
                "owner",
                F("sla_due_at").asc(),
                "id",
                name="lead_accepted_queue_idx",
                condition=Q(stage__in=["sal", "sql"]),
            ),
            # Overview counts by stage.
            models.Index(fields=["stage"], name="lead_stage_idx"),
            # API listing: ?updated_since=&cursor=
            models.Index(fields=["updated_at", "id"], name="lead_updated_idx"),
            # Leads waiting for a rescore, oldest request first (the worker's drain, the sweeper,
            # /healthz). Partial: only waiting leads are indexed, and the scoring statement never
            # writes this column, so a rescore still updates rows in place (HOT).
            models.Index(
                "rescore_requested_at",
                "id",
                name="lead_rescore_pending_idx",
                condition=Q(rescore_requested_at__isnull=False),
            ),
            # The lead list's and the inbox's filters on the organisation's own attributes: choices and
            # yes/no by containment (``attributes @> '{"key": value}'``), the one operator
            # jsonb_path_ops serves. A rescore never writes this column, so its updates stay HOT.
            GinIndex(fields=["attributes"], opclasses=["jsonb_path_ops"], name="lead_attributes_gin"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Activity(models.Model):
    """Something a lead did. Append-only."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    # One of the dictionary's activity kinds (``alignment.ActivityKind``), checked by intake.
    kind = models.CharField(max_length=30)
    occurred_at = models.DateTimeField()
    external_id = models.CharField(max_length=200, null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # Retried API batches: the same external activity is stored once.
            models.UniqueConstraint(fields=["external_id"], name="activity_external_id_unique"),
        ]
        indexes = [
            # Scoring aggregates every kind per lead within a window: an index-only scan.
            models.Index(fields=["lead", "kind", "occurred_at"], name="activity_lead_kind_at_idx"),
        ]


# Reason codes the system writes on a transition (scoring moves; the demo's nurture enrolment),
# with what people read. SDRs' reject and recycle reasons come from the agreement instead.
SYSTEM_REASONS = {
    "qualified": "Qualified",
    "no_longer_qualifies": "No longer qualifies",
    "knocked_out": "Knocked out",
    "no_longer_knocked_out": "No longer knocked out",
    "nurture_program": "Nurture programme",
    "undo": "Undone by its author",
}


def reason_label(code: str, agreed: dict[str, str]) -> str:
    """What people read for a transition's reason code: the agreement's words (``agreed``), the
    system's, or the code itself made readable (a reason a later version dropped)."""
    if not code:
        return ""
    return agreed.get(code) or SYSTEM_REASONS.get(code) or code.replace("_", " ").capitalize()


class Transition(models.Model):
    """Append-only lifecycle log: the single source of truth for SLA figures and reports."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty means the system (scoring, SLA jobs).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Lead owner at the time of the transition (per-SDR figures).",
    )
    at = models.DateTimeField()
    reason_code = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)
    agreement_version = models.ForeignKey(
        "alignment.AgreementVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    score = models.IntegerField(null=True, blank=True, help_text="Score at the time of the transition.")
    grade = models.CharField(max_length=1, blank=True)
    # A database default too: the set-based inserts of rescoring and intake name only the columns they set.
    historical = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Imported from the organisation's past (actor: history import): counts in evidence, never in SLA.",
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # A lead's history, and "latest transition of a lead".
            models.Index(fields=["lead", "at", "id"], name="transition_lead_at_idx"),
            # SLA figures: transitions into a stage within a date range.
            models.Index(fields=["to_stage", "at"], name="transition_to_stage_at_idx"),
            # Per-SDR figures within a date range.
            models.Index(fields=["owner", "at"], name="transition_owner_at_idx"),
            models.Index(fields=["at"], name="transition_at_idx"),
            # "History before go-live": the imported past, found without reading the live log.
            models.Index(fields=["at"], condition=Q(historical=True), name="transition_historical_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.from_stage or '∅'} → {self.to_stage}"


class Assignment(models.Model):
    """Who owned a lead from when, and why ("round robin", "claimed", "reassigned by manager")."""

    class Reason(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round robin"
        CLAIMED = "claimed", "Claimed"
        REASSIGNED = "reassigned", "Reassigned by manager"
        ESCALATED = "escalated", "Returned to pool after breach"
        RELEASED = "released", "Released"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead", "at"], name="assignment_lead_at_idx")]


class FollowUpAttempt(models.Model):
    """One attempt to reach an accepted lead (call, e-mail, social): the SAL follow-up terms count these.

    Append-only. ``at`` is when the attempt happened (server time by default; the SDR may back-date
    it by at most ``leads.inbox.followup.BACKDATE_LIMIT``, never before the acceptance);
    ``logged_by`` and ``logged_at`` record who wrote the row and when.
    """

    class Channel(models.TextChoices):
        CALL = "call", "Call"
        EMAIL = "email", "E-mail"
        SOCIAL = "social", "Social"

    class Outcome(models.TextChoices):
        CONNECTED = "connected", "Connected"
        VOICEMAIL = "voicemail", "Voicemail"
        NO_ANSWER = "no_answer", "No answer"
        REPLIED = "replied", "Replied"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="attempts")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    note = models.TextField(blank=True)
    at = models.DateTimeField(help_text="When the attempt happened.")
    logged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    logged_at = models.DateTimeField(help_text="When the attempt was logged (server time).")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # The SLA's follow-up figure: the Nth attempt of a lead after its acceptance; the lead's timeline.
            models.Index(fields=["lead", "at"], name="followup_lead_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.get_channel_display()} at {self.at:%Y-%m-%d %H:%M}"


class Note(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class RescoreJob(models.Model):
    """Progress of one full rescore fan-out (one row per publish or sweep)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SUPERSEDED = "superseded", "Superseded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        PUBLISH = "publish", "Agreement published"
        SWEEP = "sweep", "Sweeper (leads not scored by the active version)"
        MANUAL = "manual", "Started by hand"

    version = models.ForeignKey("alignment.AgreementVersion", on_delete=models.CASCADE, related_name="rescore_jobs")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.PUBLISH)
    total_chunks = models.PositiveIntegerField(default=0)
    done_chunks = models.PositiveIntegerField(default=0)
    leads_total = models.PositiveIntegerField(default=0)
    leads_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    as_of = models.DateTimeField(
        null=True, blank=True, help_text="Score as of this instant (reproducible runs); empty: each chunk's own clock."
    )

    class Meta:
        ordering = ["-created_at"]


class RescoreChunk(models.Model):
    """One id range of a rescore job. ``done_at`` makes a redelivered chunk a no-op."""

    job = models.ForeignKey(RescoreJob, on_delete=models.CASCADE, related_name="chunks")
    id_from = models.BigIntegerField(help_text="First lead id of the range (inclusive).")
    id_to = models.BigIntegerField(help_text="End of the range (exclusive).")
    leads = models.PositiveIntegerField(default=0, help_text="Leads scored in this range.")
    done_at = models.DateTimeField(null=True, blank=True)
    # The lease: whoever holds the chunk (its message in the queue, then the worker that claimed it)
    # holds it until ``lease_expires_at``; a working worker renews it. Once it expires, the sweeper
    # queues the chunk again, so a chunk whose worker died waits minutes, not the broker's hour.
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took it; empty while queued.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker took it.")

    class Meta:
        ordering = ["job", "id_from"]
        constraints = [models.UniqueConstraint(fields=["job", "id_from"], name="rescore_chunk_unique_range")]


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# What a token may do: push leads and activities; change the data dictionary; read figures.
API_SCOPES = ("leads:write", "schema:write", "insights:read")


def all_scopes() -> list[str]:
    return list(API_SCOPES)


class ApiToken(models.Model):
    """A named integration's API key. Only the SHA-256 of the key is stored."""

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=12, help_text="First characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.JSONField(default=all_scopes, blank=True, help_text=f"Any of {', '.join(API_SCOPES)}.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def allows(self, scope: str) -> bool:
        """Does this token carry ``scope`` (``leads:write``, ``schema:write``, ``insights:read``)?"""
        return scope in (self.scopes or [])


class ImportJob(models.Model):
    """A CSV upload through mapping, preview and import; large files import in a Celery task."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        MAPPED = "mapped", "Mapped"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    encoding = models.CharField(max_length=20, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, column, message}]")
    # Empty for scheduled loads (``manage.py import_leads``).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class InsightSettings(models.Model):
    """Organisation-wide choices of the evidence panels (one row, pk 1)."""

    converted = models.CharField(
        max_length=80,
        default="sql",
        help_text="What converted means: sql (reached SQL or won), won, or attribute:<key> of a yes/no attribute.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "insight settings"
        verbose_name_plural = "insight settings"

    def __str__(self) -> str:
        return f"converted = {self.converted}"


class ImportedLead(models.Model):
    """A lead an import created or updated: "See the imported leads" lists exactly these."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="imported")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    created = models.BooleanField(help_text="False: the import updated a lead that existed.")

    class Meta:
        constraints = [
            # One row per lead and import (a file may repeat an e-mail); its index lists an import's leads.
            models.UniqueConstraint(fields=["job", "lead"], name="imported_lead_job_lead_uniq"),
        ]


class LeadEdit(models.Model):
    """A correction of a lead's own fields on its page: who, when, and each field's old and new value."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="edits")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    changes = models.JSONField(help_text='{"field": ["old", "new"], …} in the form\'s words.')

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["lead", "at"], name="lead_edit_lead_at_idx")]  # the lead page's history


class ScorecardJob(models.Model):
    """A proposal fitted from outcomes (``leads.scoring.scorecard``): its request, progress and result.

    Small populations are fitted inside the request; large ones in a Celery task that writes its
    progress here for the progress bar and the API's ``GET /insights/scorecard/{id}``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Fitting"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(help_text="The request: outcome, dates, attributes, max rules, quota or target rate.")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    step = models.CharField(max_length=120, blank=True, help_text="What the fit is doing now.")
    result = models.JSONField(null=True, blank=True, help_text="The proposal: spec, figures and model card.")
    error = models.TextField(blank=True, help_text="Why no proposal came out (too little data, a failure).")
    version = models.ForeignKey(
        "alignment.AgreementVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The draft the proposal was asked from (compared with it on the card).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class ListPreference(models.Model):
    """What one person chose to see on the lead list, kept with them rather than with a browser."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_preference", primary_key=True
    )
    columns = models.JSONField(
        default=list,
        blank=True,
        help_text="Keys of the data dictionary's attributes shown as extra columns (and exported).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Lead list of {self.user}"
