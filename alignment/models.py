from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from alignment import spec as vocab


class PersonaQuerySet(models.QuerySet):
    def active(self) -> PersonaQuerySet:
        return self.filter(archived_at__isnull=True)


class Persona(models.Model):
    """An ideal-customer profile both sides agree on. A lead matches by title keywords, seniority, department."""

    class BuyingRole(models.TextChoices):
        DECISION_MAKER = "decision_maker", "Decision maker"
        INFLUENCER = "influencer", "Influencer"
        CHAMPION = "champion", "Champion"
        USER = "user", "User"

    name = models.CharField(max_length=120, unique=True)
    summary = models.TextField(blank=True)
    title_keywords = models.JSONField(default=list, blank=True, help_text="Words found in matching job titles.")
    seniorities = models.JSONField(default=list, blank=True)
    departments = models.JSONField(default=list, blank=True)
    buying_role = models.CharField(max_length=20, choices=BuyingRole.choices, default=BuyingRole.DECISION_MAKER)
    challenges = models.TextField(blank=True)
    motivations = models.TextField(blank=True)
    interests = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()
    objects = PersonaQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgreementVersionQuerySet(models.QuerySet):
    def active(self) -> AgreementVersion | None:
        return self.filter(status=AgreementVersion.Status.ACTIVE).order_by("-number").first()


class AgreementVersion(models.Model):
    """One version of the agreement. Immutable once proposed; ``revision`` guards concurrent edits."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PROPOSED = "proposed", "Proposed for sign-off"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        ABANDONED = "abandoned", "Abandoned"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    spec = models.JSONField(default=vocab.default_spec)
    revision = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=200, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    proposed_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    model_card = models.JSONField(
        null=True,
        blank=True,
        help_text="Set when the version began as a proposal from outcomes: how it was fitted and how good it is.",
    )

    objects = AgreementVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-number"]
        constraints = [
            # At most one active version and at most one open draft per organisation.
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="active"), name="agreement_one_active"
            ),
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status__in=["draft", "proposed"]),
                name="agreement_one_open_draft",
            ),
        ]

    def __str__(self) -> str:
        return f"Version {self.number}"


class SignOff(models.Model):
    """A side's signature on a given revision; voided (not deleted) by any later edit."""

    class Side(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        SALES = "sales", "Sales"

    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="signoffs")
    side = models.CharField(max_length=10, choices=Side.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revision = models.PositiveIntegerField()
    signed_at = models.DateTimeField(auto_now_add=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["signed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "side"], condition=models.Q(voided_at__isnull=True), name="signoff_one_live_per_side"
            )
        ]


class Comment(models.Model):
    """A comment on a version, optionally anchored to one rule (by the rule's ``id`` in the spec)."""

    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="comments")
    rule_id = models.CharField(max_length=40, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # Threads of a version (and of one rule), and the unresolved count.
            models.Index(fields=["version", "rule_id", "created_at"], name="comment_version_rule_idx"),
        ]


class AgreementRevision(models.Model):
    """The spec as it stood after each save of a version: the base of every three-way merge."""

    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="revisions")
    revision = models.PositiveIntegerField()
    spec = models.JSONField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    based_on_revision = models.PositiveIntegerField(
        null=True, blank=True, help_text="The revision the author was editing (older than revision - 1 means merged)."
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version", "revision"]
        constraints = [
            # A merge reads the base revision's spec by (version, revision).
            models.UniqueConstraint(fields=["version", "revision"], name="agreement_revision_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.version} rev. {self.revision}"


class AgreementEvent(models.Model):
    """Append-only audit trail of everything that happened to a version: who, when, what."""

    class Action(models.TextChoices):
        CREATED = "created", "Started the draft"
        RENAMED = "renamed", "Renamed the draft"
        SAVED = "saved", "Saved changes"
        MERGED = "merged", "Saved changes (merged with a concurrent edit)"
        PROPOSED = "proposed", "Proposed for sign-off"
        REOPENED = "reopened", "Reopened for editing"
        SIGNED = "signed", "Signed"
        SIGNATURE_VOIDED = "signature_voided", "Signature voided"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"
        ABANDONED = "abandoned", "Abandoned"
        COMMENTED = "commented", "Commented"
        COMMENT_RESOLVED = "comment_resolved", "Resolved a comment"
        COMMENT_REOPENED = "comment_reopened", "Reopened a comment"
        FROM_DATA = "from_data", "Filled from a proposal from outcomes"

    version = models.ForeignKey(AgreementVersion, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty means the system.",
    )
    at = models.DateTimeField(auto_now_add=True)
    revision = models.PositiveIntegerField(null=True, blank=True)
    summary = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # The activity feed of one version, newest first.
            models.Index(fields=["version", "at"], name="agreement_event_version_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.version}: {self.get_action_display()}"


class PersonaComment(models.Model):
    """Discussion on a persona, kept next to its change history."""

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


# --- The data dictionary: the organisation's attributes, their values and its activity kinds ------


class Attribute(models.Model):
    """A fact rules, filters and intake speak of. Built-in ones live in their own columns; the
    organisation's own live in the ``attributes`` JSON of the lead or the account."""

    class Object(models.TextChoices):
        LEAD = "lead", "Lead"
        ACCOUNT = "account", "Account"

    class Type(models.TextChoices):
        CHOICE = "choice", "Choice"
        MULTI_CHOICE = "multi_choice", "Multiple choice"
        NUMBER = "number", "Number"
        YES_NO = "yes_no", "Yes / no"
        DATE = "date", "Date"
        TEXT = "text", "Text"

    key = models.SlugField(max_length=60, unique=True, help_text="Stable name rules and integrations use.")
    label = models.CharField(max_length=120)
    help = models.TextField(blank=True)
    object = models.CharField(max_length=10, choices=Object.choices, default=Object.LEAD)
    type = models.CharField(max_length=15, choices=Type.choices)
    before_contact = models.BooleanField(
        default=True, help_text="Known before first contact (off: filled in by sales, kept out of evidence)."
    )
    builtin = models.BooleanField(default=False, help_text="Stored in its own column of the lead or account.")
    unknown_aliases = models.JSONField(
        default=list,
        blank=True,
        help_text='Cell values that mean "nobody said" for this attribute ("Select", "N/A"): imports read them '
        "as unknown.",
    )
    archived = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "key"]

    def __str__(self) -> str:
        return self.label


class AttributeChoice(models.Model):
    """One value of a choice attribute; ``aliases`` are other spellings intake maps onto it."""

    attribute = models.ForeignKey(Attribute, on_delete=models.CASCADE, related_name="choices")
    value = models.CharField(max_length=200)
    label = models.CharField(max_length=200)
    aliases = models.JSONField(default=list, blank=True)
    archived = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attribute", "order", "id"]
        constraints = [
            # Values compare case-insensitively everywhere (rules, intake, merges).
            models.UniqueConstraint("attribute", models.functions.Lower("value"), name="attribute_choice_value_ci"),
        ]

    def __str__(self) -> str:
        return self.label


class ActivityKind(models.Model):
    """Something a lead can do; behaviour rules score kinds, intake refuses kinds not listed."""

    key = models.SlugField(max_length=30, unique=True)
    label = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    aliases = models.JSONField(default=list, blank=True)
    archived = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "key"]

    def __str__(self) -> str:
        return self.label


class Country(models.Model):
    """An ISO 3166-1 country and the sales region rules on "region" compare (editable)."""

    code = models.CharField(max_length=2, unique=True)
    name = models.CharField(max_length=120)
    aliases = models.JSONField(default=list, blank=True)
    region = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return self.name


class DictionaryChange(models.Model):
    """Append-only record of every edit of the dictionary: who, when, what."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=30)
    subject = models.CharField(max_length=200, help_text="The attribute, choice or activity kind changed.")
    summary = models.TextField()
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"], name="dictionary_change_at_idx")]

    def __str__(self) -> str:
        return self.summary
