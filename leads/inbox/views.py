"""Lead pages: overview, list, the SDR inbox, the lead page and one POST view per action.

Views are thin: access check → form → service → partial (htmx) or redirect (plain form post).
htmx requests say where the answer goes with ``ctx``: ``row`` (an inbox row, which disappears
once the lead leaves the queue) or ``detail`` (the live panel of the lead page).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

from alignment.dictionary import load_custom_attributes, load_dictionary
from leads.inbox import editing, followup, services
from leads.inbox.filters import (
    ATTRIBUTE_PARAM,
    SORT_LABELS,
    LeadFilter,
    attribute_text,
    chosen_columns,
    export_rows,
)
from leads.inbox.forms import (
    AttemptForm,
    AwayForm,
    ConvertForm,
    DisqualifyForm,
    InboxFilterForm,
    LeadCorrectionForm,
    LostForm,
    NoteForm,
    ReassignForm,
    RecycleForm,
    RejectForm,
    WonForm,
)
from leads.inbox.routing import capacity_of, waiting_mqls
from leads.inbox.rows import render_rows
from leads.inbox.selectors import (
    InboxFilters,
    InboxTab,
    calendar_for,
    decode_cursor,
    inbox_header,
    inbox_page,
    inbox_row,
    latest_transitions,
    lead_edits,
    persona_names,
    sla_clock,
    stage_counts,
    undoable_transition,
    viewer_for,
    with_reason_labels,
)
from leads.inbox.services import LeadError
from leads.models import ImportJob, Lead, ListPreference
from leads.scoring.scorer import explain
from portal.access import EVERYONE, Role, display_name, has_role, role_required
from portal.downloads import csv_download
from portal.params import one_of, page_number

INBOX_ROLES = (Role.SDR, Role.MANAGER)


@role_required(*EVERYONE)
def overview(request: HttpRequest) -> HttpResponse:
    """What exists for everyone: leads by stage and the latest lifecycle moves."""
    stages = stage_counts()
    return render(
        request,
        "leads/overview.html",
        {
            "stages": stages,
            "total": sum(s["count"] for s in stages),
            "transitions": latest_transitions(),
        },
    )


def _lead_filter(request: HttpRequest, dictionary) -> LeadFilter:
    queryset = Lead.objects.select_related("account", "owner", "persona").order_by("-updated_at", "-id")
    return LeadFilter(request.GET, queryset=queryset, dictionary=dictionary)


def _chosen_columns(request: HttpRequest, dictionary) -> list:
    """The attribute columns the signed-in person chose (stored with them, not with the browser)."""
    keys = ListPreference.objects.filter(user=request.user).values_list("columns", flat=True).first()
    return chosen_columns(keys, dictionary)


@require_POST
@role_required(*EVERYONE)
def lead_columns(request: HttpRequest) -> HttpResponse:
    """Remember which of the dictionary's attributes the lead list shows as columns (per person)."""
    dictionary = load_dictionary()
    keys = request.POST.getlist("columns")
    known = {a.key for a in chosen_columns(keys, dictionary)}
    strangers = [k for k in keys if k not in known]
    if strangers:
        raise BadRequest(
            f"“columns” names no attribute the list can show as a column: {', '.join(strangers[:5])}. "
            "Choose among the attributes of the data dictionary that are not archived."
        )
    services.list_columns_set(user=request.user, columns=[a.key for a in chosen_columns(keys, dictionary)])
    # Back to the same filters: only a query string follows the list's own path, never another address.
    back = request.POST.get("next", "").lstrip("?")
    return redirect(reverse("leads:lead_list") + (f"?{back}" if back else ""))


@role_required(*EVERYONE)
def lead_list(request: HttpRequest) -> HttpResponse:
    """Every lead, searchable, filterable and sortable by its columns; a malformed filter is a 400."""
    dictionary = load_dictionary()
    lead_filter = _lead_filter(request, dictionary)
    shown = _chosen_columns(request, dictionary)
    valid = lead_filter.is_valid()
    page = Paginator(lead_filter.qs if valid else Lead.objects.none(), 50).get_page(page_number(request))
    query = request.GET.copy()
    query.pop("page", None)
    without_sort = query.copy()
    without_sort.pop("sort", None)
    sort = query.get("sort", "") if valid else ""
    columns = [
        (key, label, f"-{key}" if sort == key else key, "asc" if sort == key else "desc" if sort == f"-{key}" else "")
        for key, label in SORT_LABELS.items()
    ]
    extra = []
    for attribute in shown:
        key = f"{ATTRIBUTE_PARAM}{attribute.key}"
        direction = "asc" if sort == key else "desc" if sort == f"-{key}" else ""
        extra.append((key, attribute.label, f"-{key}" if sort == key else key, direction))
    rows = [(lead, [attribute_text(a, lead) for a in shown]) for lead in page.object_list]
    context = {
        "filter": lead_filter,
        "attribute_columns": extra,
        "rows": rows,
        "column_choices": [(a, a in shown) for a in lead_filter.columns.values()],
        "attribute_filters": [
            (attribute, [lead_filter.form[n] for n in names]) for attribute, names in lead_filter.attribute_fields
        ],
        "page": page,
        "query": query.urlencode(),
        "base_query": without_sort.urlencode(),
        "columns": columns,
        "job": ImportJob.objects.filter(pk=lead_filter.form.cleaned_data.get("imported") or 0).first()
        if valid
        else None,
    }
    return render(request, "leads/lead_list.html", context, status=200 if valid else 400)


@require_GET
@role_required(*EVERYONE)
def lead_export(request: HttpRequest) -> HttpResponse:
    """The lead list under its current filters and sort, as CSV (every page)."""
    dictionary = load_dictionary()
    lead_filter = _lead_filter(request, dictionary)
    if not lead_filter.is_valid():
        raise BadRequest(" ".join(f"{name}: {' '.join(e)}" for name, e in lead_filter.errors.items()))
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    shown = _chosen_columns(request, dictionary)
    return csv_download(export_rows(lead_filter.qs, shown), f"accord-leads-{stamp}.csv")


# --- the inbox ----------------------------------------------------------------------------------


def _tab(request: HttpRequest, viewer) -> str:
    default = InboxTab.TEAM if viewer.can_see_team and viewer.team_id is None else InboxTab.MINE
    tab = one_of(request, "tab", InboxTab.ALL, default)
    if tab == InboxTab.TEAM and not viewer.can_see_team:
        raise PermissionDenied("Only managers see the whole team's queue.")
    return tab


@role_required(*INBOX_ROLES)
def inbox(request: HttpRequest) -> HttpResponse:
    """The MQL queue by SLA urgency then score, one keyset page at a time.

    A malformed filter or page link is answered 400 with the page and what was wrong with it.
    """
    viewer = viewer_for(request.user)
    tab = _tab(request, viewer)
    header = inbox_header(viewer)
    form = InboxFilterForm(request.GET or None, personas=header.filter_names, attributes=load_custom_attributes())
    filters = form.filters() if request.GET else InboxFilters()
    cursor = request.GET.get("after", "")
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    if cursor and decode_cursor(cursor) is None:
        form.add_error(None, "The “Next page” link is damaged; here is the first page.")
        cursor, status = "", 400
    page = inbox_page(viewer=viewer, tab=tab, filters=filters, cursor=cursor, header=header)
    query = request.GET.copy()
    query.pop("after", None)
    query["tab"] = tab
    membership = viewer.membership
    can_claim = has_role(request.user, Role.SDR) and membership is not None
    context = {
        "page": page,
        "tab": tab,
        "tabs": [(t, InboxTab.LABELS[t], page.counts.get(t)) for t in page.counts],
        "accepted_tab": tab == InboxTab.ACCEPTED,
        "form": form,
        "filters": filters,
        "query": query.urlencode(),
        "first_page": not cursor,
        "viewer": viewer,
        "membership": membership,
        "away": membership is not None and membership.away_until and membership.away_until > timezone.now(),
        "can_claim": can_claim,
        "rows_html": render_rows(
            page.rows, tab=tab, can_claim=can_claim, user_id=request.user.id, can_reassign=viewer.can_see_team
        ),
        "away_form": AwayForm(),
        # The SDR's open leads against her limit: the figure routing and "Next lead" go by.
        "capacity": capacity_of(membership) if can_claim else None,
        # Managers (and admins) see the MQLs of their teams that no SDR has room for.
        "waiting": _waiting_for(viewer) if viewer.can_see_team else [],
    }
    if request.htmx.target == "queue":
        return render(request, "leads/_queue.html", context, status=status)
    return render(request, "leads/inbox.html", context, status=status)


def _waiting_for(viewer) -> list:
    """The waiting MQLs of the teams ``viewer`` manages (every team for an admin)."""
    return waiting_mqls(team_ids=None if viewer.is_admin else list(viewer.managed_team_ids))


def _toast(text: str, level: str = "success", *, undo_url: str = "", undo_id: int | None = None, ctx: str = "") -> str:
    """The message of an in-place action; it replaces the one before (messages do not pile up)."""
    context = {"text": text, "level": level, "undo_url": undo_url, "undo_id": undo_id, "ctx": ctx}
    return render_to_string("leads/_toast.html", context)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@require_POST
@role_required(Role.SDR)
def claim_next(request: HttpRequest) -> HttpResponse:
    """ "Next lead": claim the most urgent unassigned MQL and open it."""
    try:
        lead = services.lead_claim_next(user=request.user)
    except LeadError as error:
        if request.htmx:
            return reswap(HttpResponse(_toast(str(error), "warning"), status=409), "none")
        messages.warning(request, str(error))
        return redirect("leads:inbox")
    messages.success(request, f"{lead} is yours now. Its SLA clock is running.")
    url = reverse("leads:lead_detail", args=[lead.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@require_POST
@role_required(*INBOX_ROLES)
def away(request: HttpRequest) -> HttpResponse:
    """Out-of-office toggle: no round-robin leads while away."""
    form = AwayForm(request.POST)
    if form.is_valid():
        try:
            member = services.member_set_away(
                user=request.user, until=None if request.POST.get("back") else form.cleaned_data["away_until"]
            )
        except LeadError as error:
            messages.error(request, str(error))
        else:
            if member.away_until:
                until = timezone.localtime(member.away_until)
                messages.success(
                    request, f"You are out of office until {until:%a %d %b %H:%M}. No leads are routed to you."
                )
            else:
                messages.success(request, "Welcome back: new leads are routed to you again.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(_safe_next(request, reverse("leads:inbox")))


# --- the lead page --------------------------------------------------------------------------------


def _get_lead(pk: int) -> Lead:
    return get_object_or_404(
        Lead.objects.select_related("account", "owner", "persona", "scored_version", "team", "team__manager"), pk=pk
    )


def _permissions(user, lead: Lead) -> dict:
    owner = lead.owner_id == user.id
    claimable = services.may_claim(user, lead)
    return {
        "can_act": owner or claimable,
        "can_claim": claimable,
        "can_reassign": lead.stage in services.REASSIGNABLE_STAGES and services.manages(user, lead),
        "can_edit": editing.may_edit(user, lead),
    }


def _live_context(request: HttpRequest, lead: Lead, error: str = "") -> dict:
    version = services.active_version()
    spec_version = lead.scored_version or version
    spec = spec_version.spec if spec_version else {}
    now = timezone.now()
    names = persona_names()
    dictionary = load_dictionary()
    why = explain(lead, spec, now, names, dictionary)  # the organisation's labels
    transitions = with_reason_labels(
        list(lead.transitions.select_related("actor", "agreement_version").order_by("-at", "-id"))
    )
    return {
        "lead": lead,
        "why": why,
        "why_version": spec_version,
        "fit_hits": [h for h in why.breakdown if h.section == "fit"],
        "behaviour_hits": [h for h in why.breakdown if h.section == "behaviour"],
        "knockout_hits": [h for h in why.breakdown if h.section == "knockout"],
        # The organisation's own attributes, by label, as the Data page defines them.
        "dictionary": dictionary,
        "own_attributes": dictionary.shown(lead.attributes),
        "account_attributes": dictionary.shown(lead.account.attributes if lead.account else {}),
        "sla": sla_clock(lead, calendar_for(version), now),
        "transitions": transitions,
        "assignments": lead.assignments.select_related("from_owner", "to_owner", "actor").order_by("-at", "-id"),
        "notes": lead.notes.select_related("author").order_by("-created_at", "-id"),
        "note_form": NoteForm(),
        "attempts": lead.attempts.select_related("logged_by").order_by("-at", "-id"),
        "followup": followup.followup_status(lead, version) if lead.stage == "sal" else None,
        "can_log_attempt": lead.stage == "sal" and followup.may_log_attempt(request.user, lead),
        "error": error,
        **_permissions(request.user, lead),
    }


@role_required(*EVERYONE)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything about one lead, why it qualified, its history and what can be done next."""
    lead = _get_lead(pk)
    context = _live_context(request, lead)
    activities = list(lead.activities.order_by("-occurred_at", "-id")[:100])
    dictionary = context["dictionary"]
    for activity in activities:
        activity.label = dictionary.kind_label(activity.kind)  # archived kinds keep their label
    context["activities"] = activities
    context["edits"] = lead_edits(lead)
    return render(request, "leads/lead_detail.html", context)


@require_http_methods(["GET", "POST"])
@role_required(*EVERYONE)
def lead_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct the lead's own fields (its owner, its team's manager, a leader); recorded and rescored."""
    lead = _get_lead(pk)
    if not editing.may_edit(request.user, lead):
        raise PermissionDenied("Only the lead's owner, its team's manager or a leader can correct it.")
    form = LeadCorrectionForm(request.POST or None, instance=lead)
    if request.method == "POST" and form.is_valid():
        try:
            edit = editing.lead_correct(lead_id=lead.pk, user=request.user, data=form.changed_values())
        except LeadError as error:
            form.add_error(None, str(error))
        else:
            if edit is None:
                messages.info(request, "Nothing changed.")
            else:
                names = ", ".join(str(form.fields[name].label).lower() for name in edit.changes)
                messages.success(request, f"Corrected {names} of {lead}; its score is recalculated.")
            return redirect("leads:lead_detail", pk=lead.pk)
    status = 422 if form.is_bound else 200
    return render(request, "leads/lead_edit.html", {"lead": _get_lead(pk), "form": form}, status=status)


# --- actions --------------------------------------------------------------------------------------


def _ctx(request: HttpRequest) -> str:
    ctx = request.POST.get("ctx") or request.GET.get("ctx") or ""
    return ctx if ctx in ("row", "detail") else ""


def _in_place(request: HttpRequest) -> bool:
    """An htmx request that says where its answer goes: answer with a partial, not a redirect."""
    return bool(request.htmx) and bool(_ctx(request))


def _tab_counts(user) -> dict[str, str]:
    """The inbox's tab badges after an action, for the page to update in place."""
    return inbox_header(viewer_for(user)).counts


def _done(request: HttpRequest, lead: Lead, text: str, *, keep_row: bool = False, undo: bool = True) -> HttpResponse:
    """Success: remove (or refresh) the inbox row, or refresh the lead page's live panel, with a
    message that offers to undo the action for a few seconds."""
    if not _in_place(request):
        messages.success(request, text)
        return redirect(_safe_next(request, reverse("leads:lead_detail", args=[lead.pk])))
    undo_id = undoable_transition(lead, request.user) if undo else None
    undo_url = reverse("leads:undo", args=[lead.pk]) if undo_id else ""
    toast = _toast(text, undo_url=undo_url, undo_id=undo_id, ctx=_ctx(request))
    if _ctx(request) == "row":
        tab = request.POST.get("tab")
        # On the Accepted tab a converted lead stays (now an SQL, with its won/lost buttons).
        keep_row = keep_row or (tab == InboxTab.ACCEPTED and lead.stage in InboxTab.ACCEPTED_STAGES)
        body = ""
        if keep_row:
            row = inbox_row(_get_lead(lead.pk))
            can_reassign = has_role(request.user, Role.MANAGER)  # admins hold every role
            body = render_rows([row], tab=tab, can_claim=False, user_id=request.user.id, can_reassign=can_reassign)
        response = HttpResponse(body + toast)
        target = f"#lead-row-{lead.pk}"
        counts = _tab_counts(request.user)
    else:
        body = render_to_string("leads/_lead_live.html", _live_context(request, _get_lead(lead.pk)), request)
        response = HttpResponse(body + toast)
        target, counts = "#lead-live", {}
    retarget(response, target)
    reswap(response, "outerHTML")
    return trigger_client_event(response, "accord:done", {"lead": lead.pk, "counts": counts}, after="swap")


def _conflict(request: HttpRequest, pk: int, error: LeadError) -> HttpResponse:
    """The loser of a race, or an action the lead's state no longer allows: 409 with the reason."""
    if not _in_place(request):
        messages.error(request, str(error))
        return redirect(_safe_next(request, reverse("leads:lead_detail", args=[pk])))
    if _ctx(request) == "row":
        body = render_to_string("leads/_conflict_row.html", {"pk": pk, "error": str(error)}, request)
        target = f"#lead-row-{pk}"
    else:
        lead = _get_lead(pk)
        body = render_to_string("leads/_lead_live.html", _live_context(request, lead, error=str(error)), request)
        target = "#lead-live"
    response = HttpResponse(body, status=409)
    retarget(response, target)
    reswap(response, "outerHTML")
    return trigger_client_event(response, "accord:done", {"lead": pk, "error": str(error)}, after="swap")


ACTION_COPY = {
    "recycle": ("Recycle to nurture", "Back to marketing's nurture track; engagement restarts from today.", "Recycle"),
    "reject": ("Reject", "Send the lead back to marketing with a reason they can act on.", "Reject"),
    "disqualify": ("Disqualify", "This person can never buy from us (fake data, wrong company).", "Disqualify"),
    "convert": ("Convert to SQL", "Sales opens an opportunity for this lead.", "Convert"),
    "won": ("Mark as won", "The opportunity closed as a customer.", "Mark won"),
    "lost": ("Mark as lost", "The opportunity closed without a deal.", "Mark lost"),
    "reassign": ("Reassign", "Hand this lead to another SDR of the team.", "Reassign"),
    "attempt": (
        "Log a follow-up attempt",
        "The agreement counts attempts logged within its business days after acceptance.",
        "Log attempt",
    ),
}


def _form_view(
    request: HttpRequest,
    pk: int,
    name: str,
    make_form: Callable,
    run: Callable,
    *,
    keep_row: bool = False,
    undo: bool = True,
) -> HttpResponse:
    """GET: the form (modal partial or full page). POST: validate → service → row/panel/redirect."""
    lead = _get_lead(pk)
    form = make_form(lead, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if form.is_valid():
            try:
                lead = run(lead, form.cleaned_data)
            except LeadError as error:
                return _conflict(request, pk, error)
            return _done(request, lead, _success_text(name, lead), keep_row=keep_row, undo=undo and name != "reassign")
        status = 422
    else:
        status = 200
    title, help_text, submit = ACTION_COPY[name]
    context = {
        "lead": lead,
        "form": form,
        "name": name,
        "title": title,
        "help_text": help_text,
        "submit": submit,
        "ctx": _ctx(request),
        "action_url": reverse(f"leads:{name}", args=[lead.pk]),
        "next": _safe_next(request, ""),
        "tab": request.POST.get("tab") or request.GET.get("tab") or "",
    }
    template = "leads/_action_form.html" if request.htmx else "leads/action_form.html"
    response = render(request, template, context, status=status)
    if request.htmx and status == 422:
        retarget(response, "#action-modal-body")
        reswap(response, "innerHTML")
    return response


def _success_text(name: str, lead: Lead) -> str:
    return {
        "accept": f"Accepted {lead}: it is your SAL now.",
        "claim": f"{lead} is yours now.",
        "recycle": f"Recycled {lead} to nurture until {lead.revisit_on:%d %b %Y}." if lead.revisit_on else "Recycled.",
        "reject": f"Rejected {lead}; marketing sees your reason.",
        "disqualify": f"Disqualified {lead}.",
        "convert": f"Converted {lead} to SQL.",
        "won": f"{lead} is won. Congratulations!",
        "lost": f"{lead} is marked as lost.",
        "reassign": f"{lead} now belongs to {display_name(lead.owner)}." if lead.owner else "",
        "undo": f"Undone: {lead} is {lead.get_stage_display()} again.",
        "attempt": f"Logged a follow-up attempt on {lead}.",
    }[name]


def _spec():
    version = services.active_version()
    return version.spec if version else {}


@require_POST
@role_required(*INBOX_ROLES)
def accept(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        lead = services.lead_accept(lead_id=pk, user=request.user)
    except LeadError as error:
        return _conflict(request, pk, error)
    return _done(request, lead, _success_text("accept", lead))


@require_POST
@role_required(Role.SDR)
def claim(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        lead = services.lead_claim(lead_id=pk, user=request.user)
    except LeadError as error:
        return _conflict(request, pk, error)
    return _done(request, lead, _success_text("claim", lead), undo=False)


@require_POST
@role_required(*INBOX_ROLES)
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back one's latest action on the lead (the Undo of the message that confirmed it)."""
    transition_id = request.POST.get("transition", "")
    if not transition_id.isdigit():
        return _conflict(request, pk, LeadError("Say which action to undo."))
    try:
        lead = services.lead_undo(lead_id=pk, user=request.user, transition_id=int(transition_id))
    except LeadError as error:
        return _conflict(request, pk, error)
    if _in_place(request) and _ctx(request) == "row":
        # The lead comes back into a queue the page has already re-ordered: reload the queue.
        response = HttpResponse(_toast(_success_text("undo", lead)))
        reswap(response, "none")
        counts = _tab_counts(request.user)
        return trigger_client_event(response, "accord:undone", {"lead": lead.pk, "counts": counts}, after="swap")
    return _done(request, lead, _success_text("undo", lead), undo=False)


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def recycle(request: HttpRequest, pk: int) -> HttpResponse:
    """Back to marketing's nurture track with a reason and a revisit date."""
    return _form_view(
        request,
        pk,
        "recycle",
        lambda lead, data: RecycleForm(data, spec=_spec()),
        lambda lead, cleaned: services.lead_recycle(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def reject(request: HttpRequest, pk: int) -> HttpResponse:
    """Back to marketing with one of the agreement's reject reasons and a note."""
    return _form_view(
        request,
        pk,
        "reject",
        lambda lead, data: RejectForm(data, spec=_spec()),
        lambda lead, cleaned: services.lead_reject(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def disqualify(request: HttpRequest, pk: int) -> HttpResponse:
    """Out for good (fake data, wrong company), with a note."""
    return _form_view(
        request,
        pk,
        "disqualify",
        lambda lead, data: DisqualifyForm(data),
        lambda lead, cleaned: services.lead_disqualify(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def convert(request: HttpRequest, pk: int) -> HttpResponse:
    """SAL → SQL with the opportunity's amount."""
    return _form_view(
        request,
        pk,
        "convert",
        lambda lead, data: ConvertForm(data),
        lambda lead, cleaned: services.lead_convert(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def won(request: HttpRequest, pk: int) -> HttpResponse:
    """SQL → won."""
    return _form_view(
        request,
        pk,
        "won",
        lambda lead, data: WonForm(data),
        lambda lead, cleaned: services.lead_mark_won(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*INBOX_ROLES)
def lost(request: HttpRequest, pk: int) -> HttpResponse:
    """SQL → lost, with a note."""
    return _form_view(
        request,
        pk,
        "lost",
        lambda lead, data: LostForm(data),
        lambda lead, cleaned: services.lead_mark_lost(lead_id=lead.pk, user=request.user, **cleaned),
    )


@require_http_methods(["GET", "POST"])
@role_required(*EVERYONE)
def attempt(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a follow-up attempt on an accepted lead (its owner, its team's manager, a leader)."""
    lead = _get_lead(pk)
    if not followup.may_log_attempt(request.user, lead):
        raise PermissionDenied("Only the lead's owner, its team's manager or a leader can log follow-up attempts.")
    return _form_view(
        request,
        pk,
        "attempt",
        lambda lead, data: AttemptForm(data),
        lambda lead, cleaned: followup.attempt_log(lead_id=lead.pk, user=request.user, **cleaned).lead,
        keep_row=True,
        undo=False,
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.MANAGER)
def reassign(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _get_lead(pk)
    if not _permissions(request.user, lead)["can_reassign"]:
        raise PermissionDenied("Only the manager of the lead's team can reassign it.")
    return _form_view(
        request,
        pk,
        "reassign",
        lambda lead, data: ReassignForm(data, candidates=services.reassign_candidates(lead)),
        lambda lead, d: services.lead_reassign(lead_id=lead.pk, user=request.user, to_user_id=d["to_user"].pk),
        keep_row=True,
    )


@require_POST
@role_required(*EVERYONE)
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    lead = _get_lead(pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        services.note_add(lead_id=lead.pk, user=request.user, body=form.cleaned_data["body"])
        form = NoteForm()
        status = 200
    else:
        status = 422
    if not request.htmx:
        if status == 200:
            messages.success(request, "Note added.")
        else:
            messages.error(request, "A note cannot be empty.")
        return redirect("leads:lead_detail", pk=lead.pk)
    notes = lead.notes.select_related("author").order_by("-created_at", "-id")
    return render(request, "leads/_notes.html", {"lead": lead, "notes": notes, "note_form": form}, status=status)


# --- bulk -----------------------------------------------------------------------------------------


def _selected_ids(request: HttpRequest) -> list[int]:
    ids = []
    for raw in request.POST.getlist("lead_ids"):
        if raw.isdigit():
            ids.append(int(raw))
    return ids


def _bulk_response(request: HttpRequest, result: services.BulkResult, verb: str) -> HttpResponse:
    done = len(result.done)
    parts = [f"{verb} {done} lead{'s' if done != 1 else ''}."] if done else []
    context = {"summary": " ".join(parts), "failed": result.failed, "done": [lead.pk for lead in result.done]}
    if not request.htmx:
        if done:
            messages.success(request, context["summary"])
        for pk, why in result.failed:
            messages.error(request, f"Lead #{pk}: {why}")
        return redirect(_safe_next(request, reverse("leads:inbox")))
    response = render(request, "leads/_bulk_result.html", context)
    retarget(response, "#bulk-result")
    reswap(response, "innerHTML")
    counts = _tab_counts(request.user)
    return trigger_client_event(response, "accord:bulk-done", {"done": context["done"], "counts": counts}, after="swap")


@require_POST
@role_required(*INBOX_ROLES)
def bulk_accept(request: HttpRequest) -> HttpResponse:
    ids = _selected_ids(request)
    if not ids:
        return _bulk_response(request, services.BulkResult(failed=[(0, "Select at least one lead.")]), "Accepted")
    return _bulk_response(request, services.lead_bulk_accept(lead_ids=ids, user=request.user), "Accepted")


def _bulk_form(request: HttpRequest, name: str, form, run) -> HttpResponse:
    ids = _selected_ids(request)
    if not ids:
        form.add_error(None, "Select at least one lead in the queue first.")
    if ids and form.is_valid():
        return _bulk_response(request, run(ids, form.cleaned_data), "Recycled" if name == "recycle" else "Rejected")
    title, help_text, submit = ACTION_COPY[name]
    context = {
        "form": form,
        "name": name,
        "title": f"{title} {len(ids)} selected lead{'s' if len(ids) != 1 else ''}",
        "help_text": help_text,
        "submit": submit,
        "ctx": "bulk",
        "action_url": reverse(f"leads:bulk_{name}"),
        "lead_ids": ids,
    }
    status = 422 if form.is_bound or not ids else 200
    if not request.htmx:
        return render(request, "leads/action_form.html", context, status=status)
    response = render(request, "leads/_action_form.html", context, status=status)
    retarget(response, "#action-modal-body")
    return reswap(response, "innerHTML")


@require_POST
@role_required(*INBOX_ROLES)
def bulk_recycle(request: HttpRequest) -> HttpResponse:
    form = RecycleForm(request.POST if request.POST.get("reason_code") is not None else None, spec=_spec())
    return _bulk_form(
        request,
        "recycle",
        form,
        lambda ids, d: services.lead_bulk_recycle(
            lead_ids=ids, user=request.user, reason_code=d["reason_code"], revisit_on=d["revisit_on"], note=d["note"]
        ),
    )


@require_POST
@role_required(*INBOX_ROLES)
def bulk_reject(request: HttpRequest) -> HttpResponse:
    form = RejectForm(request.POST if request.POST.get("reason_code") is not None else None, spec=_spec())
    return _bulk_form(
        request,
        "reject",
        form,
        lambda ids, d: services.lead_bulk_reject(
            lead_ids=ids, user=request.user, reason_code=d["reason_code"], note=d["note"]
        ),
    )
