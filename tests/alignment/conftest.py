"""Helpers for the agreement tests: an active version and an open draft started the real way."""

from __future__ import annotations

import pytest

from alignment.services import draft_start
from tests.factories import AgreementVersionFactory


@pytest.fixture
def active(db):
    return AgreementVersionFactory(number=1, title="First agreement")


@pytest.fixture
def draft(active, marketing):
    return draft_start(user=marketing)


def editor_data(spec: dict, *, revision: int, personas=(), note: str = "") -> dict:
    """The POST a browser sends when the editor is submitted unchanged (then tweak fields)."""
    from alignment.forms import SpecEditor

    editor = SpecEditor(spec=spec, personas=list(personas), revision=revision)
    data: dict = {}
    for item in editor.all_forms():
        forms = [item]
        if hasattr(item, "management_form"):
            management = item.management_form
            for name in management.fields:
                data[management.add_prefix(name)] = management[name].value()
            forms = item.forms
        for form in forms:
            for name in form.fields:
                value = form[name].value()
                if value is None or value is False:
                    continue
                key = form.add_prefix(name)
                data[key] = [str(v) for v in value] if isinstance(value, list) else value
    data["note"] = note
    return data


def row_index(data: dict, prefix: str, field: str, value) -> int:
    """Index of the formset row whose ``field`` equals ``value``."""
    for key, item in data.items():
        if key.startswith(f"{prefix}-") and key.endswith(f"-{field}") and str(item) == str(value):
            return int(key.split("-")[1])
    raise KeyError(value)
