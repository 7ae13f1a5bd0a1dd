from __future__ import annotations

import datetime as dt
import zoneinfo
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Max, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from leads.inbox.routing import open_loads, waiting_mqls
from leads.inbox.selectors import reason_words
from leads.inbox.services import lead_bulk_reassign
from leads.models import Lead, Team, TeamMember, Transition
from portal.access import LEADERS, Role, display_name, has_role, role_required
from portal.downloads import csv_download, spreadsheet_safe
from portal.params import WHOLE, page_number, whole_number
from sla import services, tasks
from sla.clock import current_terms
from sla.figures import (
    DISTRIBUTION_LABELS,
    FUNNEL_METRICS,
    Drill,
    DrillRows,
    FiguresPreparing,
    Scope,
    compute,
    iso_week_label,
    local_midnight,
    week_label,
)
from sla.forms import DashboardFilterForm, ReportGenerateForm
from sla.models import Notification, WeeklyReport
from sla.tables import TABLE_KEYS, chart_data, chart_tables

DASHBOARD_ROLES = (Role.MANAGER, *LEADERS, Role.SDR)
REPORT_ROLES = (Role.MANAGER, *LEADERS)
FILTER_FIELDS = ("date_from", "date_to", "team", "source", "persona", "sdr")


def own_figures_only(user) -> bool:
    """SDRs see their own figures only; managers, leaders and admins see everyone's."""
    return has_role(user, Role.SDR) and not has_role(user, Role.MANAGER, *LEADERS)


def _names(ids) -> dict:
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    users = User.objects.filter(pk__in=ids).only("id", "username", "first_name", "last_name")
    return {u.pk: display_name(u) for u in users}


def _name_sdrs(figures: dict, user, own_only: bool) -> None:
    """Put display names on the per-SDR rows (one query) and keep the worst offenders first."""
    names = {user.pk: display_name(user)} if own_only else _names([s["id"] for s in figures["sdrs"]])
    for sdr in figures["sdrs"]:
        sdr["name"] = names.get(sdr["id"], "Unassigned" if sdr["id"] is None else f"User #{sdr['id']}")
    figures["sdrs"].sort(key=lambda r: (-r["breaches"], r["name"].lower()))


class _Filters:
    """The validated filter form, the figures' scope and the query string that reproduces them."""

    def __init__(self, request: HttpRequest):
        self.terms = current_terms()
        self.own_only = own_figures_only(request.user)
        data = request.GET.copy()
        if data.get("sdr") == "none":
            data.pop("sdr")  # a drill-down into the unassigned MQLs, not a filter
        if "team" not in data and has_role(request.user, Role.MANAGER) and not has_role(request.user, *LEADERS):
            # A manager lands on their own team; "All teams" stays one click away.
            managed = Team.objects.filter(manager=request.user).order_by("name").values_list("pk", flat=True).first()
            if managed:
                data["team"] = str(managed)
        today = timezone.now().astimezone(self.terms.calendar.tz).date()
        form = DashboardFilterForm(data, today=today)
        if not form.is_valid():
            for error in form.non_field_errors():
                messages.error(request, error)
            for name, errors in form.errors.items():
                if name != "__all__":
                    messages.error(request, f"{form.fields[name].label}: {' '.join(errors)}")
            form = DashboardFilterForm({}, today=today)
            form.is_valid()
        cd = form.cleaned_data
        # Show the dates actually used (defaults included), not the possibly empty input.
        self.form = DashboardFilterForm(
            initial={
                "date_from": cd["date_from"],
                "date_to": cd["date_to"],
                "team": cd.get("team"),
                "source": cd.get("source"),
                "persona": cd.get("persona"),
                "sdr": None if self.own_only else cd.get("sdr"),
            },
            today=today,
        )
        if self.own_only:
            del self.form.fields["sdr"]  # an SDR's page is always her own
        self.team = cd.get("team")
        tz = zoneinfo.ZoneInfo(self.team.time_zone) if self.team else self.terms.calendar.tz
        self.scope = Scope(
            start=local_midnight(cd["date_from"], tz),
            end=local_midnight(cd["date_to"] + dt.timedelta(days=1), tz),
            tz=tz,
            now=timezone.now(),
            team_id=self.team.pk if self.team else None,
            source=cd.get("source") or "",
            persona_id=cd["persona"].pk if cd.get("persona") else None,
            sdr_id=request.user.pk if self.own_only else (cd["sdr"].pk if cd.get("sdr") else None),
        )
        self.sdr = request.user if self.own_only else cd.get("sdr")
        params = {
            "date_from": cd["date_from"].isoformat(),
            "date_to": cd["date_to"].isoformat(),
            "team": self.team.pk if self.team else "",
            "source": cd.get("source") or "",
            "persona": cd["persona"].pk if cd.get("persona") else "",
            "sdr": cd["sdr"].pk if cd.get("sdr") and not self.own_only else "",
        }
        self.params = {k: v for k, v in params.items() if v != ""}
        self.query = urlencode(self.params)

    def drill_url(self, metric: str, **keys) -> str:
        return reverse("sla:drill") + "?" + urlencode({**self.params, "metric": metric, **keys})


@role_required(*DASHBOARD_ROLES)
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Both sides of the agreement at a glance: tiles, charts with their tables, per-SDR figures."""
    filters = _Filters(request)
    try:
        figures = compute(filters.scope, terms=filters.terms)
    except FiguresPreparing as exc:
        return _preparing(request, exc)
    _name_sdrs(figures, request.user, filters.own_only)
    tables = chart_tables(figures, filters.drill_url)
    return render(
        request,
        "sla/dashboard.html",
        {
            "f": figures,
            "filters": filters,
            "form": filters.form,
            "terms": filters.terms,
            "tables": tables,
            "charts": chart_data(tables),
            "drill": _DrillLinks(filters),
            "own_only": filters.own_only,
            "latest_report": None if filters.own_only else _latest_report(filters.team),
            "as_of": dt.datetime.fromisoformat(figures["as_of"]) if figures["as_of"] else None,
            "history": _imported_history(),
            "waiting": [] if filters.own_only else _waiting(request.user, filters.team),
        },
    )


def _waiting(user, team: Team | None) -> list:
    """MQLs no SDR has room for: a manager's own teams (or the team filtered on); every team for leaders."""
    if team is not None:
        team_ids = [team.pk]
    elif has_role(user, *LEADERS) or not has_role(user, Role.MANAGER):
        team_ids = None
    else:
        team_ids = Team.objects.filter(manager=user).values("id")  # a subquery: one query in all
    return waiting_mqls(team_ids=team_ids)


def _imported_history() -> dict | None:
    """The imported past (historical transitions), which SLA figures leave out: its span, or None."""
    span = Transition.objects.filter(historical=True).aggregate(first=Min("at"), last=Max("at"))
    return span if span["last"] else None


def _preparing(request: HttpRequest, exc: FiguresPreparing) -> HttpResponse:
    """The first figures of a large log are built by a background task, never inside a request."""
    return render(request, "sla/preparing.html", {"message": str(exc)}, status=503)


def _latest_report(team: Team | None) -> WeeklyReport | None:
    reports = WeeklyReport.objects.select_related("team").only(
        "id", "iso_year", "iso_week", "team__name", "generated_at"
    )
    if team is not None:
        reports = reports.filter(team=team)
    return reports.order_by("-week_start", "-generated_at", "-id").first()


class _DrillLinks:
    """``{{ drill.breached }}`` in templates → the drill-down URL of that figure under the current filters."""

    def __init__(self, filters: _Filters):
        self._filters = filters

    def __getattr__(self, metric: str) -> str:
        if metric.startswith("_"):
            raise AttributeError(metric)
        return self._filters.drill_url(metric)


def _drill_from_request(request: HttpRequest, own_only: bool) -> Drill:
    def as_int(name):
        raw = request.GET.get(name, "").strip()
        if raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise Http404(f"{name} must be a number.") from None

    sdr_raw = request.GET.get("sdr", "").strip()
    drill = Drill(
        metric=request.GET.get("metric", "").strip(),
        week=as_int("week"),
        sdr=None if own_only or sdr_raw in ("", "none") else as_int("sdr"),
        sdr_unassigned=sdr_raw == "none" and not own_only,
        reason=request.GET.get("reason") if "reason" in request.GET else None,
        bucket=as_int("bucket"),
    )
    if not drill.valid:
        raise Http404("This figure has no list of leads behind it.")
    return drill


def _dress(items: list[dict], now: dt.datetime, words) -> None:
    """Put the lead, the SDR's name, the reason's words and the time in the current stage on drill rows
    (three queries per batch; the last transition by ``transition_lead_at_idx``)."""
    ids = [r["lead_id"] for r in items]
    leads = Lead.objects.select_related("account", "owner").in_bulk(ids)
    names = _names({r["sdr_id"] for r in items})
    last_moves = Transition.objects.filter(lead_id__in=ids).values("lead_id").annotate(last=Max("at")).order_by()
    since = {row["lead_id"]: row["last"] for row in last_moves}
    for row in items:
        row["lead"] = leads.get(row["lead_id"])
        row["sdr_name"] = names.get(row["sdr_id"], "Unassigned" if row["sdr_id"] is None else "")
        row["reason_label"] = words.label(row["reason_code"] or "", at=row["end_at"])
        row["stage_since"] = since.get(row["lead_id"])
        row["in_stage_for"] = now - row["stage_since"] if row["stage_since"] else None


def _reassign_choices(team: Team | None) -> list[dict]:
    """The SDRs a drill-down's leads may go to (of the filtered team, else of every team): each with
    her open leads against her capacity, and whether she is away now."""
    now = timezone.now()
    members = (
        TeamMember.objects.filter(user__is_active=True, user__groups__name=Role.SDR.value)
        .select_related("user", "team")
        .order_by("team__name", "user__first_name", "user__username")
    )
    if team is not None:
        members = members.filter(team=team)
    members = list(members)
    loads = open_loads([m.user_id for m in members])
    return [
        {
            "id": m.user_id,
            "name": display_name(m.user),
            "team": m.team.name,
            "open": loads.get(m.user_id, 0),
            "capacity": m.capacity,
            "full": loads.get(m.user_id, 0) >= m.capacity,
            "away_until": m.away_until if m.away_until and m.away_until > now else None,
        }
        for m in members
    ]


def _drill_rows(request: HttpRequest, filters: _Filters) -> DrillRows:
    """The rows behind the drill-down the query string names, for the page and its CSV alike."""
    return DrillRows(filters.scope, _drill_from_request(request, filters.own_only), filters.terms)


def may_reassign_from_drill(user) -> bool:
    """Who sees the drill-down's reassign bar; each lead is checked again by ``lead_reassign``."""
    return has_role(user, Role.MANAGER, *LEADERS)


@role_required(*DASHBOARD_ROLES)
@require_GET
def drill(request: HttpRequest) -> HttpResponse:
    """The leads behind one number of the dashboard, paginated."""
    filters = _Filters(request)
    try:
        rows = _drill_rows(request, filters)
    except FiguresPreparing as exc:
        return _preparing(request, exc)
    spec = rows.drill
    page = Paginator(rows, 50).get_page(page_number(request))
    items = list(page.object_list)
    words = reason_words()
    _dress(items, filters.scope.now, words)
    query = request.GET.copy()
    query.pop("page", None)
    can_reassign = may_reassign_from_drill(request.user) and not filters.own_only and spec.metric not in FUNNEL_METRICS
    context_bits = []
    if spec.week is not None:
        weeks = filters.scope.week_starts
        context_bits.append(f"week {week_label(weeks[spec.week], filters.scope.tz)}")
    if spec.sdr is not None:
        context_bits.append(f"SDR {_names([spec.sdr]).get(spec.sdr, spec.sdr)}")
    if spec.sdr_unassigned:
        context_bits.append("unassigned")
    if spec.reason is not None:
        # The same words as the dashboard's bar: the version in force at the range's end.
        at = min(filters.scope.end, filters.scope.now)
        context_bits.append(f"reason “{words.label(spec.reason, at=at) or 'none given'}”")
    if spec.bucket is not None and 0 <= spec.bucket < len(DISTRIBUTION_LABELS):
        context_bits.append(f"{DISTRIBUTION_LABELS[spec.bucket]} of target used")
    return render(
        request,
        "sla/drill.html",
        {
            "spec": spec,
            "title": spec.title,
            "context_bits": context_bits,
            "page": page,
            "rows": items,
            "query": query.urlencode(),
            "filters": filters,
            "is_funnel": spec.metric in FUNNEL_METRICS,
            "open_source": spec.metric in ("open_now", "at_risk", "overdue"),
            "can_reassign": can_reassign,
            "sdr_choices": _reassign_choices(filters.team) if can_reassign and items else [],
            "export_url": reverse("sla:drill_export") + "?" + query.urlencode(),
        },
    )


DRILL_CSV_HEADER = [
    "Lead id",
    "Lead",
    "E-mail",
    "Company",
    "Grade",
    "MQL at",
    "First action or end",
    "Business hours",
    "Target hours",
    "Outcome",
    "Reason",
    "Breached",
    "SDR",
    "Current stage",
    "In current stage since",
    "In current stage (hours)",
]
EXPORT_BATCH = 2000


@role_required(*DASHBOARD_ROLES)
@require_GET
def drill_export(request: HttpRequest) -> HttpResponse:
    """Every lead behind a drill-down (all pages, same filters) as CSV, streamed in batches."""
    filters = _Filters(request)
    try:
        rows = _drill_rows(request, filters)
    except FiguresPreparing as exc:
        return _preparing(request, exc)
    spec = rows.drill
    words = reason_words()
    tz = filters.scope.tz

    def stamp(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    def lines():
        yield DRILL_CSV_HEADER
        start = 0
        while True:
            batch = rows[start : start + EXPORT_BATCH]
            if not batch:
                return
            _dress(batch, filters.scope.now, words)
            for r in batch:
                lead = r["lead"]
                yield [
                    r["lead_id"],
                    spreadsheet_safe(str(lead) if lead else ""),
                    spreadsheet_safe(lead.email if lead else ""),
                    spreadsheet_safe(lead.account.name if lead and lead.account else ""),
                    r["grade"] or "",
                    stamp(r["start_at"]),
                    stamp(r["end_at"]),
                    "" if r["elapsed_hours"] is None else r["elapsed_hours"],
                    "" if r["target_hours"] is None else r["target_hours"],
                    r["end_kind"],
                    spreadsheet_safe(r["reason_label"] or ""),
                    "yes" if r["breached"] else "no",
                    spreadsheet_safe(r["sdr_name"]),
                    lead.get_stage_display() if lead else "",
                    stamp(r["stage_since"]),
                    round(r["in_stage_for"].total_seconds() / 3600, 1) if r["in_stage_for"] else "",
                ]
            start += EXPORT_BATCH

    stamp_range = f"{filters.params['date_from']}_{filters.params['date_to']}"
    return csv_download(lines(), f"sla-{spec.metric}-{stamp_range}.csv")


@role_required(Role.MANAGER, *LEADERS)
@require_POST
def drill_reassign(request: HttpRequest) -> HttpResponse:
    """Hand the selected leads of a drill-down to one SDR (each checked and logged by ``lead_reassign``)."""
    back = reverse("sla:drill") + "?" + request.GET.urlencode()
    raw_ids = request.POST.getlist("lead")
    raw_to = request.POST.get("to_user", "").strip()
    if not raw_ids:
        messages.error(request, "Select at least one lead to reassign.")
        return redirect(back)
    if not raw_to:
        messages.error(request, "Choose the SDR to hand the selected leads to.")
        return redirect(back)
    if not all(WHOLE.fullmatch(v.strip()) for v in [*raw_ids, raw_to]):
        raise BadRequest("Lead and SDR must be given by their numbers.")
    result = lead_bulk_reassign(
        lead_ids=[int(v) for v in raw_ids],
        user=request.user,
        to_user_id=int(raw_to),
        over_capacity=request.POST.get("over_capacity") == "on",
    )
    if result.done:
        target = display_name(result.done[0].owner)
        count = len(result.done)
        messages.success(request, f"{count} lead{'s' if count != 1 else ''} reassigned to {target}.")
    for lead_id, why in result.failed:
        messages.error(request, f"Lead #{lead_id}: {why}")
    return redirect(back)


@role_required(*DASHBOARD_ROLES)
@require_GET
def export(request: HttpRequest, key: str) -> HttpResponse:
    """One chart's table as CSV, under the dashboard's current filters."""
    if key not in TABLE_KEYS:
        raise Http404("No such table.")
    filters = _Filters(request)
    try:
        figures = compute(filters.scope, terms=filters.terms)
    except FiguresPreparing as exc:
        return _preparing(request, exc)
    _name_sdrs(figures, request.user, filters.own_only)
    table = chart_tables(figures, filters.drill_url)[key]
    response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
    stamp = f"{filters.params['date_from']}_{filters.params['date_to']}"
    response["Content-Disposition"] = f'attachment; filename="sla-{key}-{stamp}.csv"'
    return response


# --- Weekly reports ---------------------------------------------------------------------------------


@role_required(*REPORT_ROLES)
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    """The archive: every snapshot, newest week first; regenerated weeks list each snapshot."""
    reports = WeeklyReport.objects.select_related("team", "agreement_version", "generated_by").defer("figures")
    team_id = whole_number(request, "team")
    if team_id is not None:
        reports = reports.filter(team_id=team_id)
    page = Paginator(reports.order_by("-week_start", "-generated_at", "-id"), 25).get_page(page_number(request))
    now = timezone.now()
    team = Team.objects.order_by("name").first()
    default_week = ""
    if team is not None:
        year, week = services.previous_iso_week(now=now, tz=zoneinfo.ZoneInfo(team.time_zone))
        default_week = iso_week_label(year, week)
    return render(
        request,
        "sla/report_list.html",
        {
            "page": page,
            "teams": Team.objects.order_by("name"),
            "team_id": team_id,
            "query": f"team={team_id}" if team_id is not None else "",
            "generate_form": ReportGenerateForm(initial={"team": team, "week": default_week}),
        },
    )


@role_required(*REPORT_ROLES)
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One snapshot as a printable page: exactly the figures stored when it was generated."""
    report = get_object_or_404(WeeklyReport.objects.select_related("team", "agreement_version", "generated_by"), pk=pk)
    siblings = (
        WeeklyReport.objects.for_week(team=report.team, iso_year=report.iso_year, iso_week=report.iso_week)
        .exclude(pk=report.pk)
        .only("id", "generated_at")
        .order_by("-generated_at")
    )
    return render(request, "sla/report_detail.html", {"report": report, "f": report.figures, "siblings": siblings})


@role_required(*REPORT_ROLES)
@require_GET
def report_csv(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(WeeklyReport.objects.select_related("team", "agreement_version"), pk=pk)
    response = HttpResponse(services.report_csv(report), content_type="text/csv; charset=utf-8")
    name = report.team.name.lower().replace(" ", "-")
    response["Content-Disposition"] = f'attachment; filename="sla-report-{name}-{report.week_label}.csv"'
    return response


@role_required(*REPORT_ROLES)
@require_POST
def report_generate(request: HttpRequest) -> HttpResponse:
    """Generate a snapshot on demand (a new one even if the week has one) and e-mail it."""
    form = ReportGenerateForm(request.POST)
    if not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            messages.error(request, f"{label or 'Report'}: {' '.join(errors)}")
        return redirect("sla:report_list")
    year, week = form.cleaned_data["week"]
    try:
        report = services.report_generate(
            team_id=form.cleaned_data["team"].pk, iso_year=year, iso_week=week, user=request.user
        )
    except services.SlaError as exc:
        messages.error(request, str(exc))
        return redirect("sla:report_list")
    transaction.on_commit(lambda: tasks.send_weekly_report.delay(report.pk))
    report.refresh_from_db(fields=["sent_to"])
    sent = f" and e-mailed to {', '.join(report.sent_to)}" if report.sent_to else ""
    messages.success(request, f"Report {report.week_label} for {report.team} generated{sent}.")
    return redirect("sla:report_detail", pk=report.pk)


# --- Notifications -----------------------------------------------------------------------------------


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = Notification.objects.for_user(request.user).order_by("-created_at", "-id")
    page = Paginator(notifications, 30).get_page(page_number(request))
    unread = Notification.objects.for_user(request.user).unread().count()
    return render(request, "sla/notification_list.html", {"page": page, "unread": unread, "query": ""})


@login_required
@require_GET
def notification_badge(request: HttpRequest) -> HttpResponse:
    """The bell in the nav bar with the unread count (htmx polls it)."""
    unread = Notification.objects.for_user(request.user).unread().count()
    return render(request, "sla/_notification_badge.html", {"unread": unread})


@login_required
@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        notification = services.notification_read(user=request.user, notification_id=pk)
    except services.SlaError as exc:
        raise Http404(str(exc)) from None
    target = notification.url
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("sla:notification_list")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notifications_read_all(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} as read.")
    return redirect("sla:notification_list")
