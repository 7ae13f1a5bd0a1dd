"""Forms of the inbox and the lead page. Reason codes come from the active agreement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django import forms
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from alignment import spec as vocab
from alignment.dictionary import AttributeDef
from alignment.spec import reason_choices
from leads.inbox.editing import EDITABLE_FIELDS
from leads.inbox.filters import ATTRIBUTE_PARAM, attribute_condition, attribute_fields
from leads.inbox.selectors import InboxFilters
from leads.models import FollowUpAttempt, Lead
from portal.access import display_name


class ErrorClassMixin:
    """Marks fields with errors ``is-invalid`` so Bootstrap shows them red next to their message."""

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
                widget.attrs["aria-invalid"] = "true"


def _reason_field(spec: dict, kind: str, help_text: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Reason",
        choices=[("", "Choose a reason…"), *reason_choices(spec, kind)],
        help_text=help_text,
        error_messages={"required": "Choose a reason.", "invalid_choice": "Choose one of the agreement's reasons."},
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def _note_field(*, required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(
        label="Note",
        required=required,
        max_length=2000,
        help_text=help_text,
        error_messages={"required": "Write a short note."},
        widget=forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
    )


class RecycleForm(ErrorClassMixin, forms.Form):
    reason_code = forms.ChoiceField()
    revisit_on = forms.DateField(
        label="Revisit on",
        help_text=(
            "When marketing should bring the lead back. Must be in the future. Until then the lead "
            "returns to the queue only if it engages again; on this date it returns if it still "
            "meets the agreement."
        ),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
        error_messages={"required": "Pick a revisit date.", "invalid": "Enter a date like 2026-03-31."},
    )
    note = forms.CharField()

    def __init__(self, *args, spec: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_code"] = _reason_field(spec, "recycle", "From the agreement's recycle reasons.")
        self.fields["note"] = _note_field(required=False, help_text="Optional context for marketing.")
        tomorrow = timezone.localdate() + dt.timedelta(days=1)
        self.fields["revisit_on"].widget.attrs["min"] = tomorrow.isoformat()
        if not self.is_bound:
            self.initial.setdefault("revisit_on", timezone.localdate() + dt.timedelta(days=90))

    def clean_revisit_on(self):
        day = self.cleaned_data["revisit_on"]
        if day <= timezone.localdate():
            raise forms.ValidationError("The revisit date must be in the future.")
        return day


class RejectForm(ErrorClassMixin, forms.Form):
    reason_code = forms.ChoiceField()
    note = forms.CharField()

    def __init__(self, *args, spec: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason_code"] = _reason_field(spec, "reject", "From the agreement's reject reasons.")
        self.fields["note"] = _note_field(required=True, help_text="Marketing reads this: what was wrong?")


class NoteOnlyForm(ErrorClassMixin, forms.Form):
    """An action whose only input is a note; subclasses say whether it is required and what it is for."""

    note_required = False
    note_help = "Optional."

    note = forms.CharField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"] = _note_field(required=self.note_required, help_text=self.note_help)


class DisqualifyForm(NoteOnlyForm):
    note_required = True
    note_help = "Why this lead can never buy (e.g. fake data)."


class ConvertForm(NoteOnlyForm):
    field_order = ["amount", "note"]
    amount = forms.DecimalField(
        label="Opportunity amount (USD)",
        min_value=0.01,
        max_digits=14,
        decimal_places=2,
        help_text="Expected deal value of the opportunity.",
        widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.01", "min": "0.01"}),
        error_messages={
            "required": "Enter the opportunity amount.",
            "min_value": "The opportunity amount must be more than zero.",
        },
    )


class WonForm(NoteOnlyForm):
    pass


class LostForm(NoteOnlyForm):
    note_required = True
    note_help = "Why the opportunity was lost."


class ReassignForm(ErrorClassMixin, forms.Form):
    to_user = forms.ModelChoiceField(
        queryset=None,
        label="New owner",
        empty_label="Choose an SDR…",
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": "Choose an SDR.", "invalid_choice": "Choose an active SDR of the team."},
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = candidates
        self.fields["to_user"].label_from_instance = display_name


class NoteForm(ErrorClassMixin, forms.Form):
    body = forms.CharField(
        label="Add a note",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2, "class": "form-control", "placeholder": "Call notes, next steps…"}),
        error_messages={"required": "A note cannot be empty."},
    )

    def clean_body(self):
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("A note cannot be empty.")
        return body


class AwayForm(ErrorClassMixin, forms.Form):
    away_until = forms.DateTimeField(
        label="Away until",
        required=False,
        help_text="Leave empty to mark yourself back now.",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "class": "form-control form-control-sm"}, format="%Y-%m-%dT%H:%M"
        ),
        error_messages={"invalid": "Enter a date and time."},
    )

    def clean_away_until(self):
        until = self.cleaned_data["away_until"]
        if until is not None and until <= timezone.now():
            raise forms.ValidationError("'Away until' must be in the future.")
        return until


def _html_attrs(attrs: dict) -> str:
    return "".join(
        f" {conditional_escape(k)}" if v is True else f' {conditional_escape(k)}="{conditional_escape(str(v))}"'
        for k, v in attrs.items()
        if v is not False
    )


class QuickSelect(forms.Select):
    """``forms.Select`` with its options written out here: the HTML of Django's templates without one
    template render per option (the inbox filter bar shows ~70 options on every load of the queue)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        if any(group for group, _, _ in widget["optgroups"]):
            return super().render(name, value, attrs, renderer)
        options = "".join(
            f'\n  <option value="{conditional_escape(str(o["value"]))}"{_html_attrs(o["attrs"])}>'
            f"{conditional_escape(o['label'])}</option>\n"
            for _, group, _ in widget["optgroups"]
            for o in group
        )
        select = f'<select name="{conditional_escape(name)}"{_html_attrs(widget["attrs"])}>{options}\n</select>'
        return mark_safe(select)  # noqa: S308 - every value above is escaped


class InboxFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "class": "form-control form-control-sm", "placeholder": "Name, e-mail, company"}
        ),
    )
    grade = forms.ChoiceField(
        required=False,
        choices=[("", "Any grade"), *((g, f"Grade {g}") for g in vocab.GRADES)],
        widget=QuickSelect(attrs={"class": "form-select form-select-sm"}),
    )
    persona = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, widget=QuickSelect(attrs={"class": "form-select form-select-sm"})
    )
    source = forms.ChoiceField(
        required=False,
        choices=[("", "Any source"), *vocab.SOURCES],
        widget=QuickSelect(attrs={"class": "form-select form-select-sm"}),
    )
    country = forms.ChoiceField(
        required=False,
        choices=[("", "Any country"), *((c, n) for c, (n, _) in sorted(vocab.COUNTRIES.items(), key=lambda i: i[1]))],
        widget=QuickSelect(attrs={"class": "form-select form-select-sm"}),
    )

    def __init__(self, *args, personas: dict[int, str], attributes: Sequence[AttributeDef] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["persona"].choices = [("", "Any persona"), *sorted(personas.items(), key=lambda i: i[1])]
        # One filter per live attribute of the organisation, named and typed as on the lead list.
        self.attribute_fields: list[tuple[AttributeDef, list[str]]] = []
        for attribute in attributes:
            names = []
            for suffix, field in attribute_fields(attribute):
                name = f"{ATTRIBUTE_PARAM}{attribute.key}{suffix}"
                select = isinstance(field.widget, forms.Select | forms.SelectMultiple)
                field.widget.attrs.setdefault(
                    "class", "form-select form-select-sm" if select else "form-control form-control-sm"
                )
                self.fields[name] = field
                names.append(name)
            self.attribute_fields.append((attribute, names))

    def attribute_filters(self) -> list[tuple[AttributeDef, list]]:
        """(attribute, its bound fields) for the template."""
        return [(attribute, [self[n] for n in names]) for attribute, names in self.attribute_fields]

    def filters(self) -> InboxFilters:
        """The valid filters; an invalid value (a stale link) is left out, and the page says which."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return InboxFilters(
            grade=data.get("grade") or "",
            persona=data.get("persona"),
            source=data.get("source") or "",
            country=data.get("country") or "",
            q=(data.get("q") or "").strip(),
            conditions=tuple(
                condition
                for attribute, names in self.attribute_fields
                if (condition := attribute_condition(attribute, [data.get(n) for n in names])) is not None
            ),
        )


class LeadCorrectionForm(ErrorClassMixin, forms.ModelForm):
    """A lead's own fields as its page shows them; ``leads.inbox.editing.lead_correct`` writes them."""

    class Meta:
        model = Lead
        fields = EDITABLE_FIELDS
        labels = {"email": "E-mail", "job_title": "Job title"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)
            if isinstance(field, forms.TypedChoiceField):
                field.choices = [("", "Unknown"), *((v, label) for v, label in field.choices if v != "")]

    def validate_unique(self):
        """The e-mail's uniqueness is the service's to check, inside its transaction."""

    def changed_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data}


class AttemptForm(forms.Form):
    """One follow-up attempt on an accepted lead; the time defaults to now (back-dating: 24 hours at most)."""

    channel = forms.ChoiceField(
        label="Channel",
        choices=FollowUpAttempt.Channel.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": "Choose how you tried to reach the lead.", "invalid_choice": "Choose a channel."},
    )
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=FollowUpAttempt.Outcome.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"required": "Choose what came of the attempt.", "invalid_choice": "Choose an outcome."},
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
        help_text="Optional: what was said, when to try again.",
    )
    at = forms.DateTimeField(
        label="When",
        required=False,
        widget=forms.DateTimeInput(attrs={"class": "form-control", "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for now. An attempt can be back-dated by 24 hours at most, never before acceptance.",
        error_messages={"invalid": "Enter a date and time such as 2026-03-02 14:30."},
    )
