"""The data dictionary as plain data: what rules, intake and pages read about attributes and kinds.

The rows live in ``alignment.models`` (``Attribute``, ``AttributeChoice``, ``ActivityKind``,
``Country``); ``load_dictionary`` reads them once into a ``Dictionary`` snapshot that the pure
scorer, the validation and the labels use without further queries. ``builtin_dictionary`` is the
same snapshot built from ``alignment.spec`` alone (before seeding, and for pure tests).

How custom values are stored (the ``attributes`` JSON of a lead or an account), by type:
choice → the choice's value; multi_choice → a list of values in lower case (so that the
database's array operators match case-insensitively); number → a JSON number; yes_no →
true/false; date → "YYYY-MM-DD"; text → a string. An unknown value is an absent key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alignment import spec as vocab
from alignment.countries import EXTRA_ALIASES, fold

TYPES = ("choice", "multi_choice", "number", "yes_no", "date", "text")
TYPE_LABELS = {
    "choice": "Choice",
    "multi_choice": "Multiple choice",
    "number": "Number",
    "yes_no": "Yes / no",
    "date": "Date",
    "text": "Text",
}
OBJECTS = ("lead", "account")
# Built-in facts of the account (the rest are the lead's own columns).
ACCOUNT_BUILTINS = ("industry", "employees", "annual_revenue")


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    aliases: tuple[str, ...] = ()
    archived: bool = False


@dataclass(frozen=True)
class AttributeDef:
    key: str
    label: str
    type: str
    object: str = "lead"
    choices: tuple[Choice, ...] = ()
    builtin: bool = False
    archived: bool = False
    before_contact: bool = True
    help: str = ""
    # Cell values an import reads as unknown for this attribute (remembered from the value step).
    unknown_aliases: tuple[str, ...] = ()

    def reads_unknown(self, raw: str) -> bool:
        # Compared as typed but for case and spaces: folding would make "-" and "." the same.
        return str(raw).strip().lower() in {alias.strip().lower() for alias in self.unknown_aliases}

    @property
    def operators(self) -> tuple[str, ...]:
        return vocab.OPERATORS_FOR_KIND[self.type]

    def choice_label(self, value) -> str:
        wanted = str(value).lower()
        for choice in self.choices:
            if choice.value.lower() == wanted:
                return choice.label
        return str(value)


@dataclass(frozen=True)
class KindDef:
    key: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    archived: bool = False


@dataclass(frozen=True)
class Dictionary:
    attributes: Mapping[str, AttributeDef] = field(default_factory=dict)
    kinds: Mapping[str, KindDef] = field(default_factory=dict)
    # Spelling lookups built on first use: a batch or an import reads the same few many times.
    _lookups: dict = field(default_factory=dict, compare=False, repr=False)

    def choice_lookup(self, key: str) -> dict[str, str]:
        """Folded value, label and aliases → the stored value, for a choice attribute or "kind"."""
        if key not in self._lookups:
            lookup: dict[str, str] = {}
            if key == "kind":
                items = [(k.key, (k.key, k.label, *k.aliases)) for k in self.kinds.values() if not k.archived]
            else:
                # Live choices first: a merged value is an alias of a live choice and an archived value.
                choices = sorted(self.attributes[key].choices, key=lambda c: c.archived)
                items = [(c.value, (c.value, c.label, *c.aliases)) for c in choices]
            for value, spellings in items:
                for spelling in spellings:
                    lookup.setdefault(fold(spelling), value)
            self._lookups[key] = lookup
        return self._lookups[key]

    def label(self, key: str) -> str:
        attribute = self.attributes.get(key)
        return attribute.label if attribute else key

    def value_label(self, key: str, value) -> str:
        attribute = self.attributes.get(key)
        return attribute.choice_label(value) if attribute else str(value)

    def kind_label(self, key: str) -> str:
        kind = self.kinds.get(key)
        return kind.label if kind else key

    def shown(self, values: Mapping) -> list[tuple[str, str]]:
        """Stored custom values as people read them: (label, value) in the dictionary's order."""
        out = []
        for key, attribute in self.attributes.items():
            value = values.get(key) if values else None
            if value is None or value == "" or value == []:
                continue
            if isinstance(value, bool):
                text = "Yes" if value else "No"
            elif isinstance(value, list):
                text = ", ".join(attribute.choice_label(v) for v in value)
            else:
                text = attribute.choice_label(value)
            out.append((attribute.label, text))
        return out

    def live_attributes(self) -> list[AttributeDef]:
        return [a for a in self.attributes.values() if not a.archived]

    def custom_attributes(self, objects: tuple[str, ...] = ("lead", "account")) -> Mapping[str, AttributeDef]:
        """The organisation's own live attributes of ``objects``, by key (built once: read per lead)."""
        cache_key = ("custom", objects)
        if cache_key not in self._lookups:
            live = self.live_attributes()
            self._lookups[cache_key] = {a.key: a for a in live if not a.builtin and a.object in objects}
        return self._lookups[cache_key]

    def live_kinds(self) -> list[KindDef]:
        return [k for k in self.kinds.values() if not k.archived]

    def custom_object(self, key: str) -> str | None:
        """Where a custom attribute's values are stored ("lead"/"account"); None for built-ins."""
        attribute = self.attributes.get(key)
        return None if attribute is None or attribute.builtin else attribute.object


# Spellings people type for built-in values that are neither the value nor the label.
BUILTIN_ALIASES = {
    "seniority": {"c_level": ["c level", "cxo"], "individual": ["ic"], "vp": ["vice president"]},
}


# Longest value a built-in choice field's column holds (the rest hold 20 characters).
BUILTIN_VALUE_MAX = {"industry": 60, "source": 60}


def builtin_attributes() -> list[dict]:
    """The built-in attributes as rows (what the seeding migration writes), in page order."""
    rows = []
    for order, (key, definition) in enumerate(vocab.FIELDS.items()):
        aliases = BUILTIN_ALIASES.get(key, {})
        choices = (
            [] if key in ("persona", "country") else [(v, lab, aliases.get(v, [])) for v, lab in definition.choices]
        )
        rows.append(
            {
                "key": key,
                "label": definition.label,
                "type": definition.kind,
                "object": "account" if key in ACCOUNT_BUILTINS else "lead",
                "choices": choices,
                "order": order,
                # BANT is what sales learns on the call.
                "before_contact": key not in ("budget", "authority", "need", "timeline"),
            }
        )
    return rows


def builtin_dictionary() -> Dictionary:
    """The dictionary of a new organisation, from ``alignment.spec`` alone (no database)."""
    attributes = {}
    for row in builtin_attributes():
        choices = tuple(Choice(str(v), str(label), tuple(aliases)) for v, label, aliases in row["choices"])
        if row["key"] == "country":
            choices = tuple(
                Choice(code, name, tuple(EXTRA_ALIASES.get(code, ()))) for code, (name, _) in vocab.COUNTRIES.items()
            )
        attributes[row["key"]] = AttributeDef(
            key=row["key"],
            label=row["label"],
            type=row["type"],
            object=row["object"],
            choices=choices,
            builtin=True,
            before_contact=row["before_contact"],
        )
    kinds = {key: KindDef(key, label) for key, label in vocab.ACTIVITY_KINDS}
    return Dictionary(attributes=attributes, kinds=kinds)


def load_dictionary() -> Dictionary:
    """The organisation's dictionary as it stands (four queries, whatever its size)."""
    from alignment.models import ActivityKind, Attribute, AttributeChoice, Country

    choices: dict[int, list[Choice]] = {}
    for row in AttributeChoice.objects.order_by("order", "id").values_list(
        "attribute_id", "value", "label", "aliases", "archived"
    ):
        choices.setdefault(row[0], []).append(Choice(row[1], row[2], tuple(row[3] or ()), row[4]))
    rows = list(Country.objects.values_list("code", "name", "aliases", "region"))
    countries = tuple(Choice(code, name, tuple(aliases or ())) for code, name, aliases, _ in rows)
    regions = tuple(Choice(r, r) for r in sorted({region for *_, region in rows if region}))
    # Built-ins first, so a database emptied between tests (or never seeded) still knows them.
    base = builtin_dictionary()
    attributes = dict(base.attributes)
    for a in Attribute.objects.order_by("order", "key"):
        own = tuple(choices.get(a.id, ()))
        if a.key == "country" and a.builtin:
            own = countries or base.attributes["country"].choices
        elif a.key == "region" and a.builtin:
            own = regions or base.attributes["region"].choices
        attributes[a.key] = AttributeDef(
            key=a.key,
            label=a.label,
            type=a.type,
            object=a.object,
            choices=own,
            builtin=a.builtin,
            archived=a.archived,
            before_contact=a.before_contact,
            help=a.help,
            unknown_aliases=tuple(a.unknown_aliases or ()),
        )
    kinds = dict(base.kinds)
    kinds |= {
        k.key: KindDef(k.key, k.label, k.description, tuple(k.aliases or ()), k.archived)
        for k in ActivityKind.objects.order_by("order", "key")
    }
    return Dictionary(attributes=attributes, kinds=kinds)


def load_custom_attributes() -> list[AttributeDef]:
    """The organisation's own live attributes with their choices, in page order, in one query (the
    inbox's filters need these, not the whole dictionary)."""
    from alignment.models import Attribute

    rows = (
        Attribute.objects.filter(builtin=False, archived=False)
        .order_by("order", "key", "choices__order", "choices__id")
        .values_list("key", "label", "type", "object", "choices__value", "choices__label", "choices__archived")
    )
    found: dict[str, dict] = {}
    for key, label, type_, object_, value, value_label, archived in rows:
        entry = found.setdefault(key, {"label": label, "type": type_, "object": object_, "choices": []})
        if value is not None:
            entry["choices"].append(Choice(value, value_label, (), archived))
    return [
        AttributeDef(key=k, label=e["label"], type=e["type"], object=e["object"], choices=tuple(e["choices"]))
        for k, e in found.items()
    ]


def load_rule_labels(spec: dict) -> Dictionary:
    """The labels of what the rules of ``spec`` name (attributes with their values, activity kinds),
    read in one query: the inbox's "why" chips need these few, not the whole dictionary."""
    from django.db.models import CharField, Value

    from alignment.models import ActivityKind, Attribute

    rules = [*spec.get("fit_rules", []), *spec.get("knockouts", [])]
    fields = {r.get("field") for r in rules if isinstance(r, dict)}
    kinds = {r.get("kind") for r in spec.get("behaviour_rules", []) if isinstance(r, dict)}
    base = builtin_dictionary()
    if not fields and not kinds:
        return base
    text = CharField()
    attribute_rows = Attribute.objects.filter(key__in=fields).values_list(
        Value("attribute", output_field=text), "key", "label", "type", "builtin", "choices__value", "choices__label"
    )
    kind_rows = ActivityKind.objects.filter(key__in=kinds).values_list(
        Value("kind", output_field=text),
        "key",
        "label",
        Value("", output_field=text),
        "archived",
        Value(None, output_field=text),
        Value(None, output_field=text),
    )
    attributes, found_kinds = dict(base.attributes), dict(base.kinds)
    found: dict[str, tuple] = {}
    choices: dict[str, list[Choice]] = {}
    # No ORDER BY on either side (the models' default ordering): SQLite refuses one inside a UNION.
    rows = attribute_rows.order_by().union(kind_rows.order_by(), all=True)
    for what, key, label, type_, flag, value, value_label in rows:
        if what == "kind":
            found_kinds[key] = KindDef(key, label)
            continue
        found[key] = (label, type_, flag)
        if value is not None:
            choices.setdefault(key, []).append(Choice(value, value_label))
    for key, (label, type_, builtin) in found.items():
        own = attributes[key].choices if key in attributes and key in ("country", "region") else ()
        attributes[key] = AttributeDef(
            key=key, label=label, type=type_, choices=tuple(choices.get(key, ())) or own, builtin=builtin
        )
    return Dictionary(attributes=attributes, kinds=found_kinds)


def seed_builtins(get_model) -> None:
    """Create the built-in attributes (with their choices), activity kinds and every ISO country that
    are missing. ``get_model(name)`` gives the model (a migration's historical one, or the real one)."""
    from alignment.countries import iso_countries

    Attribute, Choice_, Kind, Country = (
        get_model(n) for n in ("Attribute", "AttributeChoice", "ActivityKind", "Country")
    )
    have = set(Attribute.objects.values_list("key", flat=True))
    for row in builtin_attributes():
        if row["key"] in have:
            continue
        attribute = Attribute.objects.create(
            key=row["key"],
            label=row["label"],
            type=row["type"],
            object=row["object"],
            builtin=True,
            before_contact=row["before_contact"],
            order=row["order"],
        )
        Choice_.objects.bulk_create(
            Choice_(attribute=attribute, value=value, label=label, aliases=aliases, order=i)
            for i, (value, label, aliases) in enumerate(row["choices"])
        )
    have = set(Kind.objects.values_list("key", flat=True))
    Kind.objects.bulk_create(
        Kind(key=key, label=label, order=i) for i, (key, label) in enumerate(vocab.ACTIVITY_KINDS) if key not in have
    )
    have = set(Country.objects.values_list("code", flat=True))
    Country.objects.bulk_create(Country(**row) for row in iso_countries() if row["code"] not in have)
