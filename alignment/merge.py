"""Three-way merge of agreement specs: two leaders edit one draft at the same time.

``merge_specs(base, mine, theirs)`` compares both edits against the revision they started from.
Rules are matched by ``id``, reasons by ``code`` and grade bands by ``grade``, so edits to
different rules, sections or fields combine without anyone's work being lost. When both sides
changed the same field (or one deleted a rule the other changed) to different values, the
merge records a ``Conflict`` holding both values; the person saving picks one per conflict and
saves again with ``choices`` (path → "mine" | "theirs").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from alignment import spec as vocab
from alignment.dictionary import Dictionary

# Lists whose items are matched by a key rather than by position.
KEYED_LISTS = {
    "fit_rules": "id",
    "knockouts": "id",
    "behaviour_rules": "id",
    "reject_reasons": "code",
    "recycle_reasons": "code",
    "grade_bands": "grade",
}


class _Missing:
    """An item or key absent on one side (added on the other, or deleted)."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Conflict:
    """One place both sides changed differently."""

    path: tuple[str, ...]
    base: Any
    mine: Any
    theirs: Any
    # The rule (or reason, band) a conflict inside one belongs to, as the base had it (else a side):
    # what names it in the title and gives its values their labels.
    item: Any = None

    @property
    def key(self) -> str:
        return "/".join(self.path)

    def label(self, persona_names: dict | None = None, dictionary: Dictionary | None = None) -> str:
        """Where the conflict is, in the organisation's words (``dictionary``: its labels)."""
        return describe_path(self.path, self.base, self.mine, self.theirs, persona_names, dictionary, item=self.item)

    def shown(self, side: str, persona_names: dict | None = None, dictionary: Dictionary | None = None) -> str:
        return format_value(self.path, getattr(self, side), persona_names, dictionary, item=self.item)


@dataclass(frozen=True)
class MergeResult:
    spec: dict
    conflicts: tuple[Conflict, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts


def merge_specs(base: dict, mine: dict, theirs: dict, choices: dict[str, str] | None = None) -> MergeResult:
    """Merge ``mine`` and ``theirs`` (both edited from ``base``). ``choices`` settle known conflicts."""
    conflicts: list[Conflict] = []
    merged = _merge(base, mine, theirs, (), conflicts, choices or {})
    return MergeResult(spec=merged, conflicts=tuple(_with_item(c, base, mine, theirs) for c in conflicts))


def _with_item(conflict: Conflict, base: dict, mine: dict, theirs: dict) -> Conflict:
    """A conflict inside a keyed item (a rule's values, points…) with that item attached."""
    path = conflict.path
    if len(path) < 3 or path[0] not in KEYED_LISTS:
        return conflict
    key_name = KEYED_LISTS[path[0]]
    for spec in (base, theirs, mine):
        items = spec.get(path[0]) if isinstance(spec, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and str(item.get(key_name)) == path[1]:
                return replace(conflict, item=item)
    return conflict


def _merge(base, mine, theirs, path: tuple[str, ...], conflicts: list[Conflict], choices: dict[str, str]):
    if mine == theirs:
        return mine
    if mine == base:
        return theirs
    if theirs == base:
        return mine
    name = path[-1] if path else ""
    if isinstance(mine, list) and isinstance(theirs, list) and name in KEYED_LISTS and len(path) == 1:
        return _merge_keyed(
            base if isinstance(base, list) else [], mine, theirs, path, KEYED_LISTS[name], conflicts, choices
        )
    if isinstance(mine, dict) and isinstance(theirs, dict):
        base_dict = base if isinstance(base, dict) else {}
        result = {}
        for key in _ordered_keys(theirs, mine):
            value = _merge(
                base_dict.get(key, MISSING),
                mine.get(key, MISSING),
                theirs.get(key, MISSING),
                (*path, str(key)),
                conflicts,
                choices,
            )
            if value is not MISSING:
                result[key] = value
        return result
    return _conflict(path, base, mine, theirs, conflicts, choices)


def _conflict(path, base, mine, theirs, conflicts: list[Conflict], choices: dict[str, str]):
    key = "/".join(path)
    choice = choices.get(key)
    if choice == "mine":
        return mine
    if choice == "theirs":
        return theirs
    conflicts.append(Conflict(path=path, base=base, mine=mine, theirs=theirs))
    return theirs


def _ordered_keys(first: dict, second: dict) -> list:
    keys = list(first)
    keys.extend(k for k in second if k not in first)
    return keys


def _merge_keyed(base, mine, theirs, path, key_name, conflicts, choices):
    def index(items):
        return {item.get(key_name): item for item in items if isinstance(item, dict)}

    b, m, t = index(base), index(mine), index(theirs)
    order = list(t)
    order.extend(k for k in m if k not in t)
    result = []
    for key in order:
        item_path = (*path, str(key))
        bi, mi, ti = b.get(key, MISSING), m.get(key, MISSING), t.get(key, MISSING)
        if mi == ti:
            merged = mi
        elif mi == bi:
            merged = ti
        elif ti == bi:
            merged = mi
        elif mi is MISSING or ti is MISSING:
            # One side deleted the item, the other changed it: the person decides.
            merged = _conflict(item_path, bi, mi, ti, conflicts, choices)
        else:
            merged = _merge(bi if bi is not MISSING else {}, mi, ti, item_path, conflicts, choices)
        if merged is not MISSING:
            result.append(merged)
    return result


# --- Describing places and values to people --------------------------------------------------

SECTION_NOUNS = {
    "fit_rules": "Fit rule",
    "knockouts": "Knock-out",
    "behaviour_rules": "Behaviour rule",
    "reject_reasons": "Rejection reason",
    "recycle_reasons": "Recycle reason",
    "grade_bands": "Grade band",
}
FIELD_NOUNS = {
    "points": "points",
    "values": "values",
    "field": "field",
    "operator": "operator",
    "label": "name",
    "kind": "activity kind",
    "cap": "cap",
    "window_days": "window (days)",
    "half_life_days": "half-life (days)",
    "description": "description",
    "min": "minimum fit score",
    "max": "maximum fit score",
}
SLA_NOUNS = {
    ("response_hours",): "Response target (business hours)",
    ("calendar", "time_zone"): "Time zone",
    ("calendar", "working_days"): "Working days",
    ("calendar", "start"): "Working day starts",
    ("calendar", "end"): "Working day ends",
    ("calendar", "holidays"): "Holidays",
    ("followup", "attempts"): "SAL follow-up attempts",
    ("followup", "days"): "SAL follow-up period (days)",
    ("monthly_mql_quota",): "Monthly MQL quota",
}


def _kind_label(kind, dictionary: Dictionary | None) -> str:
    if dictionary is not None and kind in dictionary.kinds:
        return dictionary.kind_label(kind)
    return dict(vocab.ACTIVITY_KINDS).get(kind, str(kind or ""))


def _field_label(field, dictionary: Dictionary | None) -> str:
    if dictionary is not None and field in dictionary.attributes:
        return dictionary.label(field)
    known = vocab.FIELDS.get(field)
    return known.label if known else str(field)


def _item_title(section: str, item, persona_names, dictionary: Dictionary | None = None) -> str:
    if not isinstance(item, dict):
        return ""
    if section == "fit_rules":
        return vocab.describe_condition(item, persona_names, dictionary)
    if section == "knockouts":
        return item.get("label") or vocab.describe_condition(item, persona_names, dictionary)
    if section == "behaviour_rules":
        return _kind_label(item.get("kind"), dictionary)
    if section in ("reject_reasons", "recycle_reasons"):
        return item.get("label") or item.get("code", "")
    if section == "grade_bands":
        return f"Grade {item.get('grade')}"
    return ""


def describe_path(
    path: tuple[str, ...],
    base=None,
    mine=None,
    theirs=None,
    persona_names=None,
    dictionary: Dictionary | None = None,
    item=None,
) -> str:
    """ "MQL threshold", "Fit rule 'Industry is one of Software' — points", "Time zone".

    Rules read in ``dictionary``'s labels (the organisation's attributes and activity kinds)."""
    if not path:
        return "The whole agreement"
    section = path[0]
    if section == "mql_threshold":
        return "MQL threshold"
    if section == "sla":
        rest = tuple(path[1:])
        if rest[:1] == ("response_hours",) and len(rest) == 2:
            return f"Response target for grade {rest[1]} (business hours)"
        return SLA_NOUNS.get(rest, "SLA: " + " / ".join(rest))
    if section in SECTION_NOUNS:
        noun = SECTION_NOUNS[section]
        if len(path) == 1:
            return noun + "s"
        # Name the item by the version the reader recognises: the base, else either side; a conflict
        # inside an item names it by the item it was given.
        if len(path) == 2:
            item = next((v for v in (base, theirs, mine) if isinstance(v, dict)), None)
        title = _item_title(section, item, persona_names, dictionary) if isinstance(item, dict) else ""
        if section == "grade_bands":
            label = f"Grade {path[1]} band"
        else:
            label = f"{noun} '{title}'" if title else f"{noun} {path[1]}"
        if len(path) >= 3:
            return f"{label} — {FIELD_NOUNS.get(path[2], path[2])}"
        return label
    return " / ".join(path)


def format_value(
    path: tuple[str, ...], value, persona_names: dict | None = None, dictionary: Dictionary | None = None, item=None
) -> str:
    """A value as a person reads it in the conflict table, in ``dictionary``'s labels when given."""
    if value is MISSING:
        return "(deleted)" if len(path) == 2 else "(not set)"
    if value is None:
        return "none"
    section = path[0] if path else ""
    if len(path) == 2 and section in SECTION_NOUNS and isinstance(value, dict):
        if section == "fit_rules":
            return f"{vocab.describe_condition(value, persona_names, dictionary)}: {value.get('points', 0):+d}"
        if section == "knockouts":
            return f"{value.get('label', '')}: {vocab.describe_condition(value, persona_names, dictionary)}"
        if section == "behaviour_rules":
            return vocab.describe_behaviour(value, dictionary)
        if section in ("reject_reasons", "recycle_reasons"):
            return f"{value.get('label', '')} ({value.get('code', '')}) — {value.get('description', '')}"
    if path[-1:] == ("working_days",) and isinstance(value, list):
        return ", ".join(vocab.WEEKDAYS[d][:3] for d in sorted(value) if isinstance(d, int) and 0 <= d <= 6)
    if path[-1:] == ("values",) and isinstance(value, list) and len(path) >= 3:
        field = item.get("field") if isinstance(item, dict) else None
        if field is None or section not in ("fit_rules", "knockouts"):
            return ", ".join(str(v) for v in value) or "(none)"
        return ", ".join(vocab.value_label(field, v, persona_names, dictionary) for v in value) or "(none)"
    if path[-1:] == ("points",) and isinstance(value, int):
        return f"{value:+d}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    if path[-1:] == ("operator",):
        return vocab.OPERATOR_LABELS.get(value, str(value))
    if path[-1:] == ("field",):
        return _field_label(value, dictionary)
    if path[-1:] == ("kind",):
        return _kind_label(value, dictionary)
    return str(value)
