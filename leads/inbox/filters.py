"""The lead list's filters, sort order and CSV columns: the page and its export read the same ones."""

import django_filters
from django import forms
from django.db.models import Case, F, FloatField, Q, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, NullIf

from alignment import spec as vocab
from alignment.dictionary import AttributeDef, Dictionary
from leads.models import ImportedLead, Lead, Stage
from portal.access import display_name
from portal.downloads import spreadsheet_safe

# ?sort= value → the columns it orders by; "-" in front reverses. The id breaks ties so that pages
# never repeat or skip a lead.
SORTS = {
    "name": ("last_name", "first_name"),
    "title": ("job_title",),
    "company": ("account__name",),
    "stage": ("stage",),
    "score": ("score",),
    "grade": ("grade",),
    "owner": ("owner__last_name", "owner__first_name", "owner__username"),
    "updated": ("updated_at",),
}
SORT_LABELS = {
    "name": "Name",
    "title": "Title",
    "company": "Company",
    "stage": "Stage",
    "score": "Score",
    "grade": "Grade",
    "owner": "Owner",
    "updated": "Updated",
}


# Filters on the organisation's own attributes are named "a.<key>" (with "_min"/"_max" for numbers and
# "_from"/"_to" for dates); a sort on one is "a.<key>".
ATTRIBUTE_PARAM = "a."
YES_NO_CHOICES = [("", "Any"), ("yes", "Yes"), ("no", "No"), ("unknown", "Unknown")]


def attribute_fields(attribute: AttributeDef) -> list[tuple[str, forms.Field]]:
    """(name suffix, form field) of one attribute's filter, by its type."""
    label = attribute.label
    if attribute.type in ("choice", "multi_choice"):
        choices = [(c.value, c.label) for c in attribute.choices if not c.archived]
        return [("", forms.MultipleChoiceField(choices=choices, required=False, label=label))]
    if attribute.type == "number":
        number = {"required": False, "max_digits": 20, "decimal_places": 6}
        return [
            (
                "_min",
                forms.DecimalField(label=f"{label} from", widget=forms.NumberInput({"placeholder": "from"}), **number),
            ),
            (
                "_max",
                forms.DecimalField(label=f"{label} to", widget=forms.NumberInput({"placeholder": "to"}), **number),
            ),
        ]
    if attribute.type == "yes_no":
        return [("", forms.ChoiceField(choices=YES_NO_CHOICES, required=False, label=label))]
    if attribute.type == "date":
        dates = {"required": False, "widget": forms.DateInput(attrs={"type": "date"})}
        return [
            ("_from", forms.DateField(label=f"{label} from", **dates)),
            ("_to", forms.DateField(label=f"{label} to", **dates)),
        ]
    return [("", forms.CharField(required=False, max_length=100, label=f"{label} contains"))]


def _column(attribute: AttributeDef) -> str:
    return "attributes" if attribute.object == "lead" else "account__attributes"


def _json_path(attribute: AttributeDef):
    return KeyTransform(attribute.key, F(_column(attribute)))


# Built-in attributes the lead list already filters with a field of its own.
OWN_FILTERS = ("source", "persona")
# Built-in facts the lead holds itself, else its account (as the scorer reads them).
LEAD_ELSE_ACCOUNT = ("country", "region")


def _builtin_condition(attribute: AttributeDef, values: list) -> Q | None:
    """A built-in attribute's filter on its own column (``FACT_PATHS``: the scorer's paths)."""
    from leads.scoring.scorer import FACT_PATHS

    path = FACT_PATHS[attribute.key]
    if attribute.type == "choice":
        chosen = values[0] or []
        if not chosen:
            return None
        condition = Q(**{f"{path}__in": chosen})
        if attribute.key in LEAD_ELSE_ACCOUNT:
            condition |= Q(**{f"{path}__in": ["", None], f"account__{path}__in": chosen})
        return condition
    if attribute.type == "number":
        low, high = values
        condition = Q()
        if low is not None:
            condition &= Q(**{f"{path}__gte": low})
        if high is not None:
            condition &= Q(**{f"{path}__lte": high})
        return condition or None
    text = (values[0] or "").strip()
    return Q(**{f"{path}__icontains": text}) if text else None


def attribute_condition(attribute: AttributeDef, values: list) -> Q | None:
    """The condition one attribute's filter puts on the leads, in SQL.

    A built-in attribute reads its column. The organisation's own read the JSON column: choices and
    yes/no use containment (``attributes @> '{"key": value}'``), which a GIN index on the column
    would serve; numbers and dates compare the key's JSON value, text matches its text."""
    if attribute.builtin:
        return _builtin_condition(attribute, values)
    column = _column(attribute)
    if attribute.type in ("choice", "multi_choice"):
        chosen = values[0] or []
        if not chosen:
            return None
        condition = Q()
        for value in chosen:
            # A multiple-choice value is a list of lower-case values (``alignment.dictionary``).
            stored = [value.lower()] if attribute.type == "multi_choice" else value
            condition |= Q(**{f"{column}__contains": {attribute.key: stored}})
        return condition
    if attribute.type == "yes_no":
        answer = values[0]
        if answer == "unknown":
            return ~Q(**{f"{column}__has_key": attribute.key})
        if answer in ("yes", "no"):
            return Q(**{f"{column}__contains": {attribute.key: answer == "yes"}})
        return None
    if attribute.type in ("number", "date"):
        low, high = values
        condition = Q()
        if low is not None:
            low = low.isoformat() if attribute.type == "date" else float(low)
            condition &= Q(**{f"{column}__{attribute.key}__gte": low})
        if high is not None:
            high = high.isoformat() if attribute.type == "date" else float(high)
            condition &= Q(**{f"{column}__{attribute.key}__lte": high})
        return condition or None
    text = (values[0] or "").strip()
    return Q(**{f"{column}__{attribute.key}__icontains": text}) if text else None


class LeadFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", max_length=100)
    stage = django_filters.ChoiceFilter(choices=Stage.choices, empty_label="Any stage")
    grade = django_filters.ChoiceFilter(choices=[(g, g) for g in vocab.GRADES], empty_label="Any grade")
    source = django_filters.ChoiceFilter(choices=vocab.SOURCES, empty_label="Any source")
    imported = django_filters.NumberFilter(method="from_import", label="Import", min_value=1)
    sort = django_filters.ChoiceFilter(
        choices=[
            (f"{sign}{key}", f"{label}{' (reversed)' if sign else ''}")
            for key, label in SORT_LABELS.items()
            for sign in ("", "-")
        ],
        method="sort_by",
        label="Sort by",
    )

    class Meta:
        model = Lead
        fields = ["q", "stage", "grade", "source", "imported", "sort"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.search(value)

    def from_import(self, queryset, name, value):
        """The leads one CSV import created or updated (``ImportedLead``)."""
        return queryset.filter(pk__in=ImportedLead.objects.filter(job_id=int(value)).values("lead_id"))

    def sort_by(self, queryset, name, value):
        descending = value.startswith("-")
        key = value.lstrip("-")
        if key.startswith(ATTRIBUTE_PARAM):
            # Unknown values last either way; JSON numbers compare as numbers, the rest as their text.
            attribute = self.columns[key.removeprefix(ATTRIBUTE_PARAM)]
            path = column_expression(attribute)
            order = path.desc(nulls_last=True) if descending else path.asc(nulls_last=True)
            return queryset.order_by(order, "-id" if descending else "id")
        columns = SORTS[key]
        return queryset.order_by(*(f"-{c}" if descending else c for c in columns), "-id" if descending else "id")

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        # The declared filters as django-filter applies them; the attribute fields are the form's own.
        for name, value in data.items():
            if name in self.filters:
                queryset = self.filters[name].filter(queryset, value)
        for attribute, names in self.attribute_fields:
            condition = attribute_condition(attribute, [data.get(n) for n in names])
            if condition is not None:
                queryset = queryset.filter(condition)
        return queryset

    def __init__(self, *args, dictionary: Dictionary | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        live = dictionary.live_attributes() if dictionary else []
        self.custom = [a for a in live if not a.builtin]
        # Every attribute a person may add to the list as a column, by key (each sortable).
        self.columns = {a.key: a for a in column_attributes(dictionary)} if dictionary else {}
        self.attribute_fields: list[tuple[AttributeDef, list[str]]] = []
        for attribute in [a for a in live if a.builtin and a.key not in OWN_FILTERS] + self.custom:
            names = []
            for suffix, field in attribute_fields(attribute):
                name = f"{ATTRIBUTE_PARAM}{attribute.key}{suffix}"
                self.form.fields[name] = field
                names.append(name)
            self.attribute_fields.append((attribute, names))
        # Sorting by an attribute column: "a.<key>" or "-a.<key>".
        self.form.fields["sort"].choices = [
            *self.form.fields["sort"].choices,
            *(
                (f"{sign}{ATTRIBUTE_PARAM}{a.key}", f"{a.label}{' (reversed)' if sign else ''}")
                for a in self.columns.values()
                for sign in ("", "-")
            ),
        ]
        for name, field in self.form.fields.items():
            select = isinstance(field.widget, forms.Select | forms.SelectMultiple)
            field.widget.attrs.setdefault(
                "class", "form-select form-select-sm" if select and name != "q" else "form-control form-control-sm"
            )


EXPORT_COLUMNS = (
    ("Id", lambda lead: lead.pk),
    ("First name", lambda lead: lead.first_name),
    ("Last name", lambda lead: lead.last_name),
    ("E-mail", lambda lead: lead.email),
    ("Job title", lambda lead: lead.job_title),
    ("Company", lambda lead: lead.account.name if lead.account else ""),
    ("Country", lambda lead: lead.account.country if lead.account else ""),
    ("Stage", lambda lead: lead.get_stage_display()),
    ("Score", lambda lead: lead.score),
    ("Fit", lambda lead: lead.fit_score),
    ("Engagement", lambda lead: lead.engagement_score),
    ("Grade", lambda lead: lead.grade),
    ("Owner", lambda lead: display_name(lead.owner, "") if lead.owner_id else ""),
    ("Source", lambda lead: lead.get_source_display()),
    ("Updated", lambda lead: lead.updated_at.isoformat()),
)


# Built-in attributes the list always shows in a column of its own ("Title"), never offered twice.
FIXED_COLUMNS = ("job_title",)
# Built-in attributes the CSV export always carries ("Country" and "Source" columns), not repeated.
EXPORTED_ATTRIBUTES = ("job_title", "country", "source")


def column_attributes(dictionary: Dictionary) -> list[AttributeDef]:
    """The attributes a person may add to the lead list as columns: every live one of the data
    dictionary (built-in and the organisation's own) that the list does not already show."""
    return [a for a in dictionary.live_attributes() if a.key not in FIXED_COLUMNS]


def _nonblank(expression):
    return NullIf(expression, Value(""))


def column_expression(attribute: AttributeDef):
    """What the list sorts an attribute column by: the value the scorer reads (``facts_for_lead``)."""
    from leads.scoring.scorer import ACCOUNT_FACTS_ON_LEAD, FACT_PATHS

    if not attribute.builtin:
        return _json_path(attribute)
    key = attribute.key
    if key == "persona":
        return F("persona__name")
    if key in LEAD_ELSE_ACCOUNT:
        return Coalesce(_nonblank(F(key)), _nonblank(F(f"account__{key}")))
    if key in ACCOUNT_FACTS_ON_LEAD:
        # The account's; for a lead without an account, what the lead came with.
        own = _nonblank(KeyTextTransform(key, "attributes"))
        if attribute.type == "number":
            own, account, output = Cast(own, FloatField()), Cast(F(FACT_PATHS[key]), FloatField()), FloatField()
        else:
            account, output = _nonblank(F(FACT_PATHS[key])), TextField()
        return Case(When(account_id__isnull=True, then=own), default=account, output_field=output)
    return _nonblank(F(FACT_PATHS[key]))


def attribute_text(attribute: AttributeDef, lead) -> str:
    """One lead's value of an attribute column as people read it ("" when unknown)."""
    if attribute.builtin:
        return _builtin_text(attribute, lead)
    values = lead.attributes if attribute.object == "lead" else (lead.account.attributes if lead.account else {})
    value = (values or {}).get(attribute.key)
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(attribute.choice_label(v) for v in value)
    return attribute.choice_label(value)


def _builtin_text(attribute: AttributeDef, lead) -> str:
    from leads.scoring.scorer import facts_for_lead

    if attribute.key == "persona":
        return lead.persona.name if lead.persona_id else ""
    value = facts_for_lead(lead).get(attribute.key)
    if value is None or value == "":
        return ""
    if attribute.type == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)
        return str(int(number)) if number.is_integer() else f"{number:g}"
    return attribute.choice_label(value) if attribute.type == "choice" else str(value)


def chosen_columns(keys, dictionary: Dictionary) -> list[AttributeDef]:
    """The attribute columns among ``keys`` (a person's column choice) in the dictionary's order;
    an attribute archived since the choice was made drops out."""
    wanted = set(keys or ())
    return [a for a in column_attributes(dictionary) if a.key in wanted]


def export_rows(queryset, attributes: list[AttributeDef] = ()):
    """The header and one row per lead (with the chosen attribute columns the export does not already
    carry), read 2,000 leads at a time."""
    attributes = [a for a in attributes if a.key not in EXPORTED_ATTRIBUTES]
    yield [label for label, _ in EXPORT_COLUMNS] + [a.label for a in attributes]
    for lead in queryset.iterator(chunk_size=2000):
        yield [spreadsheet_safe(value(lead)) for _, value in EXPORT_COLUMNS] + [
            spreadsheet_safe(attribute_text(a, lead)) for a in attributes
        ]
