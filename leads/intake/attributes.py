"""Custom attribute values arriving through the API or a CSV, checked against the data dictionary.

``clean_attributes`` turns what a client sent (``{"lead_origin": "Google", "time_on_site": "2.5"}``)
into what is stored in the ``attributes`` JSON (see ``alignment.dictionary`` for the form of each
type), or explains per key what is wrong and what the attribute accepts. ``None`` (or "") clears
a value: the attribute becomes unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from alignment.countries import fold
from alignment.dictionary import AttributeDef, Dictionary

MAX_TEXT = 1000
_YES = {"yes", "y", "true", "t", "1", "ja", "oui", "si"}
_NO = {"no", "n", "false", "f", "0", "nein", "non"}


class ValueRefused(ValueError):
    """A value the dictionary does not accept; the message says what it accepts."""


def _accepts(attribute: AttributeDef) -> str:
    if attribute.type in ("choice", "multi_choice"):
        live = [c.value for c in attribute.choices if not c.archived]
        shown = ", ".join(live[:20]) + (", …" if len(live) > 20 else "")
        return f"one of: {shown}" if attribute.type == "choice" else f"a list of: {shown}"
    return {
        "number": "a number such as 12 or 2.5",
        "yes_no": "yes or no (true/false)",
        "date": "a date as YYYY-MM-DD",
        "text": f"text of at most {MAX_TEXT} characters",
    }[attribute.type]


def _refused(attribute: AttributeDef, value: Any) -> ValueRefused:
    # Built only for a refused value: listing the choices costs more than checking a valid one.
    accepted = _accepts(attribute)
    return ValueRefused(f'"{value}" is not accepted by {attribute.label} ({attribute.key}): give {accepted}.')


def clean_value(attribute: AttributeDef, value: Any, lookup: Mapping[str, str]) -> Any:
    """The stored form of ``value`` for ``attribute``; None means unknown. Raises with what it accepts."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = attribute.type
    if kind == "choice":
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise _refused(attribute, value)
        found = lookup.get(fold(str(value)))
        if found is None:
            raise _refused(attribute, value)
        return found
    if kind == "multi_choice":
        items = value if isinstance(value, list) else str(value).split(";") if isinstance(value, str) else None
        if items is None:
            raise _refused(attribute, value)
        out: list[str] = []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                continue
            found = lookup.get(fold(item))
            if found is None:
                raise _refused(attribute, item)
            if found.lower() not in out:
                out.append(found.lower())  # stored in lower case: see alignment.dictionary
        return out or None
    if kind == "number":
        if isinstance(value, bool):
            raise _refused(attribute, value)
        try:
            number = Decimal(str(value).strip().replace(",", "")) if not isinstance(value, int | float) else value
        except InvalidOperation:
            raise _refused(attribute, value) from None
        if isinstance(number, Decimal):
            if not number.is_finite():
                raise _refused(attribute, value)
            number = int(number) if number == number.to_integral_value() else float(number)
        if isinstance(number, float) and number != number:  # NaN
            raise _refused(attribute, value)
        return number
    if kind == "yes_no":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
        raise _refused(attribute, value)
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value).strip()[:10]).isoformat()
        except ValueError:
            raise _refused(attribute, value) from None
    text = str(value).strip()
    if "\x00" in text or len(text) > MAX_TEXT:
        raise _refused(attribute, value)
    return text


def clean_attributes(
    values: Mapping[str, Any], dictionary: Dictionary, *, objects: tuple[str, ...] = ("lead", "account")
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """``({"lead": {key: stored}, "account": {key: stored}}, errors)``; errors are keyed ``attributes.<key>``.

    A stored value of None asks to clear the attribute. Built-in fields have their own names and
    are refused here; so are unknown and archived keys, with the keys that are accepted.
    """
    cleaned: dict[str, dict[str, Any]] = {"lead": {}, "account": {}}
    errors: dict[str, list[str]] = {}
    custom = dictionary.custom_attributes(objects)
    for key, value in values.items():
        attribute = custom.get(key)
        if attribute is None:
            known = ", ".join(sorted(custom)) or "none yet (add them on the Data page or POST /api/v1/attributes)"
            builtin = dictionary.attributes.get(key)
            if builtin is not None and builtin.builtin:
                message = f"{key} is a built-in field: send it as a field of its own, not in attributes."
            else:
                message = f"Unknown attribute '{key}'. Known attributes: {known}."
            errors[f"attributes.{key}"] = [message]
            continue
        try:
            lookup = dictionary.choice_lookup(key) if attribute.type in ("choice", "multi_choice") else {}
            cleaned[attribute.object][key] = clean_value(attribute, value, lookup)
        except ValueRefused as exc:
            errors[f"attributes.{key}"] = [str(exc)]
    return cleaned, errors


def clean_builtin_choice(name: str, value: Any, dictionary: Dictionary) -> str | None:
    """A built-in choice field (source, seniority, country, …) or an activity kind, by value, label or alias."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    found = dictionary.choice_lookup(name).get(fold(str(value))) if isinstance(value, str | int) else None
    if found is not None:
        return found
    if name == "kind":
        shown = ", ".join(k.key for k in dictionary.live_kinds())
        raise ValueRefused(f'"{value}" is not an activity kind; use one of: {shown}.')
    attribute = dictionary.attributes[name]
    if name == "country":
        raise ValueRefused(f'"{value}" is not a country: use an ISO code such as GB, US or DE, or its English name.')
    raise ValueRefused(f'"{value}" is not a known {attribute.label.lower()}; use {_accepts(attribute)}.')
