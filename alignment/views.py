"""Agreement pages: thin views — access check → form → service → message/partial → redirect."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from alignment import presence
from alignment import spec as vocab
from alignment.dictionary import load_dictionary, load_rule_labels
from alignment.diff import grouped
from alignment.forms import (
    RULE_SECTIONS,
    CommentForm,
    PersonaForm,
    SpecEditor,
    blank_row,
    choice_labels,
    time_zones,
)
from alignment.models import AgreementVersion, Comment, Persona
from alignment.public_holidays import countries as holiday_countries
from alignment.public_holidays import holiday_text_merge, public_holidays
from alignment.selectors import (
    card_view,
    comment_counts,
    comment_threads,
    document,
    last_saves,
    latest_revision,
    open_draft_summary,
    persona_changes,
    recent_events,
    signature_slots,
    unresolved_threads,
    version_pair,
    versions_with_signatures,
    with_comment_counts,
    with_data_notes,
)
from alignment.services import (
    OPEN_STATUSES,
    AgreementError,
    MergeConflict,
    active_persona_ids,
    comment_add,
    comment_reopen,
    comment_resolve,
    draft_abandon,
    draft_conflicts,
    draft_propose,
    draft_publish,
    draft_rename,
    draft_reopen,
    draft_save,
    draft_sign,
    draft_start,
    persona_archive,
    persona_comment_add,
    persona_names,
    persona_restore,
    persona_save,
    sides_for,
)
from alignment.services import open_draft as current_open_draft
from alignment.validation import SpecInvalid, error_messages, validate_spec
from portal.access import EVERYONE, LEADERS, has_role, role_required
from portal.params import one_of, page_number, whole_number

Status = AgreementVersion.Status


def _can_edit(user) -> bool:
    return has_role(user, *LEADERS)


def _version(number: int) -> AgreementVersion:
    return get_object_or_404(versions_with_signatures(), number=number)


def _open_version(number: int) -> AgreementVersion:
    """The open draft with this number; a 404 for anything else (closed versions cannot change)."""
    version = _version(number)
    if version.status not in OPEN_STATUSES:
        raise Http404("This version is no longer an open draft.")
    return version


def _back_to(version: AgreementVersion) -> HttpResponse:
    return redirect("alignment:version", number=version.number)


# --- Landing page, documents, history ---------------------------------------------------------


@role_required(*EVERYONE)
def agreement(request: HttpRequest) -> HttpResponse:
    """Leaders' landing page: the active agreement, the open draft and what it needs next."""
    active = versions_with_signatures().active()
    return render(
        request,
        "alignment/agreement.html",
        {
            "active": active,
            "active_signatures": signature_slots(active) if active else [],
            "draft": open_draft_summary(),
            "can_edit": _can_edit(request.user),
            "events": recent_events(limit=8),
        },
    )


@role_required(*EVERYONE)
def our_agreement(request: HttpRequest) -> HttpResponse:
    """The active agreement as a printable document every role can read."""
    version = versions_with_signatures().active()
    if version is None:
        return render(request, "alignment/our_agreement.html", {"version": None})
    return _document_page(request, version, template="alignment/our_agreement.html")


def _document_page(
    request,
    version: AgreementVersion,
    *,
    template: str,
    extra: dict | None = None,
    names: dict | None = None,
    dictionary=None,
) -> HttpResponse:
    return render(
        request,
        template,
        {
            "version": version,
            "doc": with_data_notes(document(version.spec, names, dictionary), version.spec, version.model_card),
            "signatures": signature_slots(version),
            "can_edit": _can_edit(request.user),
            **(extra or {}),
        },
    )


@role_required(*EVERYONE)
def version_detail(request: HttpRequest, number: int) -> HttpResponse:
    """An open draft's workspace, or any other version as a read-only document."""
    version = _version(number)
    names = persona_names()
    dictionary = load_dictionary()
    if version.status not in OPEN_STATUSES:
        previous = version.based_on
        changes = grouped(version_pair(previous, version, names, dictionary)) if previous else []
        return _document_page(
            request,
            version,
            template="alignment/version.html",
            extra={"previous": previous, "changes": changes, "card": card_view(version.model_card, dictionary)},
            names=names,
            dictionary=dictionary,
        )
    presence.touch(version.pk, request.user)
    problems = validate_spec(version.spec, persona_ids=active_persona_ids(), dictionary=dictionary)
    base = version.based_on
    changes = version_pair(base, version, names, dictionary) if base else []
    slots = signature_slots(version)
    counts = comment_counts(version)
    return render(
        request,
        "alignment/draft.html",
        {
            "version": version,
            "doc": with_data_notes(
                with_comment_counts(document(version.spec, names, dictionary), counts),
                version.spec,
                version.model_card,
            ),
            "card": card_view(version.model_card, dictionary),
            "signatures": slots,
            "my_sides": sides_for(request.user),
            "can_edit": _can_edit(request.user),
            "counts": counts,
            "problems": error_messages(problems),
            "changes": grouped(changes),
            "change_count": len(changes),
            "ready_to_publish": all(slot["current"] for slot in slots),
            "unresolved_threads": unresolved_threads(version),
            "base": base,
            "events": recent_events(version, limit=60),
            "last_revision": latest_revision(version),
            "poll_seconds": presence.POLL_SECONDS,
        },
    )


@role_required(*EVERYONE)
def open_draft(request: HttpRequest) -> HttpResponse:
    draft = current_open_draft()
    if draft is None:
        messages.info(request, "There is no open draft. Leaders can start one from the active agreement.")
        return redirect("alignment:agreement")
    return _back_to(draft)


@role_required(*EVERYONE)
def history(request: HttpRequest) -> HttpResponse:
    """Every version: number, status, author, signatures, published and retired dates."""
    page = Paginator(versions_with_signatures(), 25).get_page(page_number(request))
    for version in page:
        version.slots = signature_slots(version)
    numbers = list(AgreementVersion.objects.order_by("-number").values_list("number", flat=True))
    return render(request, "alignment/history.html", {"page": page, "numbers": numbers})


@role_required(*EVERYONE)
def diff(request: HttpRequest) -> HttpResponse:
    """Human-readable changes between any two versions (?from=3&to=5)."""
    numbers = list(AgreementVersion.objects.order_by("-number").values_list("number", flat=True))
    to_number = whole_number(request, "to", numbers[0] if numbers else 0)
    from_number = whole_number(request, "from", to_number - 1 if to_number > 1 else to_number)
    versions = {v.number: v for v in AgreementVersion.objects.filter(number__in=[from_number, to_number])}
    old, new = versions.get(from_number), versions.get(to_number)
    missing = [n for n, v in ((from_number, old), (to_number, new)) if v is None and numbers]
    return render(
        request,
        "alignment/diff.html",
        {
            "numbers": numbers,
            "old": old,
            "new": new,
            "from_number": from_number,
            "to_number": to_number,
            "missing": missing,
            "changes": grouped(version_pair(old, new)),
        },
    )


# --- Drafting ---------------------------------------------------------------------------------


@require_POST
@role_required(*LEADERS)
def start(request: HttpRequest) -> HttpResponse:
    try:
        version = draft_start(user=request.user, title=request.POST.get("title", ""))
    except AgreementError as exc:
        messages.error(request, str(exc))
        return redirect("alignment:agreement")
    messages.success(request, f"Draft version {version.number} started from the active agreement.")
    return redirect("alignment:edit", number=version.number)


def _editor_context(version: AgreementVersion, editor: SpecEditor, **extra) -> dict:
    personas, dictionary = editor.personas, editor.dictionary
    # Every attribute of the organisation with the operators of its type and its choices to pick from.
    return {
        "version": version,
        "editor": editor,
        "value_hints": {
            key: {"kind": a.type, "choices": choice_labels(key, personas, dictionary)}
            for key, a in dictionary.attributes.items()
        },
        "operators_for": {key: list(a.operators) for key, a in dictionary.attributes.items()},
        "time_zones": time_zones(),
        "holiday_countries": holiday_countries(),
        "holiday_years": _holiday_years(),
        "signatures": signature_slots(version),
        "poll_seconds": presence.POLL_SECONDS,
        **extra,
    }


def _holiday_years() -> list[int]:
    """This year and next; from October on, next year first (it is the one left to plan)."""
    today = timezone.localdate()
    years = [today.year, today.year + 1]
    return years[::-1] if today.month >= 10 else years


def _personas() -> list[Persona]:
    return list(Persona.objects.all())


@role_required(*LEADERS)
def edit(request: HttpRequest, number: int) -> HttpResponse:
    """The draft's editor: every section as forms; a stale save is merged, conflicts go to a chooser."""
    version = _open_version(number)
    personas = _personas()
    if request.method != "POST":
        presence.touch(version.pk, request.user, editing=True)
        editor = SpecEditor(
            spec=version.spec, personas=personas, revision=version.revision, dictionary=load_dictionary()
        )
        return render(request, "alignment/edit.html", _editor_context(version, editor))
    editor = SpecEditor(
        spec=version.spec, personas=personas, data=request.POST, revision=version.revision, dictionary=load_dictionary()
    )
    if not editor.is_valid():
        messages.error(request, "Nothing was saved yet: fix the fields marked below.")
        return render(request, "alignment/edit.html", _editor_context(version, editor), status=422)
    spec = editor.build()
    try:
        result = draft_save(
            version=version, user=request.user, spec=spec, base_revision=editor.base_revision, note=editor.note
        )
    except SpecInvalid as exc:
        editor.apply_errors(exc.errors)
        messages.error(request, "Nothing was saved yet: fix the fields marked below.")
        return render(request, "alignment/edit.html", _editor_context(version, editor), status=422)
    except MergeConflict as exc:
        return _conflict_page(request, version, exc, spec=spec, base_revision=editor.base_revision, note=editor.note)
    except AgreementError as exc:
        messages.error(request, str(exc))
        return render(request, "alignment/edit.html", _editor_context(version, editor), status=409)
    _report_save(request, result)
    return _back_to(version)


def _report_save(request: HttpRequest, result) -> None:
    version = result.version
    if not result.saved:
        messages.info(request, "No changes to save: the draft already says exactly this.")
        return
    n = len(result.changes)
    text = f"Saved revision {version.revision} with {n} change{pluralize(n)}."
    if result.merged:
        text += f" Merged with the changes {', '.join(result.merged_with)} saved meanwhile; nothing was lost."
    if result.voided:
        sides = ", ".join(s.get_side_display() for s in result.voided)
        text += f" The draft was reopened and the signatures of {sides} were voided: it must be signed again."
    messages.success(request, text)


def _conflict_page(
    request, version, exc: MergeConflict, *, spec: dict, base_revision: int, note: str, errors: list[str] | None = None
) -> HttpResponse:
    names, dictionary = persona_names(), load_dictionary()
    rows = [
        {
            "key": c.key,
            "label": c.label(names, dictionary),
            "mine": c.shown("mine", names, dictionary),
            "theirs": c.shown("theirs", names, dictionary),
            "base": c.shown("base", names, dictionary),
        }
        for c in exc.conflicts
    ]
    return render(
        request,
        "alignment/conflict.html",
        {
            "version": version,
            "rows": rows,
            "others": exc.others,
            "current_revision": exc.current_revision,
            "base_revision": base_revision,
            "mine_json": json.dumps(spec),
            "note": note,
            "errors": errors or [],
        },
        status=409,
    )


@require_POST
@role_required(*LEADERS)
def resolve(request: HttpRequest, number: int) -> HttpResponse:
    """Second step of a conflicting save: the person's own spec plus a choice per conflict."""
    version = _open_version(number)
    try:
        spec = json.loads(request.POST.get("mine", ""))
        base_revision = int(request.POST.get("base_revision", ""))
    except (ValueError, TypeError):
        messages.error(request, "The form was incomplete; open the editor again.")
        return redirect("alignment:edit", number=version.number)
    if not isinstance(spec, dict):
        return HttpResponseBadRequest("Malformed agreement.")
    note = request.POST.get("note", "")[:200]
    choices = {
        key[len("choice:") :]: value
        for key, value in request.POST.items()
        if key.startswith("choice:") and value in ("mine", "theirs")
    }
    try:
        result = draft_save(
            version=version, user=request.user, spec=spec, base_revision=base_revision, choices=choices, note=note
        )
    except MergeConflict as exc:
        if choices:
            messages.warning(request, "Choose a value for every field listed (someone may have saved again).")
        return _conflict_page(request, version, exc, spec=spec, base_revision=base_revision, note=note)
    except SpecInvalid as exc:
        messages.error(request, "Those choices together make the agreement invalid; choose differently.")
        pending = MergeConflict(
            conflicts=draft_conflicts(version=version, spec=spec, base_revision=base_revision),
            current_revision=version.revision,
            others=[],
        )
        return _conflict_page(
            request,
            version,
            pending,
            spec=spec,
            base_revision=base_revision,
            note=note,
            errors=error_messages(exc.errors),
        )
    except AgreementError as exc:
        messages.error(request, str(exc))
        return _back_to(version)
    _report_save(request, result)
    return _back_to(version)


@require_GET
@role_required(*LEADERS)
def rule_row(request: HttpRequest, number: int, section: str) -> HttpResponse:
    """One empty row for a rule formset (htmx "Add" button); ``index`` is the formset's next index."""
    _open_version(number)
    if section not in RULE_SECTIONS:
        raise Http404("Unknown section.")
    index = whole_number(request, "index")
    if index is None or index >= 1000:
        raise BadRequest("“index” must be the formset's next row number, below 1000.")
    _, formset_class = RULE_SECTIONS[section]
    formset = formset_class(prefix=section, form_kwargs={"personas": _personas(), "dictionary": load_dictionary()})
    # The formset builds the row so it carries the same prefix and "Remove" field as the others.
    # _construct_form leaves out form_kwargs (the formset's ``forms`` adds them): pass them, or the
    # new row would offer only the built-in fields.
    form = formset._construct_form(
        index, initial=blank_row(section), empty_permitted=False, **formset.get_form_kwargs(index)
    )
    template = f"alignment/_row_{section}.html" if section in ("fit", "ko", "beh") else "alignment/_row_reason.html"
    return render(request, template, {"form": form, "section": section, "new": True})


def _state_action(request: HttpRequest, number: int, service, success: str, **kwargs) -> HttpResponse:
    version = _version(number)
    try:
        service(version=version, user=request.user, **kwargs)
    except SpecInvalid as exc:
        problems = error_messages(exc.errors)
        messages.error(
            request,
            format_html(
                "The draft cannot be proposed until these are fixed: {}",
                "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
            ),
        )
    except AgreementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success.format(number=version.number))
    return redirect("alignment:version", number=version.number)


@require_POST
@role_required(*LEADERS)
def propose(request: HttpRequest, number: int) -> HttpResponse:
    return _state_action(request, number, draft_propose, "Version {number} is frozen and proposed for sign-off.")


@require_POST
@role_required(*LEADERS)
def reopen(request: HttpRequest, number: int) -> HttpResponse:
    return _state_action(request, number, draft_reopen, "Version {number} is open for editing again.")


@require_POST
@role_required(*LEADERS)
def sign(request: HttpRequest, number: int) -> HttpResponse:
    side = request.POST.get("side", "")
    if request.POST.get("confirmed") != "1":
        # A signature binds a side: only the confirmation dialog (which lists open threads) signs.
        messages.warning(request, "Nothing was signed: confirm your signature in the dialog.")
        return redirect("alignment:version", number=number)
    return _state_action(request, number, draft_sign, f"You signed version {{number}} for {side}.", side=side)


@require_POST
@role_required(*LEADERS)
def rename(request: HttpRequest, number: int) -> HttpResponse:
    version = _version(number)
    try:
        version = draft_rename(version=version, user=request.user, title=request.POST.get("title", ""))
    except AgreementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Draft version {version.number} is now titled “{version.title}”.")
    return _back_to(version)


@require_POST
@role_required(*LEADERS)
def publish(request: HttpRequest, number: int) -> HttpResponse:
    version = _version(number)
    try:
        draft_publish(version=version, user=request.user)
    except AgreementError as exc:
        messages.error(request, str(exc))
        return _back_to(version)
    messages.success(
        request,
        f"Version {version.number} is now the active agreement. Both leaders were e-mailed and every lead "
        "is being rescored.",
    )
    return redirect("alignment:agreement")


@require_POST
@role_required(*LEADERS)
def abandon(request: HttpRequest, number: int) -> HttpResponse:
    version = _version(number)
    try:
        draft_abandon(version=version, user=request.user, reason=request.POST.get("reason", "")[:200])
    except AgreementError as exc:
        messages.error(request, str(exc))
        return _back_to(version)
    messages.success(request, f"Draft version {version.number} was abandoned; the history keeps it.")
    return redirect("alignment:agreement")


@require_GET
@role_required(*LEADERS)
def holidays_prefill(request: HttpRequest) -> HttpResponse:
    """The editor's holidays field with a country's public holidays added (htmx swaps it in; nothing is saved)."""
    text = request.GET.get("holidays", "")
    country = request.GET.get("holiday_country", "")
    this_year = timezone.localdate().year
    year = whole_number(request, "holiday_year", this_year)
    if not this_year - 1 <= year <= this_year + 5:
        raise BadRequest(f"Choose a year between {this_year - 1} and {this_year + 5}.")
    error = ""
    try:
        found = public_holidays(country=country, years=[year], subdivision=request.GET.get("holiday_region", ""))
    except ValueError as exc:
        found, error = [], str(exc)
    return render(
        request,
        "alignment/_holidays_field.html",
        {"text": holiday_text_merge(text, found), "added": len(found), "error": error, "year": year},
    )


# --- Presence ---------------------------------------------------------------------------------


@require_GET
@role_required(*EVERYONE)
def presence_view(request: HttpRequest, number: int) -> HttpResponse:
    """Polled by the draft page and the editor: stamps the viewer, lists everyone else."""
    version = _version(number)
    presence.touch(version.pk, request.user, editing=request.GET.get("editing") == "1")
    others = presence.present(version.pk, exclude_user_id=request.user.pk)
    saves = last_saves(version)
    for person in others:
        person["last_saved"] = saves.get(person["id"])
    revision = latest_revision(version)
    return render(
        request,
        "alignment/_presence.html",
        {
            "version": version,
            "others": others,
            "revision": revision,
            "my_revision": request.GET.get("revision"),
            "editing": request.GET.get("editing") == "1",
            "poll_seconds": presence.POLL_SECONDS,
        },
    )


# --- Comments ---------------------------------------------------------------------------------


def _comments_partial(
    request, version: AgreementVersion, rule_id: str | None, *, form=None, status=200, notify: bool = True
):
    """The threads of one scope; ``notify``: tell the page that comments changed (after a write)."""
    counts = comment_counts(version)
    scope = "all" if rule_id is None else rule_id
    # The threads' titles need the labels of what the rules name only (one query).
    doc = document(version.spec, dictionary=load_rule_labels(version.spec))
    titles = {r["id"]: r["text"] for r in doc["fit_rules"]}
    titles.update({r["id"]: r["label"] for r in doc["knockouts"]})
    titles.update({r["id"]: r["kind"] for r in doc["behaviour_rules"]})
    threads = list(comment_threads(version, rule_id=rule_id))
    for thread in threads:
        thread.anchor = titles.get(thread.rule_id, "a removed rule") if thread.rule_id else ""
    response = render(
        request,
        "alignment/_comments.html",
        {
            "version": version,
            "threads": threads,
            "scope": scope,
            "counts": counts,
            "can_comment": _can_edit(request.user) and version.status not in (Status.ABANDONED, Status.RETIRED),
            "form": form or CommentForm(initial={"rule_id": rule_id or ""}),
        },
        status=status,
    )
    if notify:
        # The sidebar refreshes on changes made in a rule's thread, not on its own (it has just been swapped).
        trigger_client_event(response, "comments-changed", {"unresolved": counts["unresolved"], "scope": scope})
    return response


def _scope(request) -> str | None:
    scope = request.GET.get("scope", request.POST.get("scope", "all"))
    return None if scope == "all" else scope


@require_GET
@role_required(*EVERYONE)
def comments(request: HttpRequest, number: int) -> HttpResponse:
    """Threads of a version: ?scope=all (every thread), ?scope= (the version itself), ?scope=<rule id>."""
    version = _version(number)
    return _comments_partial(request, version, _scope(request), notify=False)


@require_POST
@role_required(*LEADERS)
def comment_create(request: HttpRequest, number: int) -> HttpResponse:
    version = _version(number)
    form = CommentForm(request.POST)
    scope = _scope(request)
    if not form.is_valid():
        return _comments_partial(request, version, scope, form=form, status=422)
    parent = None
    if form.cleaned_data.get("parent"):
        parent = get_object_or_404(Comment, pk=form.cleaned_data["parent"], version=version)
    try:
        comment_add(
            version=version,
            user=request.user,
            body=form.cleaned_data["body"],
            rule_id=form.cleaned_data.get("rule_id") or "",
            parent=parent,
        )
    except AgreementError as exc:
        form.add_error("body", str(exc))
        return _comments_partial(request, version, scope, form=form, status=422)
    if not request.htmx:
        return _back_to(version)
    return _comments_partial(request, version, scope)


def _comment_state(request, pk: int, service) -> HttpResponse:
    comment = get_object_or_404(Comment.objects.select_related("version"), pk=pk)
    try:
        service(comment=comment, user=request.user)
    except AgreementError as exc:
        if not request.htmx:
            messages.error(request, str(exc))
    if not request.htmx:
        return _back_to(comment.version)
    return _comments_partial(request, comment.version, _scope(request))


@require_POST
@role_required(*LEADERS)
def comment_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _comment_state(request, pk, comment_resolve)


@require_POST
@role_required(*LEADERS)
def comment_reopen_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _comment_state(request, pk, comment_reopen)


# --- Personas ---------------------------------------------------------------------------------


@role_required(*EVERYONE)
def persona_list(request: HttpRequest) -> HttpResponse:
    show = one_of(request, "show", ("active", "all"), "active")
    personas = Persona.objects.all() if show == "all" else Persona.objects.active()
    return render(
        request,
        "alignment/persona_list.html",
        {"personas": personas, "show": show, "can_edit": _can_edit(request.user)},
    )


@role_required(*EVERYONE)
def persona_detail(request: HttpRequest, pk: int) -> HttpResponse:
    persona = get_object_or_404(Persona, pk=pk)
    changes = persona_changes(persona)
    return render(
        request,
        "alignment/persona_detail.html",
        {
            "persona": persona,
            "changes": changes,
            "comments": persona.comments.select_related("author"),
            "can_edit": _can_edit(request.user),
            "form": CommentForm(),
            "seniorities": dict(vocab.SENIORITIES),
            "departments": dict(vocab.DEPARTMENTS),
        },
    )


@role_required(*LEADERS)
def persona_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    persona = get_object_or_404(Persona, pk=pk) if pk else Persona()
    form = PersonaForm(request.POST or None, instance=persona)
    if request.method == "POST" and form.is_valid():
        created = persona.pk is None
        persona = persona_save(persona=form.save(commit=False), user=request.user)
        messages.success(request, f"Persona '{persona.name}' {'created' if created else 'saved'}.")
        return redirect("alignment:persona_detail", pk=persona.pk)
    status = 422 if request.method == "POST" else 200
    return render(request, "alignment/persona_form.html", {"form": form, "persona": persona}, status=status)


def _persona_state(request: HttpRequest, pk: int, service, success: str) -> HttpResponse:
    persona = get_object_or_404(Persona, pk=pk)
    try:
        service(persona=persona, user=request.user)
    except AgreementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success.format(name=persona.name))
    return redirect("alignment:persona_detail", pk=pk)


@require_POST
@role_required(*LEADERS)
def persona_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _persona_state(request, pk, persona_archive, "Persona '{name}' archived; leads already matched keep it.")


@require_POST
@role_required(*LEADERS)
def persona_restore_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _persona_state(request, pk, persona_restore, "Persona '{name}' restored.")


@require_POST
@role_required(*LEADERS)
def persona_comment(request: HttpRequest, pk: int) -> HttpResponse:
    persona = get_object_or_404(Persona, pk=pk)
    try:
        persona_comment_add(persona=persona, user=request.user, body=request.POST.get("body", ""))
    except AgreementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Comment posted.")
    return redirect(reverse("alignment:persona_detail", args=[pk]) + "#comments")
