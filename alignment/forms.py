"""Forms of the agreement editor and the persona pages.

``SpecEditor`` bundles one form or formset per section of the spec. It turns a POST into a spec
(``build``), and maps ``alignment.validation`` messages back onto the fields that caused them
(``apply_errors``), so every problem shows next to its field and nothing typed is lost.
"""

from __future__ import annotations

import re
import secrets
import zoneinfo
from functools import cache

from django import forms
from django.forms import formset_factory

from alignment import spec as vocab
from alignment.countries import fold
from alignment.dictionary import Dictionary, builtin_dictionary
from alignment.models import Persona
from alignment.public_holidays import parse_holiday_text
from alignment.validation import MAX_POINTS, MQL_THRESHOLD_RANGE, Errors

FIELD_CHOICES = [(f.key, f.label) for f in vocab.FIELDS.values()]  # replaced per form by the dictionary's
NUMBER_SPLIT = re.compile(r"\s*(?:,|;|\bto\b|–|—)\s*")
TEXT_SPLIT = re.compile(r"\s*[,;\n]\s*")
RULE_PREFIXES = {"fit": "f", "ko": "k", "beh": "b"}


def new_rule_id(section: str) -> str:
    """A fresh rule id; random so that two people adding rules at once never collide in a merge."""
    return f"{RULE_PREFIXES.get(section, 'r')}-{secrets.token_hex(3)}"


@cache
def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _number(token: str):
    cleaned = token.replace("_", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return int(value) if value.is_integer() else value


def choice_labels(field: str, personas: list[Persona], dictionary: Dictionary | None = None) -> list[str]:
    """What a person may pick as a value of ``field`` (a searchable list next to the field)."""
    if field == "persona":
        return [p.name for p in personas if p.archived_at is None]
    attribute = (dictionary or builtin_dictionary()).attributes[field]
    return [c.label for c in attribute.choices if not c.archived]


def format_values(field: str, values: list, personas: list[Persona], dictionary: Dictionary | None = None) -> str:
    """A rule's values as the editor shows them: labels, comma-separated."""
    if field == "persona":
        names = {p.pk: p.name for p in personas}
        return ", ".join(names.get(int(v), str(v)) if str(v).isdigit() else str(v) for v in values)
    return ", ".join((dictionary or builtin_dictionary()).value_label(field, v) for v in values)


class ConditionForm(forms.Form):
    """Field, operator and values: what fit rules and knock-outs share."""

    id = forms.CharField(widget=forms.HiddenInput, max_length=40)
    field = forms.ChoiceField(choices=FIELD_CHOICES, widget=forms.Select(attrs={"data-role": "rule-field"}))
    operator = forms.ChoiceField(choices=vocab.OPERATORS)
    values = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.TextInput(attrs={"data-role": "rule-values", "placeholder": "e.g. Software, Retail"}),
        help_text="Separate values with commas. Numbers: one value, or low, high for 'is between'.",
    )

    def __init__(self, *args, personas: list[Persona] | None = None, dictionary: Dictionary | None = None, **kwargs):
        self.personas = personas or []
        self.dictionary = dictionary or builtin_dictionary()
        super().__init__(*args, **kwargs)
        # Every live attribute of the organisation; a rule keeps an archived one it already names.
        current = self.initial.get("field") or self.data.get(self.add_prefix("field"))
        self.fields["field"].choices = [
            (a.key, a.label) for a in self.dictionary.attributes.values() if not a.archived or a.key == current
        ]

    def clean(self):
        data = super().clean()
        field, operator, raw = data.get("field"), data.get("operator"), data.get("values", "")
        if not field or not operator:
            return data
        data["parsed_values"] = self._parse_values(field, operator, raw or "")
        return data

    def _parse_values(self, field: str, operator: str, raw: str) -> list:
        operator = vocab.canonical_operator(operator)
        if operator in ("known", "unknown", "is_true", "is_false"):
            return []
        definition = self.dictionary.attributes[field]
        if operator in ("before", "after"):
            return [raw.strip()] if raw.strip() else []
        if definition.type == "number" or operator == "within_days":
            tokens = [t for t in NUMBER_SPLIT.split(raw.strip()) if t]
            numbers = []
            for token in tokens:
                number = _number(token)
                if number is None:
                    self.add_error("values", f"'{token}' is not a number (write 5000, not 5,000).")
                    return []
                numbers.append(number)
            return numbers
        tokens = [t.strip() for t in TEXT_SPLIT.split(raw) if t.strip()]
        if field == "persona":
            by_name = {p.name.lower(): p.pk for p in self.personas if p.archived_at is None}
            ids = []
            for token in tokens:
                if token.isdigit():
                    ids.append(int(token))
                elif token.lower() in by_name:
                    ids.append(by_name[token.lower()])
                else:
                    self.add_error("values", f"No active persona is called '{token}'.")
            return ids
        if definition.type in ("choice", "multi_choice"):
            lookup = self.dictionary.choice_lookup(field)
            if ";" in raw:
                # The value picker separates with ";" so that a label may hold a comma ("Korea, Republic of").
                tokens = [t.strip() for t in re.split(r"[;\n]", raw) if t.strip()]
            return [lookup.get(fold(t), t) for t in tokens]
        if field == "email_domain":
            return [t.lower().lstrip("@") for t in tokens]
        return tokens

    def condition(self) -> dict:
        data = self.cleaned_data
        return {
            "id": data["id"],
            "field": data["field"],
            "operator": data["operator"],
            "values": data.get("parsed_values", []),
        }


class FitRuleForm(ConditionForm):
    points = forms.IntegerField(min_value=-MAX_POINTS, max_value=MAX_POINTS, help_text="Negative points allowed.")

    def to_spec(self) -> dict:
        return {**self.condition(), "points": self.cleaned_data["points"]}


class KnockoutForm(ConditionForm):
    label = forms.CharField(max_length=80, help_text="Shown to SDRs, e.g. 'Competitor'.")

    field_order = ["id", "label", "field", "operator", "values"]

    def to_spec(self) -> dict:
        return {**self.condition(), "label": self.cleaned_data["label"].strip()}


class BehaviourRuleForm(forms.Form):
    id = forms.CharField(widget=forms.HiddenInput, max_length=40)
    kind = forms.ChoiceField(choices=vocab.ACTIVITY_KINDS, label="Activity")
    points = forms.IntegerField(
        min_value=-MAX_POINTS, max_value=MAX_POINTS, label="Points each", help_text="Per occurrence."
    )
    cap = forms.IntegerField(required=False, label="Cap", help_text="Most points in total; empty = no cap.")
    window_days = forms.IntegerField(label="Window (days)", help_text="Only activity this recent counts.")
    half_life_days = forms.FloatField(
        required=False, label="Half-life (days)", help_text="Optional decay; empty = none."
    )

    def __init__(self, *args, personas=None, dictionary: Dictionary | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.initial.get("kind") or self.data.get(self.add_prefix("kind"))
        self.fields["kind"].choices = [
            (k.key, k.label)
            for k in (dictionary or builtin_dictionary()).kinds.values()
            if not k.archived or k.key == current
        ]

    def to_spec(self) -> dict:
        data = self.cleaned_data
        half_life = data.get("half_life_days")
        if isinstance(half_life, float) and half_life.is_integer():
            half_life = int(half_life)
        return {
            "id": data["id"],
            "kind": data["kind"],
            "points": data["points"],
            "cap": data.get("cap"),
            "window_days": data["window_days"],
            "half_life_days": half_life,
        }


class GradeBandForm(forms.Form):
    grade = forms.ChoiceField(choices=[(g, g) for g in vocab.GRADES], widget=forms.HiddenInput)
    min = forms.IntegerField(required=False, label="From fit score", help_text="Empty = no lower limit.")
    max = forms.IntegerField(required=False, label="To fit score", help_text="Empty = no upper limit.")

    def to_spec(self) -> dict:
        data = self.cleaned_data
        return {"grade": data["grade"], "min": data.get("min"), "max": data.get("max")}


class ReasonForm(forms.Form):
    code = forms.CharField(max_length=40, help_text="Lower case, digits, underscores.")
    label = forms.CharField(max_length=80)
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, personas=None, dictionary=None, **kwargs):
        super().__init__(*args, **kwargs)

    def to_spec(self) -> dict:
        data = self.cleaned_data
        return {
            "code": data["code"].strip(),
            "label": data["label"].strip(),
            "description": (data.get("description") or "").strip(),
        }


class ThresholdForm(forms.Form):
    mql_threshold = forms.IntegerField(
        label="MQL threshold",
        help_text=f"A lead becomes an MQL when fit + engagement reaches this score "
        f"({MQL_THRESHOLD_RANGE[0]}–{MQL_THRESHOLD_RANGE[1]}) and no knock-out applies.",
    )


class SlaForm(forms.Form):
    hours_A = forms.FloatField(label="Grade A")
    hours_B = forms.FloatField(label="Grade B")
    hours_C = forms.FloatField(label="Grade C")
    hours_D = forms.FloatField(label="Grade D")
    time_zone = forms.CharField(
        max_length=64, widget=forms.TextInput(attrs={"list": "time-zones"}), help_text="e.g. Europe/London"
    )
    working_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(vocab.WEEKDAYS)),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    start = forms.CharField(max_length=5, widget=forms.TimeInput(attrs={"type": "time"}), label="Day starts")
    end = forms.CharField(max_length=5, widget=forms.TimeInput(attrs={"type": "time"}), label="Day ends")
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One date per line (YYYY-MM-DD), optionally followed by its name; the SLA clock stops on "
        "these days. Prefill a country's public holidays below, then edit.",
    )
    followup_attempts = forms.IntegerField(label="SAL follow-up attempts")
    followup_days = forms.IntegerField(label="…within (days)")
    monthly_mql_quota = forms.IntegerField(label="Monthly MQL quota", help_text="MQLs marketing commits to deliver.")

    FIELD_PATHS = {
        "sla.response_hours.A": "hours_A",
        "sla.response_hours.B": "hours_B",
        "sla.response_hours.C": "hours_C",
        "sla.response_hours.D": "hours_D",
        "sla.calendar.time_zone": "time_zone",
        "sla.calendar.working_days": "working_days",
        "sla.calendar.start": "start",
        "sla.calendar.end": "end",
        "sla.calendar.holidays": "holidays",
        "sla.followup.attempts": "followup_attempts",
        "sla.followup.days": "followup_days",
        "sla.monthly_mql_quota": "monthly_mql_quota",
    }

    @staticmethod
    def initial_from(sla: dict) -> dict:
        hours = sla.get("response_hours", {})
        calendar = sla.get("calendar", {})
        followup = sla.get("followup", {})
        return {
            **{f"hours_{g}": hours.get(g) for g in vocab.GRADES},
            "time_zone": calendar.get("time_zone"),
            "working_days": calendar.get("working_days", []),
            "start": calendar.get("start"),
            "end": calendar.get("end"),
            "holidays": "\n".join(calendar.get("holidays", [])),
            "followup_attempts": followup.get("attempts"),
            "followup_days": followup.get("days"),
            "monthly_mql_quota": sla.get("monthly_mql_quota"),
        }

    def to_spec(self) -> dict:
        data = self.cleaned_data

        def whole(value):
            return int(value) if isinstance(value, float) and value.is_integer() else value

        holidays = parse_holiday_text(data.get("holidays") or "")
        return {
            "response_hours": {g: whole(data[f"hours_{g}"]) for g in vocab.GRADES},
            "calendar": {
                "time_zone": data["time_zone"].strip(),
                "working_days": sorted(data.get("working_days") or []),
                "start": data["start"][:5],
                "end": data["end"][:5],
                "holidays": holidays,
            },
            "followup": {"attempts": data["followup_attempts"], "days": data["followup_days"]},
            "monthly_mql_quota": data["monthly_mql_quota"],
        }


class ChangeForm(forms.Form):
    base_revision = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        required=False,
        max_length=200,
        label="What did you change?",
        help_text="Optional; shown in the draft's activity.",
    )


FitRuleFormSet = formset_factory(FitRuleForm, extra=0, can_delete=True)
KnockoutFormSet = formset_factory(KnockoutForm, extra=0, can_delete=True)
BehaviourRuleFormSet = formset_factory(BehaviourRuleForm, extra=0, can_delete=True)
GradeBandFormSet = formset_factory(GradeBandForm, extra=0, min_num=4, max_num=4, validate_max=True)
ReasonFormSet = formset_factory(ReasonForm, extra=0, can_delete=True)

# Formset prefix → (spec section, formset class). The order is the editor's order.
RULE_SECTIONS = {
    "fit": ("fit_rules", FitRuleFormSet),
    "ko": ("knockouts", KnockoutFormSet),
    "beh": ("behaviour_rules", BehaviourRuleFormSet),
    "rej": ("reject_reasons", ReasonFormSet),
    "rec": ("recycle_reasons", ReasonFormSet),
}


def rule_initial(section: str, rule: dict, personas: list[Persona], dictionary: Dictionary | None = None) -> dict:
    if section in ("fit", "ko"):
        values = format_values(rule.get("field", ""), rule.get("values") or [], personas, dictionary)
        return {**rule, "values": values}
    return dict(rule)


def blank_row(section: str) -> dict:
    """Initial values of a row added with the "Add" button."""
    if section == "fit":
        return {"id": new_rule_id("fit"), "field": "industry", "operator": "in", "values": "", "points": 10}
    if section == "ko":
        return {"id": new_rule_id("ko"), "field": "email_domain", "operator": "in", "values": "", "label": ""}
    if section == "beh":
        return {"id": new_rule_id("beh"), "kind": "web_visit", "points": 5, "cap": 20, "window_days": 90}
    return {"code": "", "label": "", "description": ""}


class SpecEditor:
    """All sections of the spec as forms; ``build()`` after ``is_valid()`` gives the edited spec."""

    def __init__(
        self, *, spec: dict, personas: list[Persona], data=None, revision: int = 1, dictionary: Dictionary | None = None
    ):
        self.personas = personas
        self.dictionary = dictionary or builtin_dictionary()
        kwargs = {"form_kwargs": {"personas": personas, "dictionary": self.dictionary}}
        self.formsets = {}
        for prefix, (section, formset_class) in RULE_SECTIONS.items():
            initial = [rule_initial(prefix, r, personas, self.dictionary) for r in spec.get(section, [])]
            self.formsets[prefix] = formset_class(data, prefix=prefix, initial=initial, **kwargs)
        bands = {b.get("grade"): b for b in spec.get("grade_bands", [])}
        self.grades = GradeBandFormSet(
            data,
            prefix="grade",
            initial=[{"grade": g, **{k: bands.get(g, {}).get(k) for k in ("min", "max")}} for g in vocab.GRADES],
        )
        self.threshold = ThresholdForm(data, initial={"mql_threshold": spec.get("mql_threshold")})
        self.sla = SlaForm(data, initial=SlaForm.initial_from(spec.get("sla", {})))
        self.change = ChangeForm(data, initial={"base_revision": revision})
        self.section_errors: dict[str, list[str]] = {}
        self.general_errors: list[str] = []
        self._paths: dict[str, forms.Form] = {}

    # Template access: editor.fit, editor.ko, …
    def __getattr__(self, name):
        formsets = self.__dict__.get("formsets", {})
        if name in formsets:
            return formsets[name]
        raise AttributeError(name)

    def all_forms(self):
        return [*self.formsets.values(), self.grades, self.threshold, self.sla, self.change]

    def is_valid(self) -> bool:
        return all(f.is_valid() for f in self.all_forms())

    @property
    def error_count(self) -> int:
        count = len(self.general_errors) + sum(len(m) for m in self.section_errors.values())
        for item in self.all_forms():
            forms_ = getattr(item, "forms", [item])
            for form in forms_:
                count += sum(len(e) for e in form.errors.values()) if form.is_bound else 0
            count += len(getattr(item, "non_form_errors", list)())
        return count

    def build(self) -> dict:
        spec: dict = {}
        for prefix, (section, _) in RULE_SECTIONS.items():
            items = []
            formset = self.formsets[prefix]
            for form in formset.forms:
                if formset.can_delete and formset._should_delete_form(form):
                    continue
                if not form.cleaned_data:
                    continue
                self._paths[f"{section}.{len(items)}"] = form
                items.append(form.to_spec())
            spec[section] = items
        spec["mql_threshold"] = self.threshold.cleaned_data["mql_threshold"]
        bands = []
        for form in self.grades.forms:
            self._paths[f"grade_bands.{len(bands)}"] = form
            bands.append(form.to_spec())
        spec["grade_bands"] = bands
        spec["sla"] = self.sla.to_spec()
        return spec

    @property
    def base_revision(self) -> int:
        return self.change.cleaned_data["base_revision"]

    @property
    def note(self) -> str:
        return self.change.cleaned_data.get("note") or ""

    def apply_errors(self, errors: Errors) -> None:
        """Show each validation message next to the field it is about."""
        for path, messages in errors.items():
            for message in messages:
                self._apply(path, message)

    def _apply(self, path: str, message: str) -> None:
        if path == "mql_threshold":
            self.threshold.add_error("mql_threshold", message)
            return
        if path in SlaForm.FIELD_PATHS:
            self.sla.add_error(SlaForm.FIELD_PATHS[path], message)
            return
        parts = path.split(".")
        if len(parts) >= 2 and f"{parts[0]}.{parts[1]}" in self._paths:
            form = self._paths[f"{parts[0]}.{parts[1]}"]
            field = parts[2] if len(parts) > 2 else None
            if field not in form.fields or isinstance(form.fields[field].widget, forms.HiddenInput):
                field = None
            form.add_error(field, message)
            return
        if parts[0] in (
            "fit_rules",
            "knockouts",
            "behaviour_rules",
            "grade_bands",
            "reject_reasons",
            "recycle_reasons",
            "sla",
        ):
            self.section_errors.setdefault(parts[0], []).append(message)
            return
        self.general_errors.append(message)


class PersonaForm(forms.ModelForm):
    title_keywords = forms.CharField(
        required=False,
        label="Job-title keywords",
        help_text="Comma-separated words found in matching job titles, e.g. marketing, demand gen.",
    )
    seniorities = forms.MultipleChoiceField(
        choices=vocab.SENIORITIES, required=False, widget=forms.CheckboxSelectMultiple
    )
    departments = forms.MultipleChoiceField(
        choices=vocab.DEPARTMENTS, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Persona
        fields = [
            "name",
            "summary",
            "title_keywords",
            "seniorities",
            "departments",
            "buying_role",
            "challenges",
            "motivations",
            "interests",
            "notes",
        ]
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 2}),
            "challenges": forms.Textarea(attrs={"rows": 3}),
            "motivations": forms.Textarea(attrs={"rows": 3}),
            "interests": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "challenges": "Key challenges, one per line.",
            "buying_role": "The part this persona plays in a purchase.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The model keeps a list; the field edits comma-separated words (a new persona's empty list
        # would otherwise render as the text "[]").
        self.initial["title_keywords"] = ", ".join(self.instance.title_keywords or [])

    def clean_title_keywords(self) -> list[str]:
        raw = self.cleaned_data.get("title_keywords") or ""
        words = []
        for word in (w.strip().strip("[]\"' ") for w in raw.split(",")):
            # Brackets and quotes left over from a pasted list are not words; nor is a bare "[]".
            if word and any(ch.isalnum() for ch in word) and word.lower() not in {w.lower() for w in words}:
                words.append(word)
        return words

    def clean(self):
        data = super().clean()
        if not (data.get("title_keywords") or data.get("seniorities") or data.get("departments")):
            raise forms.ValidationError(
                "Give at least one matching criterion (title keywords, seniority or department); "
                "otherwise no lead can match this persona."
            )
        return data


class CommentForm(forms.Form):
    body = forms.CharField(
        max_length=5000, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Add a comment…"}), label="Comment"
    )
    rule_id = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)
