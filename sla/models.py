from __future__ import annotations

from django.conf import settings
from django.db import models

from sla.weeks import iso_week_label


class BusinessHour(models.Model):
    """One UTC hour of an agreement's business calendar, with the business seconds before it.

    A lookup table so that SQL can measure business time: the business seconds elapsed up to an
    instant ``t`` are ``cum_seconds + clamp(t - hour_start - open_from, 0, open_to - open_from)``
    for the row whose ``hour_start`` is ``t`` truncated to the hour, and the business time between
    two instants is the difference. It is derived entirely from the calendar (``sla.clock``
    rebuilds it when the calendar changes) and holds no figures.
    """

    calendar_key = models.CharField(max_length=16, help_text="Hash of the calendar terms this row belongs to.")
    hour_start = models.DateTimeField()
    cum_seconds = models.BigIntegerField(help_text="Business seconds from the table's origin to hour_start.")
    open_from = models.PositiveIntegerField(default=0, help_text="Seconds into the hour business time begins.")
    open_to = models.PositiveIntegerField(default=0, help_text="Seconds into the hour business time ends.")

    class Meta:
        constraints = [
            # Figures join every transition to its hour: (calendar_key, hour_start) is the join key.
            models.UniqueConstraint(fields=["calendar_key", "hour_start"], name="sla_businesshour_unique"),
        ]


class Alert(models.Model):
    """One SLA alert: a warning at 75 % of the response time, or a breach, for one MQL pass of a lead."""

    class Threshold(models.TextChoices):
        WARNING = "warning", "75 % of the response time used"
        BREACH = "breach", "Response time breached"

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="sla_alerts")
    mql_transition = models.ForeignKey(
        "leads.Transition", on_delete=models.CASCADE, related_name="+", help_text="The MQL pass this alert is about."
    )
    threshold = models.CharField(max_length=10, choices=Threshold.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    escalated = models.BooleanField(default=False, help_text="The lead was returned to the pool.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The breach job may run twice at once or be retried: one alert per pass and threshold.
            models.UniqueConstraint(fields=["mql_transition", "threshold"], name="sla_alert_once_per_pass"),
        ]
        indexes = [models.Index(fields=["lead", "created_at"], name="sla_alert_lead_idx")]

    def __str__(self) -> str:
        return f"{self.get_threshold_display()} on lead {self.lead_id}"


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user) -> NotificationQuerySet:
        return self.filter(user=user)

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """An in-app message for one person: SLA alerts, weekly reports, and what others did that
    concerns them (agreement steps, comments, rejected leads), also e-mailed."""

    class Kind(models.TextChoices):
        WARNING = "warning", "SLA warning"
        BREACH = "breach", "SLA breach"
        ESCALATION = "escalation", "Returned to pool"
        REPORT = "report", "Weekly report"
        AGREEMENT = "agreement", "Agreement"
        COMMENT = "comment", "Comment"
        MENTION = "mention", "Mention"
        LEAD = "lead", "Lead"
        BACKLOG = "backlog", "MQLs waiting"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sla_notifications")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The unread badge in the nav bar, on every page.
            models.Index(fields=["user", "read_at"], name="sla_notification_unread_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class Backlog(models.Model):
    """An episode of MQLs waiting for an owner in one round-robin team (every SDR full or away).

    The row exists while the episode lasts; it remembers when the team's managers were last told,
    so they hear of it once (and again after a day), not at every routing or sweep.
    """

    team = models.OneToOneField("leads.Team", on_delete=models.CASCADE, related_name="sla_backlog")
    since = models.DateTimeField(help_text="When MQLs were first found waiting in this episode.")
    notified_at = models.DateTimeField(help_text="When the managers were last told.")
    leads = models.PositiveIntegerField(default=0, help_text="Waiting MQLs at the last check.")
    reason = models.CharField(max_length=60, blank=True, help_text="Why they wait, at the last check.")

    def __str__(self) -> str:
        return f"{self.leads} MQLs waiting in team {self.team_id}"


class WeeklyReportQuerySet(models.QuerySet):
    def for_week(self, *, team, iso_year: int, iso_week: int) -> WeeklyReportQuerySet:
        return self.filter(team=team, iso_year=iso_year, iso_week=iso_week)


class WeeklyReport(models.Model):
    """The SLA figures of one team and ISO week as they were when generated. Never updated."""

    team = models.ForeignKey("leads.Team", on_delete=models.PROTECT, related_name="sla_reports")
    iso_year = models.PositiveSmallIntegerField()
    iso_week = models.PositiveSmallIntegerField()
    week_start = models.DateTimeField(help_text="Monday 00:00 in the team's time zone.")
    week_end = models.DateTimeField(help_text="The following Monday 00:00 in the team's time zone.")
    figures = models.JSONField()
    agreement_version = models.ForeignKey(
        "alignment.AgreementVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    generated_at = models.DateTimeField()
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the Monday job generated it.",
    )
    sent_to = models.JSONField(default=list, blank=True, help_text="E-mail addresses the report went to.")

    objects = WeeklyReportQuerySet.as_manager()

    class Meta:
        ordering = ["-iso_year", "-iso_week", "-generated_at", "-id"]
        indexes = [
            # "Has this team's week got a report yet?" (Monday job) and the archive's team filter.
            models.Index(fields=["team", "iso_year", "iso_week"], name="sla_report_team_week_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.team} · {self.week_label}"

    def save(self, *args, **kwargs):
        # A snapshot is evidence of what both sides saw: regenerating creates a new row instead.
        # ``sent_to`` is filled once, right after the e-mail leaves (update_fields=["sent_to"]).
        if self.pk is not None and kwargs.get("update_fields") != ["sent_to"]:
            raise ValueError("A weekly report is immutable; generate a new one instead.")
        super().save(*args, **kwargs)

    @property
    def week_label(self) -> str:
        return iso_week_label(self.iso_year, self.iso_week)

    @property
    def versions_label(self) -> str:
        """The agreement version(s) the week spans, as stored with the figures."""
        stored = (self.figures or {}).get("agreement", {}).get("label")
        if stored:
            return stored
        return f"version {self.agreement_version.number}" if self.agreement_version else "default terms"

    @property
    def week_days(self) -> tuple:
        """Monday and Sunday of the report's ISO week."""
        import datetime as dt

        monday = dt.date.fromisocalendar(self.iso_year, self.iso_week, 1)
        return monday, monday + dt.timedelta(days=6)


class Pass(models.Model):
    """One lifecycle pass — a transition into MQL, SAL, SQL or won — with how it ended, derived from the log.

    A read model of ``leads.Transition`` that makes the dashboard cheap at a million leads: the
    figures read these rows instead of finding every pass's next transition and business time
    per request. It is never edited by hand: inserting a transition (or changing a lead's team,
    source, persona or owner) marks the lead dirty in the same database transaction (triggers
    from migration 0002), and ``sla.passes.refresh`` (a task, never a page) recomputes the dirty
    leads' passes from the log. ``pass_id`` is the id of the transition that started the pass.
    """

    pass_id = models.BigIntegerField(primary_key=True)
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    stage = models.CharField(max_length=20)
    start_at = models.DateTimeField()
    start_owner_id = models.BigIntegerField(null=True, help_text="Transition.owner of the starting transition.")
    grade = models.CharField(max_length=1)
    version_id = models.BigIntegerField(null=True)
    # The lead as it is now (kept fresh by the lead trigger): filters and the owner of an open pass.
    team_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=20, blank=True)
    persona_id = models.BigIntegerField(null=True)
    owner_id = models.BigIntegerField(null=True)
    end_id = models.BigIntegerField(null=True)
    end_at = models.DateTimeField(null=True)
    end_to_stage = models.CharField(max_length=20, null=True)
    end_actor_id = models.BigIntegerField(null=True)
    end_owner_id = models.BigIntegerField(null=True)
    end_reason_code = models.CharField(max_length=40, null=True)
    calendar_key = models.CharField(max_length=16)
    start_cum = models.FloatField(help_text="Business seconds from the hour table's origin to start_at.")
    end_cum = models.FloatField(null=True, help_text="Business seconds from the origin to end_at.")

    class Meta:
        indexes = [
            # Dashboard and report windows: passes of one stage starting within a range.
            models.Index(fields=["stage", "start_at"], name="sla_pass_stage_start_idx"),
            # Open passes (breach job, at-risk tile, follow-ups) use sla_pass_open_cover_idx: a partial
            # (stage, start_at) index that on PostgreSQL INCLUDEs every column the figures read, so the
            # dashboard's open passes come from an index-only scan (migration 0003, raw SQL).
            models.Index(fields=["lead"], name="sla_pass_lead_idx"),
        ]


class DirtyLead(models.Model):
    """Leads whose passes must be recomputed; written by database triggers, consumed by ``sla.passes``."""

    lead_id = models.BigIntegerField()


class PassState(models.Model):
    """Singleton: the calendar and hour-table origin the stored business seconds were measured with."""

    calendar_key = models.CharField(max_length=16)
    hours_origin = models.DateTimeField()
    built_at = models.DateTimeField()
    rollup_key = models.CharField(
        max_length=16, blank=True, help_text="Fingerprint of the terms sla_rollup was built with; blank = not built."
    )
    rollup_built_at = models.DateTimeField(null=True, blank=True)
    rollup_build = models.CharField(
        max_length=32, blank=True, help_text="Random id of the last full roll-up build (part of cache keys)."
    )
    refreshed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last refresh finished: the figures are as of this instant."
    )


class RollupDay(models.Model):
    """Days whose roll-up rows lag behind the pass table (``stale``): figures read those days' passes.

    The roll-up itself is the table ``sla_rollup`` (migration 0003, raw SQL: ``vals`` is a
    ``double precision[]``), read and written only through ``sla.rollup``.
    """

    day = models.DateField(unique=True)
    stale = models.BooleanField(default=True)
    generation = models.PositiveIntegerField(default=0, help_text="Bumped whenever the day's rows are rebuilt.")
