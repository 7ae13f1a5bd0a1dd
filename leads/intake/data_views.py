"""The Data page: the organisation's attributes, their choices and its activity kinds.

Everyone reads it; marketing and sales leaders (and admins) add, rename, archive and merge.
Every change is recorded (``DictionaryChange``) and listed on the page with who and when. It is
also where the organisation says what "converted" means for evidence, suggestions and proposals.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import TYPE_LABELS, load_dictionary
from alignment.models import ActivityKind, Attribute, Country, DictionaryChange
from leads.intake.values import choice_values_merge, country_region_set
from leads.scoring.outcomes import current_outcome, outcome_choices, outcome_set
from portal.access import EVERYONE, LEADERS, has_role, role_required


class AttributeForm(forms.Form):
    label = forms.CharField(max_length=120)
    key = forms.SlugField(max_length=60, help_text="Lower-case letters, digits and _; never changes.")
    type = forms.ChoiceField(choices=list(TYPE_LABELS.items()))
    object = forms.ChoiceField(choices=Attribute.Object.choices, label="Belongs to")
    before_contact = forms.BooleanField(required=False, initial=True, label="Known before first contact")
    choices = forms.CharField(required=False, help_text="For choice types: one value per line.", widget=forms.Textarea)


class KindForm(forms.Form):
    label = forms.CharField(max_length=120)
    key = forms.SlugField(max_length=30)
    description = forms.CharField(required=False)


def _can_edit(user) -> bool:
    return has_role(user, *LEADERS)


def _edit(view):
    return role_required(*LEADERS)(require_POST(view))


def _refused(request: HttpRequest, exc: data_dictionary.DictionaryError) -> None:
    messages.error(request, str(exc))


@role_required(*EVERYONE)
@require_GET
def data_home(request: HttpRequest) -> HttpResponse:
    dictionary = load_dictionary()
    choices = outcome_choices()
    return render(
        request,
        "leads/data.html",
        {
            "attributes": list(dictionary.attributes.values()),
            "kinds": list(dictionary.kinds.values()),
            "types": TYPE_LABELS,
            "changes": DictionaryChange.objects.select_related("actor")[:30],
            "can_edit": _can_edit(request.user),
            "outcome": current_outcome(choices),
            "outcome_choices": choices,
            "form": AttributeForm(),
            "kind_form": KindForm(),
        },
    )


@_edit
def attribute_add(request: HttpRequest) -> HttpResponse:
    form = AttributeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("leads:data")
    data = form.cleaned_data
    lines = [line.strip() for line in data["choices"].splitlines() if line.strip()]
    try:
        attribute = data_dictionary.attribute_create(
            key=data["key"],
            label=data["label"],
            type=data["type"],
            object=data["object"],
            before_contact=data["before_contact"],
            choices=[{"value": line} for line in lines],
            user=request.user,
        )
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
        return redirect("leads:data")
    messages.success(request, f"Added {attribute.label}: rules, imports and the API can use it now.")
    return redirect("leads:data_attribute", key=attribute.key)


@role_required(*EVERYONE)
@require_GET
def attribute_detail(request: HttpRequest, key: str) -> HttpResponse:
    attribute = get_object_or_404(Attribute, key=key)
    definition = load_dictionary().attributes[key]
    return render(
        request,
        "leads/data_attribute.html",
        {
            "attribute": attribute,
            "definition": definition,
            "choices": attribute.choices.all() if key != "country" else [],
            "countries": Country.objects.all() if key in ("country", "region") else [],
            "rules": data_dictionary.rules_using(field=key),
            "changes": DictionaryChange.objects.filter(subject__startswith=key).select_related("actor")[:30],
            "can_edit": _can_edit(request.user),
        },
    )


@_edit
def attribute_edit(request: HttpRequest, key: str) -> HttpResponse:
    attribute = get_object_or_404(Attribute, key=key)
    archived = {"archive": True, "restore": False}.get(request.POST.get("action", ""))
    try:
        data_dictionary.attribute_update(
            attribute=attribute,
            label=request.POST.get("label"),
            help=request.POST.get("help"),
            archived=archived,
            unknown_aliases=(
                request.POST["unknown_aliases"].splitlines() if "unknown_aliases" in request.POST else None
            ),
            user=request.user,
        )
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Saved {attribute.key}.")
    return redirect("leads:data_attribute", key=key)


@_edit
def choice_add(request: HttpRequest, key: str) -> HttpResponse:
    attribute = get_object_or_404(Attribute, key=key)
    aliases = [a.strip() for a in request.POST.get("aliases", "").split(",") if a.strip()]
    choice = {"value": request.POST.get("value", ""), "label": request.POST.get("label") or None, "aliases": aliases}
    try:
        data_dictionary.attribute_update(attribute=attribute, choices=[choice], user=request.user)
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    return redirect("leads:data_attribute", key=key)


@_edit
def choice_archive(request: HttpRequest, key: str) -> HttpResponse:
    attribute = get_object_or_404(Attribute, key=key)
    try:
        data_dictionary.choice_archive(
            attribute=attribute,
            value=request.POST.get("value", ""),
            archived=request.POST.get("action") != "restore",
            user=request.user,
        )
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    return redirect("leads:data_attribute", key=key)


@_edit
def choice_merge(request: HttpRequest, key: str) -> HttpResponse:
    attribute = get_object_or_404(Attribute, key=key)
    source, target = request.POST.get("source", ""), request.POST.get("target", "")
    try:
        changed, rules = choice_values_merge(attribute=attribute, source=source, target=target, user=request.user)
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Merged {source} into {target}: {changed:,} stored values rewritten.")
        if rules:
            messages.warning(request, f"These rules named {source}; they now read it as {target}: {'; '.join(rules)}.")
    return redirect("leads:data_attribute", key=key)


@_edit
def outcome_edit(request: HttpRequest) -> HttpResponse:
    """What converted means for every panel and the insights API."""
    try:
        outcome = outcome_set(code=request.POST.get("converted", ""), user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("leads:data")
    messages.success(request, f"Evidence, suggestions and proposals now read {outcome.describe()}.")
    return redirect(reverse("leads:data") + "#converted")


@_edit
def kind_add(request: HttpRequest) -> HttpResponse:
    form = KindForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("leads:data")
    try:
        kind = data_dictionary.kind_create(user=request.user, **form.cleaned_data)
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"Added the activity kind {kind.label}.")
    return redirect("leads:data")


@_edit
def kind_edit(request: HttpRequest, key: str) -> HttpResponse:
    kind = get_object_or_404(ActivityKind, key=key)
    archived = {"archive": True, "restore": False}.get(request.POST.get("action", ""))
    try:
        data_dictionary.kind_update(kind=kind, label=request.POST.get("label"), archived=archived, user=request.user)
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    return redirect("leads:data")


@_edit
def country_region(request: HttpRequest) -> HttpResponse:
    code, region = request.POST.get("code", ""), request.POST.get("region", "")
    try:
        changed = country_region_set(code=code, region=region, user=request.user)
    except data_dictionary.DictionaryError as exc:
        _refused(request, exc)
    else:
        messages.success(request, f"{code}: region {region or '—'}; {changed:,} leads and accounts updated.")
    return redirect("leads:data_attribute", key="country")
