"""Writes on the data dictionary: attributes, their choices, activity kinds, country regions.

Keyword-only services in one transaction each; every change appends a ``DictionaryChange``
(who, when, what). Archiving something the active agreement or an open draft uses is refused
with a message naming the rules. Rewriting values stored on leads (merging two choices) belongs
to ``leads``, which calls ``choice_merge`` here for the dictionary's side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Lower

from alignment import spec as vocab
from alignment.countries import fold
from alignment.dictionary import BUILTIN_VALUE_MAX, TYPES, load_dictionary
from alignment.models import (
    ActivityKind,
    AgreementVersion,
    Attribute,
    AttributeChoice,
    Country,
    DictionaryChange,
    Persona,
)

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
CHOICE_TYPES = ("choice", "multi_choice")
OPEN_OR_ACTIVE = (
    AgreementVersion.Status.ACTIVE,
    AgreementVersion.Status.DRAFT,
    AgreementVersion.Status.PROPOSED,
)


class DictionaryError(Exception):
    """A change the dictionary refuses; the message is shown as is. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = ""):
        self.field = field
        super().__init__(message)


def _record(user, action: str, subject: str, summary: str, **details) -> DictionaryChange:
    return DictionaryChange.objects.create(
        actor=user if user is not None and user.is_authenticated else None,
        action=action,
        subject=subject,
        summary=summary,
        details=details,
    )


def rules_using(*, field: str | None = None, value: str | None = None, kind: str | None = None) -> list[str]:
    """Rules of the active version and of the open draft that name this attribute (and value) or kind,
    as "Version 3 (active): rule f2 — Lead origin is one of Google"."""
    found = []
    versions = list(AgreementVersion.objects.filter(status__in=OPEN_OR_ACTIVE).order_by("number"))
    dictionary = load_dictionary() if versions else None
    names = dict(Persona.objects.values_list("id", "name")) if field == "persona" and versions else None
    for version in versions:
        spec = version.spec or {}
        where = f"Version {version.number} ({version.get_status_display().lower()})"
        if kind is not None:
            for rule in spec.get("behaviour_rules", []):
                if rule.get("kind") == kind:
                    found.append(f"{where}: rule {rule.get('id')} — {vocab.describe_behaviour(rule, dictionary)}")
            continue
        for rule in (*spec.get("fit_rules", []), *spec.get("knockouts", [])):
            if rule.get("field") != field:
                continue
            if value is not None and value.lower() not in {str(v).lower() for v in rule.get("values") or []}:
                continue
            found.append(f"{where}: rule {rule.get('id')} — {vocab.describe_condition(rule, names, dictionary)}")
    return found


def _refuse_if_used(what: str, rules: list[str]) -> None:
    if rules:
        raise DictionaryError(f"{what} is used by {'; '.join(rules)}. Change those rules first.")


def _clean_choices(choices: Iterable[dict], field: str = "choices") -> list[dict]:
    cleaned, seen = [], set()
    for index, choice in enumerate(choices):
        value = str(choice.get("value") or "").strip()
        if not value or len(value) > 200:
            raise DictionaryError("Every choice needs a value of 1 to 200 characters.", f"{field}.{index}.value")
        if value.lower() in seen:
            raise DictionaryError(f"The choice '{value}' is listed twice.", f"{field}.{index}.value")
        seen.add(value.lower())
        aliases = [str(a).strip() for a in choice.get("aliases") or [] if str(a).strip()]
        cleaned.append({"value": value, "label": str(choice.get("label") or value).strip()[:200], "aliases": aliases})
    return cleaned


@transaction.atomic
def attribute_create(
    *,
    key: str,
    label: str,
    type: str,
    object: str = "lead",
    choices: Sequence[dict] = (),
    before_contact: bool = True,
    help: str = "",
    user=None,
) -> Attribute:
    """A new attribute of the organisation (stored in the lead's or account's ``attributes``)."""
    key = (key or "").strip()
    if not KEY_RE.match(key):
        raise DictionaryError("Use a key of lower-case letters, digits and _ (starting with a letter).", "key")
    if Attribute.objects.filter(key=key).exists() or key in vocab.FIELDS:
        raise DictionaryError(f"An attribute with the key '{key}' exists already.", "key")
    if type not in TYPES:
        raise DictionaryError(f"Unknown type '{type}'; use one of {', '.join(TYPES)}.", "type")
    if object not in (Attribute.Object.LEAD, Attribute.Object.ACCOUNT):
        raise DictionaryError("An attribute belongs to the lead or to the account.", "object")
    label = (label or "").strip() or key.replace("_", " ").capitalize()
    cleaned = _clean_choices(choices)
    if cleaned and type not in CHOICE_TYPES:
        raise DictionaryError("Only choice attributes have choices.", "choices")
    order = (Attribute.objects.aggregate(m=Max("order"))["m"] or 0) + 1
    attribute = Attribute.objects.create(
        key=key, label=label[:120], type=type, object=object, before_contact=before_contact, help=help, order=order
    )
    AttributeChoice.objects.bulk_create(
        AttributeChoice(attribute=attribute, order=i, **choice) for i, choice in enumerate(cleaned)
    )
    _record(user, "attribute_created", key, f"Added the attribute {label} ({attribute.get_type_display().lower()}).")
    return attribute


def _choice(attribute: Attribute, value: str) -> AttributeChoice | None:
    return attribute.choices.annotate(value_ci=Lower("value")).filter(value_ci=str(value).strip().lower()).first()


@transaction.atomic
def attribute_update(
    *,
    attribute: Attribute,
    user=None,
    label: str | None = None,
    help: str | None = None,
    before_contact: bool | None = None,
    archived: bool | None = None,
    choices: Sequence[dict] = (),
    unknown_aliases: Sequence[str] | None = None,
) -> Attribute:
    """Rename, describe, archive or restore an attribute; ``choices`` are added (or their labels and
    aliases extended when the value exists); ``unknown_aliases`` replaces the values imports read as
    unknown. The key never changes, so rules keep working."""
    attribute = Attribute.objects.select_for_update().get(pk=attribute.pk)
    changes = []
    if unknown_aliases is not None:
        cleaned = _clean_unknown_aliases(unknown_aliases, attribute)
        if cleaned != list(attribute.unknown_aliases or []):
            attribute.unknown_aliases = cleaned
            shown = ", ".join(f"'{a}'" for a in cleaned) or "nothing"
            changes.append(f"imports read {shown} as unknown")
    if label is not None and label.strip() and label.strip() != attribute.label:
        changes.append(f"renamed {attribute.label} to {label.strip()}")
        attribute.label = label.strip()[:120]
    if help is not None and help != attribute.help:
        attribute.help = help
        changes.append("changed the help text")
    if before_contact is not None and before_contact != attribute.before_contact:
        attribute.before_contact = before_contact
        changes.append("known before first contact" if before_contact else "filled in by sales")
    if archived is not None and archived != attribute.archived:
        if archived:
            _refuse_if_used(attribute.label, rules_using(field=attribute.key))
        attribute.archived = archived
        changes.append("archived it" if archived else "restored it")
    if choices:
        if attribute.type not in CHOICE_TYPES:
            raise DictionaryError(f"{attribute.label} is not a choice attribute: it has no choices.", "choices")
        cleaned = _clean_choices(choices)
        if attribute.builtin:  # stored in its own column: the value must fit it
            longest = BUILTIN_VALUE_MAX.get(attribute.key, 20)
            for index, choice in enumerate(cleaned):
                if len(choice["value"]) > longest:
                    message = (
                        f"A value of {attribute.label} has at most {longest} characters (the label may be longer)."
                    )
                    raise DictionaryError(message, f"choices.{index}.value")
        for choice in cleaned:
            changes.append(_choice_upsert(attribute, choice))
    attribute.save()
    if changes:
        _record(user, "attribute_changed", attribute.key, f"{attribute.label}: {'; '.join(changes)}.")
    return attribute


def _clean_unknown_aliases(values: Sequence[str], attribute: Attribute) -> list[str]:
    """Distinct values (case aside), none of them a spelling of one of the attribute's choices."""
    cleaned: list[str] = []
    seen: set[str] = set()
    spellings = {
        fold(s): choice.label
        for choice in attribute.choices.all()
        for s in (choice.value, choice.label, *(choice.aliases or []))
    }
    for value in values:
        value = str(value).strip()
        if not value or value.lower() in seen:
            continue
        if len(value) > 200:
            raise DictionaryError("A value read as unknown has at most 200 characters.", "unknown_aliases")
        if fold(value) in spellings:
            raise DictionaryError(
                f"'{value}' is a spelling of the choice {spellings[fold(value)]}; it cannot also mean unknown.",
                "unknown_aliases",
            )
        seen.add(value.lower())
        cleaned.append(value)
    return cleaned


def _choice_upsert(attribute: Attribute, choice: dict) -> str:
    existing = _choice(attribute, choice["value"])
    if existing is None:
        order = (attribute.choices.aggregate(m=Max("order"))["m"] or 0) + 1
        AttributeChoice.objects.create(attribute=attribute, order=order, **choice)
        return f"added the choice {choice['label']}"
    aliases = [a for a in choice["aliases"] if fold(a) not in {fold(x) for x in existing.aliases}]
    existing.aliases = [*existing.aliases, *aliases]
    if choice["label"] != choice["value"]:
        existing.label = choice["label"]
    existing.save(update_fields=["aliases", "label"])
    return f"{existing.label}: added the spellings {', '.join(aliases)}" if aliases else f"kept {existing.label}"


@transaction.atomic
def choice_archive(*, attribute: Attribute, value: str, archived: bool = True, user=None) -> AttributeChoice:
    choice = _choice(attribute, value)
    if choice is None:
        raise DictionaryError(f"{attribute.label} has no choice '{value}'.", "value")
    if archived:
        _refuse_if_used(f"{attribute.label} = {choice.label}", rules_using(field=attribute.key, value=choice.value))
    choice.archived = archived
    choice.save(update_fields=["archived"])
    verb = "archived" if archived else "restored"
    _record(user, f"choice_{verb}", f"{attribute.key}={choice.value}", f"{attribute.label}: {verb} {choice.label}.")
    return choice


@transaction.atomic
def choice_merge(*, attribute: Attribute, source: str, target: str, user=None) -> tuple[AttributeChoice, list[str]]:
    """Fold the choice ``source`` into ``target``: its value and aliases become aliases of the target
    and it is archived. Returns the target and the rules that named the old value (to be shown).
    The values stored on leads are rewritten by the caller (``leads``) in the same transaction."""
    old, new = _choice(attribute, source), _choice(attribute, target)
    if old is None or new is None:
        raise DictionaryError(f"{attribute.label} has no choice '{source if old is None else target}'.", "value")
    if old.pk == new.pk:
        raise DictionaryError("Pick two different choices to merge.", "target")
    named = rules_using(field=attribute.key, value=old.value)
    spellings = [old.value, old.label, *old.aliases]
    new.aliases = [
        *new.aliases,
        *(s for s in dict.fromkeys(spellings) if fold(s) not in {fold(a) for a in new.aliases}),
    ]
    new.save(update_fields=["aliases"])
    old.archived = True
    old.aliases = []
    old.save(update_fields=["archived", "aliases"])
    _record(
        user,
        "choices_merged",
        f"{attribute.key}={old.value}",
        f"{attribute.label}: merged {old.label} into {new.label}.",
        source=old.value,
        target=new.value,
        rules=named,
    )
    return new, named


@transaction.atomic
def kind_create(*, key: str, label: str, description: str = "", aliases: Sequence[str] = (), user=None) -> ActivityKind:
    key = (key or "").strip()
    if not KEY_RE.match(key) or len(key) > 30:
        raise DictionaryError("Use a key of lower-case letters, digits and _ (at most 30).", "key")
    if ActivityKind.objects.filter(key=key).exists():
        raise DictionaryError(f"An activity kind with the key '{key}' exists already.", "key")
    label = (label or "").strip() or key.replace("_", " ").capitalize()
    order = (ActivityKind.objects.aggregate(m=Max("order"))["m"] or 0) + 1
    kind = ActivityKind.objects.create(
        key=key, label=label[:120], description=description, aliases=[a for a in aliases if a], order=order
    )
    _record(user, "kind_created", key, f"Added the activity kind {label}.")
    return kind


@transaction.atomic
def kind_update(
    *, kind: ActivityKind, user=None, label: str | None = None, archived: bool | None = None
) -> ActivityKind:
    kind = ActivityKind.objects.select_for_update().get(pk=kind.pk)
    changes = []
    if label is not None and label.strip() and label.strip() != kind.label:
        changes.append(f"renamed {kind.label} to {label.strip()}")
        kind.label = label.strip()[:120]
    if archived is not None and archived != kind.archived:
        if archived:
            _refuse_if_used(kind.label, rules_using(kind=kind.key))
        kind.archived = archived
        changes.append("archived it" if archived else "restored it")
    kind.save()
    if changes:
        _record(user, "kind_changed", kind.key, f"{kind.label}: {'; '.join(changes)}.")
    return kind


@transaction.atomic
def country_set_region(*, country: Country, region: str, user=None) -> Country:
    before = country.region
    country.region = region.strip()[:40]
    country.save(update_fields=["region"])
    _record(user, "country_region", country.code, f"{country.name}: region {before or '—'} → {country.region or '—'}.")
    return country
