"""SLA writes: alerts and escalation, notifications, due times, weekly report snapshots and their e-mail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import zoneinfo
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from alignment.calendar import sla_due_at
from alignment.models import AgreementVersion
from leads.lifecycle import UNDO_REASON
from leads.models import Assignment, Lead, Stage, Team, Transition
from leads.scoring.rescoring import batches
from portal.access import Role, display_name
from sla import passes
from sla.backlog import backlog_check
from sla.clock import SlaTerms, current_terms
from sla.figures import Scope, alert_candidates, compute, iso_week_bounds, iso_week_label
from sla.models import Alert, Notification, PassState, WeeklyReport
from sla.weeks import previous_iso_week

__all__ = [
    "BreachCheckResult",
    "SlaError",
    "alert_raise",
    "breach_email_send",
    "breaches_check",
    "due_times_fill",
    "figures_refresh",
    "notification_read",
    "notifications_read_all",
    "previous_iso_week",
    "report_csv",
    "report_figures",
    "report_generate",
    "report_recipients",
    "report_send",
    "reports_due",
    "version_in_force",
    "versions_spanned",
]

log = logging.getLogger(__name__)


def _name(user) -> str:
    return display_name(user, "Unassigned")


class SlaError(Exception):
    """A request the SLA services refuse, with a message a person can read."""


def _site(path: str) -> str:
    return settings.ACCORD_SITE_URL.rstrip("/") + path


# --- Alerts ------------------------------------------------------------------------------------------


@dataclass
class BreachCheckResult:
    warnings: int = 0
    breaches: int = 0
    escalated: int = 0
    due_times_filled: int = 0
    to_email: list[int] = field(default_factory=list)  # breach alerts whose manager gets an e-mail (the task sends)
    backlog_teams: list[int] = field(default_factory=list)  # teams whose managers were told that MQLs wait


def _manager_for(lead: Lead, owner: User | None) -> User | None:
    membership = getattr(owner, "team_membership", None) if owner is not None else None
    if membership is not None and membership.team.manager_id:
        return membership.team.manager
    return lead.team.manager if lead.team_id and lead.team.manager_id else None


def _notify(*, user: User | None, kind: str, title: str, body: str, url: str, alert: Alert | None, now) -> None:
    if user is None:
        return
    Notification.objects.create(user=user, kind=kind, title=title, body=body, url=url, alert=alert, created_at=now)


def alert_raise(
    *, lead_id: int, pass_id: int, threshold: str, due_at: dt.datetime | None, now: dt.datetime
) -> Alert | None:
    """Record one alert for an open MQL pass and notify; ``None`` when it exists or the pass is over.

    Safe to call concurrently: the lead row lock orders callers and the unique constraint on
    (pass, threshold) is the last word.
    """
    with transaction.atomic():
        lead = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("owner__team_membership__team__manager", "team__manager")
            .filter(pk=lead_id)
            .first()
        )
        if lead is None or lead.stage != Stage.MQL:
            return None
        latest = lead.transitions.order_by("-at", "-id").values_list("id", flat=True).first()
        if latest != pass_id:
            return None  # the pass ended (or a new one began) since the candidates were read
        owner = lead.owner
        manager = _manager_for(lead, owner)
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    lead=lead,
                    mql_transition_id=pass_id,
                    threshold=threshold,
                    owner=owner,
                    manager=manager,
                    due_at=due_at,
                    created_at=now,
                )
        except IntegrityError:
            return None  # another run got here first
        url = reverse("leads:lead_detail", args=[lead.pk])
        due_text = f" (due {timezone.localtime(due_at):%a %d %b %H:%M})" if due_at else ""
        if threshold == Alert.Threshold.WARNING:
            _notify(
                user=owner,
                kind=Notification.Kind.WARNING,
                title=f"75 % of the response time used: {lead}",
                body=f"Act on {lead} before it breaches the SLA{due_text}.",
                url=url,
                alert=alert,
                now=now,
            )
            return alert
        _notify(
            user=owner,
            kind=Notification.Kind.BREACH,
            title=f"SLA breached: {lead}",
            body=f"No first action on {lead} within the agreed response time{due_text}.",
            url=url,
            alert=alert,
            now=now,
        )
        if manager is not None and manager != owner:
            _notify(
                user=manager,
                kind=Notification.Kind.BREACH,
                title=f"SLA breached: {lead} ({_name(owner)})",
                body=f"{_name(owner)} has not acted on {lead} within the agreed response time{due_text}.",
                url=url,
                alert=alert,
                now=now,
            )
        if lead.team_id and lead.team.escalate_breaches and owner is not None:
            _escalate(lead=lead, alert=alert, owner=owner, now=now)
        return alert


def _escalate(*, lead: Lead, alert: Alert, owner: User, now: dt.datetime) -> None:
    """Return a breached, unaccepted lead to the team's pool (team setting ``escalate_breaches``)."""
    changed = Lead.objects.filter(pk=lead.pk, stage=Stage.MQL, owner=owner).update(owner=None, updated_at=now)
    if changed != 1:
        return
    Assignment.objects.create(
        lead=lead, from_owner=owner, to_owner=None, reason=Assignment.Reason.ESCALATED, actor=None, at=now
    )
    Alert.objects.filter(pk=alert.pk).update(escalated=True)
    alert.escalated = True
    lead.owner = None
    _notify(
        user=owner,
        kind=Notification.Kind.ESCALATION,
        title=f"Returned to the pool: {lead}",
        body=f"{lead} breached its SLA and went back to the team's unassigned pool.",
        url=reverse("leads:lead_detail", args=[lead.pk]),
        alert=alert,
        now=now,
    )


def due_times_fill(*, terms: SlaTerms) -> int:
    """The breach job's safety net: stamp ``Lead.sla_due_at`` on open MQLs that have none, from
    their MQL transition under the terms recorded on it (re-timing after a publish is the
    rescore's job: ``leads.scoring.rescoring.refresh_mql_due_times``)."""
    spec_by_version = dict(
        AgreementVersion.objects.filter(
            status__in=[AgreementVersion.Status.ACTIVE, AgreementVersion.Status.RETIRED]
        ).values_list("id", "spec")
    )
    active = AgreementVersion.objects.active()
    default = active.spec if active else {"sla": {"response_hours": terms.response_hours}}
    leads = Lead.objects.filter(stage=Stage.MQL, sla_due_at__isnull=True)
    changed = 0
    lead_ids = list(leads.values_list("id", flat=True)[:50_000])
    for chunk in batches(lead_ids, 1000):
        latest = (
            Transition.objects.filter(lead_id__in=chunk, to_stage=Stage.MQL, historical=False)
            .exclude(reason_code=UNDO_REASON)  # an undo back to MQL continues the clock of the MQL it restores
            .order_by("lead_id", "-at", "-id")
            .distinct("lead_id")
            .values_list("lead_id", "at", "grade", "agreement_version_id")
            if connection.vendor == "postgresql"
            else _latest_mql_portable(chunk)
        )
        updates = []
        for lead_id, at, grade, version_id in latest:
            spec = spec_by_version.get(version_id, default)  # the terms recorded on the MQL
            due = sla_due_at(spec, at, grade or "D")
            updates.append(Lead(pk=lead_id, sla_due_at=due, mql_at=at))
        with transaction.atomic():
            for lead in updates:
                changed += Lead.objects.filter(pk=lead.pk, stage=Stage.MQL).update(
                    sla_due_at=lead.sla_due_at, mql_at=lead.mql_at
                )
    return changed


def _latest_mql_portable(lead_ids: list[int]) -> list[tuple]:
    seen, out = set(), []
    rows = (
        Transition.objects.filter(lead_id__in=lead_ids, to_stage=Stage.MQL, historical=False)
        .exclude(reason_code=UNDO_REASON)
        .order_by("lead_id", "-at", "-id")
        .values_list("lead_id", "at", "grade", "agreement_version_id")
    )
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    return out


def breaches_check(*, now: dt.datetime | None = None) -> BreachCheckResult:
    """The periodic job: warn owners at 75 %, mark breaches, notify managers, escalate if the team wants,
    and tell managers whose MQLs wait for an owner (``sla.backlog``).

    Idempotent — one alert per pass and threshold however often or concurrently it runs.
    """
    now = now or timezone.now()
    terms = current_terms()
    passes.refresh(terms=terms, now=now)
    result = BreachCheckResult(due_times_filled=due_times_fill(terms=terms))
    for pass_id, lead_id, start_at, target_seconds, breached in alert_candidates(terms, now):
        due = terms.calendar.add_hours(start_at, float(target_seconds) / 3600) if target_seconds else None
        threshold = Alert.Threshold.BREACH if breached else Alert.Threshold.WARNING
        alert = alert_raise(lead_id=lead_id, pass_id=pass_id, threshold=threshold, due_at=due, now=now)
        if alert is None:
            continue
        if threshold == Alert.Threshold.BREACH:
            result.breaches += 1
            result.escalated += int(alert.escalated)
            if alert.manager is not None and alert.manager.email:
                result.to_email.append(alert.pk)
        else:
            result.warnings += 1
    # Escalations return leads to the pool, SDRs go on leave: MQLs may wait without any routing.
    result.backlog_teams = backlog_check(now=now)
    return result


def breach_email_send(*, alert_id: int) -> bool:
    alert = Alert.objects.select_related("lead", "owner", "manager").filter(pk=alert_id).first()
    if alert is None or alert.manager is None or not alert.manager.email:
        return False
    context = {"alert": alert, "lead": alert.lead, "owner_name": _name(alert.owner), "site": _site("")}
    context["lead_url"] = _site(reverse("leads:lead_detail", args=[alert.lead_id]))
    context["dashboard_url"] = _site(reverse("sla:dashboard"))
    message = EmailMultiAlternatives(
        subject=f"SLA breached: {alert.lead} ({_name(alert.owner)})",
        body=render_to_string("sla/email/breach.txt", context),
        to=[alert.manager.email],
    )
    message.attach_alternative(render_to_string("sla/email/breach.html", context), "text/html")
    message.send()
    return True


# --- Notifications ----------------------------------------------------------------------------------


def notification_read(*, user: User, notification_id: int, now: dt.datetime | None = None) -> Notification:
    notification = Notification.objects.for_user(user).filter(pk=notification_id).first()
    if notification is None:
        raise SlaError("This notification does not exist or is not yours.")
    if notification.read_at is None:
        notification.read_at = now or timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=notification.read_at)
    return notification


def notifications_read_all(*, user: User, now: dt.datetime | None = None) -> int:
    return Notification.objects.for_user(user).unread().update(read_at=now or timezone.now())


# --- Weekly reports ---------------------------------------------------------------------------------


def _signed_versions() -> list[AgreementVersion]:
    """Every published version (active or retired), in the order they came into force."""
    return list(
        AgreementVersion.objects.filter(
            status__in=[AgreementVersion.Status.ACTIVE, AgreementVersion.Status.RETIRED], published_at__isnull=False
        ).order_by("published_at", "number")
    )


def versions_spanned(start: dt.datetime, end: dt.datetime) -> list[AgreementVersion]:
    """The signed versions in force at some instant of [start, end), oldest first."""
    signed = _signed_versions()
    spanned = []
    for i, version in enumerate(signed):
        until = signed[i + 1].published_at if i + 1 < len(signed) else None
        if version.published_at < end and (until is None or until > start):
            spanned.append(version)
    return spanned


def version_in_force(at: dt.datetime) -> AgreementVersion | None:
    """The agreement published last before ``at`` (the one both sides lived by that week)."""
    before = [v for v in _signed_versions() if v.published_at < at]
    return before[-1] if before else AgreementVersion.objects.active()


def _agreement_snapshot(start: dt.datetime, end: dt.datetime) -> dict:
    """Which versions the week spans, each with the response targets it set, as stored in the report."""
    versions = []
    for version in versions_spanned(start, end):
        hours = ((version.spec or {}).get("sla") or {}).get("response_hours") or {}
        versions.append(
            {
                "id": version.pk,
                "number": version.number,
                "published_at": version.published_at.isoformat(),
                "response_hours": {g: h for g, h in sorted(hours.items()) if h is not None},
            }
        )
    numbers = [str(v["number"]) for v in versions]
    if not numbers:
        label = "default terms"
    elif len(numbers) == 1:
        label = f"version {numbers[0]}"
    else:
        label = f"versions {', '.join(numbers[:-1])} and {numbers[-1]}"
    return {"versions": versions, "label": label}


def report_recipients(team: Team) -> list[User]:
    """The team's manager and everyone holding a leader role, once each, with an e-mail address."""
    users = User.objects.filter(is_active=True).exclude(email="")
    leaders = Q(groups__name__in=[Role.MARKETING.value, Role.SALES.value])
    query = leaders | Q(pk=team.manager_id) if team.manager_id else leaders
    return list(users.filter(query).distinct().order_by("username"))


def _average(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def report_figures(*, team: Team, iso_year: int, iso_week: int, now: dt.datetime, terms: SlaTerms) -> dict:
    """The report's content: the week's figures, the previous week and the average of the 8 before."""
    tz = zoneinfo.ZoneInfo(team.time_zone)
    start, end = iso_week_bounds(iso_year, iso_week, tz)
    scope = Scope(start=start, end=end, tz=tz, now=now, team_id=team.pk)
    names = _sdr_names()
    data = compute(scope, terms=terms, user_names=names)
    trends = data["trends"]
    previous = trends[-2]
    before = trends[-9:-1]  # the 8 weeks before the report week
    data["comparison"] = {
        "previous_week": {
            "week": previous["week"],
            "mqls": previous["mqls"],
            "acceptance_rate": previous["acceptance_rate"],
            "median_hours": previous["median_hours"],
            "breaches": previous["breaches"],
        },
        "eight_week_average": {
            "weeks": [w["week"] for w in before],
            "mqls": _average([w["mqls"] for w in before]),
            "acceptance_rate": _average([w["acceptance_rate"] for w in before]),
            "median_hours": _average([w["median_hours"] for w in before]),
            "breaches": _average([w["breaches"] for w in before]),
        },
    }
    data["agreement"] = _agreement_snapshot(start, end)
    data["week"] = {"iso_year": iso_year, "iso_week": iso_week, "label": iso_week_label(iso_year, iso_week)}
    data["team"] = {"id": team.pk, "name": team.name, "time_zone": team.time_zone}
    return data


def _sdr_names() -> dict:
    users = User.objects.filter(Q(groups__name=Role.SDR.value) | Q(team_membership__isnull=False))
    return {u.pk: _name(u) for u in users.distinct().only("id", "username", "first_name", "last_name")}


def report_generate(
    *,
    team_id: int,
    iso_year: int,
    iso_week: int,
    user: User | None = None,
    now: dt.datetime | None = None,
    if_missing: bool = False,
) -> WeeklyReport | None:
    """Snapshot one team's ISO week. ``if_missing`` skips weeks already reported; the caller queues the e-mail.

    The snapshot is taken from the log as it is now (the pass table is caught up first), with the
    reason words and targets of the moment. The team row lock makes concurrent Monday runs produce
    one report; a deliberate regeneration (``if_missing=False``) always adds a new snapshot and
    leaves the old one untouched.
    """
    now = now or timezone.now()
    try:
        dt.date.fromisocalendar(iso_year, iso_week, 1)
    except ValueError:
        raise SlaError(f"{iso_week_label(iso_year, iso_week)} is not an ISO week.") from None
    with transaction.atomic():
        team = Team.objects.select_for_update(of=("self",)).select_related("manager").filter(pk=team_id).first()
        if team is None:
            raise SlaError("This team does not exist.")
        if if_missing and WeeklyReport.objects.for_week(team=team, iso_year=iso_year, iso_week=iso_week).exists():
            return None
        tz = zoneinfo.ZoneInfo(team.time_zone)
        start, end = iso_week_bounds(iso_year, iso_week, tz)
        if start > now:
            raise SlaError(f"{iso_week_label(iso_year, iso_week)} has not started yet in {team.time_zone}.")
        terms = current_terms()
        passes.refresh(terms=terms, now=now)
        version = version_in_force(end)
        report = WeeklyReport.objects.create(
            team=team,
            iso_year=iso_year,
            iso_week=iso_week,
            week_start=start,
            week_end=end,
            figures=report_figures(team=team, iso_year=iso_year, iso_week=iso_week, now=now, terms=terms),
            agreement_version=version,
            generated_at=now,
            generated_by=user,
        )
    return report


def report_csv(report: WeeklyReport) -> str:
    """The report as one CSV: section, item, value (then the previous week and 8-week average)."""
    f = report.figures
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "value", "previous_week", "eight_week_average"])
    comp = f.get("comparison", {})
    prev, avg = comp.get("previous_week", {}), comp.get("eight_week_average", {})
    writer.writerow(["report", "team", report.team.name, "", ""])
    writer.writerow(["report", "week", report.week_label, prev.get("week", ""), ""])
    writer.writerow(["report", "agreement_versions", report.versions_label, "", ""])
    writer.writerow(["report", "generated_at", report.generated_at.isoformat(), "", ""])
    writer.writerow(["marketing", "mqls_delivered", f["mql"]["delivered"], prev.get("mqls", ""), avg.get("mqls", "")])
    writer.writerow(["marketing", "mql_quota_prorated", f["mql"]["quota"], "", ""])
    writer.writerow(
        [
            "marketing",
            "acceptance_rate",
            f["decisions"]["acceptance_rate"],
            prev.get("acceptance_rate", ""),
            avg.get("acceptance_rate", ""),
        ]
    )
    for kind in ("accepted", "rejected", "recycled", "disqualified", "withdrawn", "open"):
        writer.writerow(["marketing", f"mqls_{kind}", f["decisions"][kind], "", ""])
    for reason in f["reasons"]["rejected"]:
        writer.writerow(["rejection_reasons", reason["label"], reason["count"], "", ""])
    for reason in f["reasons"]["recycled"]:
        writer.writerow(["recycle_reasons", reason["label"], reason["count"], "", ""])
    writer.writerow(
        [
            "sales",
            "median_hours_to_first_action",
            f["response"]["median_hours"],
            prev.get("median_hours", ""),
            avg.get("median_hours", ""),
        ]
    )
    writer.writerow(["sales", "p90_hours_to_first_action", f["response"]["p90_hours"], "", ""])
    writer.writerow(["sales", "within_target_rate", f["response"]["within_target_rate"], "", ""])
    writer.writerow(["sales", "breaches", f["breaches"], prev.get("breaches", ""), avg.get("breaches", "")])
    writer.writerow(["sales", "followup_kept_rate", f["followup"]["kept_rate"], "", ""])
    for grade, hours in f["response"]["targets"].items():
        writer.writerow(["targets", f"response_hours_{grade}", hours, "", ""])
    for stage in f["funnel"]:
        writer.writerow(["funnel", stage["label"], stage["count"], "", ""])
    for sdr in f["sdrs"]:
        for key in ("passes", "accepted", "rejected", "recycled", "median_hours", "breaches"):
            writer.writerow([f"sdr:{sdr['name']}", key, sdr[key], "", ""])
    return out.getvalue()


def report_send(*, report_id: int) -> list[str]:
    """E-mail a report (HTML + text + CSV) to its team's manager and both leaders; record who got it."""
    report = WeeklyReport.objects.select_related("team__manager", "agreement_version").filter(pk=report_id).first()
    if report is None:
        return []
    if report.sent_to:
        return report.sent_to  # a retried task must not send twice
    recipients = report_recipients(report.team)
    emails = [u.email for u in recipients]
    if not emails:
        log.warning("Weekly report %s has no recipient with an e-mail address.", report.pk)
        return []
    context = {
        "report": report,
        "f": report.figures,
        "report_url": _site(reverse("sla:report_detail", args=[report.pk])),
        "dashboard_url": _site(reverse("sla:dashboard")),
        "email": True,
    }
    message = EmailMultiAlternatives(
        subject=f"Weekly SLA report · {report.team.name} · {report.week_label}",
        body=render_to_string("sla/email/weekly_report.txt", context),
        to=emails,
    )
    message.attach_alternative(render_to_string("sla/email/weekly_report.html", context), "text/html")
    message.attach(
        f"sla-report-{report.team.name.lower().replace(' ', '-')}-{report.week_label}.csv",
        report_csv(report),
        "text/csv",
    )
    message.send()
    with transaction.atomic():
        report.sent_to = emails
        report.save(update_fields=["sent_to"])
        now = timezone.now()
        Notification.objects.bulk_create(
            Notification(
                user=u,
                kind=Notification.Kind.REPORT,
                title=f"Weekly SLA report {report.week_label} · {report.team.name}",
                body="Last week's SLA figures are ready.",
                url=reverse("sla:report_detail", args=[report.pk]),
                created_at=now,
            )
            for u in recipients
        )
    return emails


def reports_due(*, now: dt.datetime | None = None) -> list[WeeklyReport]:
    """Every team whose local time has passed Monday 07:00 and whose previous ISO week has no report yet."""
    now = now or timezone.now()
    created = []
    for team in Team.objects.order_by("pk"):
        tz = zoneinfo.ZoneInfo(team.time_zone)
        local = now.astimezone(tz)
        monday_seven = dt.datetime.combine(local.date() - dt.timedelta(days=local.weekday()), dt.time(7, 0), tzinfo=tz)
        if local < monday_seven:
            continue
        year, week = previous_iso_week(now=now, tz=tz)
        if WeeklyReport.objects.for_week(team=team, iso_year=year, iso_week=week).exists():
            continue
        report = report_generate(team_id=team.pk, iso_year=year, iso_week=week, now=now, if_missing=True)
        if report is not None:
            created.append(report)
    return created


def figures_refresh(*, rebuild: bool = False, now: dt.datetime | None = None) -> int:
    """Bring the pass table and the daily roll-up fully up to date; ``rebuild`` starts both from scratch.

    The command ``sla_refresh`` and the task ``refresh_sla`` call this; no web request does. Returns
    the number of leads recomputed (-1 after a full build).
    """
    terms = current_terms()
    if rebuild:
        with transaction.atomic():
            PassState.objects.all().delete()
    leads = passes.refresh(terms=terms, now=now)
    if leads < 0:
        passes.vacuum()
    return leads
