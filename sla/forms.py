from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from alignment import spec as vocab
from alignment.models import Persona
from leads.models import Team
from portal.access import Role, display_name

MAX_RANGE_DAYS = 400
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class SdrChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return display_name(obj)


class DashboardFilterForm(forms.Form):
    """Date range, team, source and persona. Invalid input falls back to the defaults with a message."""

    date_from = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="First day included.",
    )
    date_to = forms.DateField(
        label="To",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Last day included.",
    )
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False, empty_label="All teams")
    source = forms.ChoiceField(choices=[("", "All sources"), *vocab.SOURCES], required=False)
    persona = forms.ModelChoiceField(
        queryset=Persona.objects.order_by("name"), required=False, empty_label="All personas"
    )
    sdr = SdrChoiceField(
        queryset=User.objects.filter(groups__name=Role.SDR).order_by("first_name", "last_name", "username"),
        required=False,
        empty_label="All SDRs",
        label="SDR",
        help_text="One SDR's own figures: the MQLs she was handed or claimed, her decisions and her breaches.",
    )

    def __init__(self, *args, today: dt.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()
        for name, field in self.fields.items():
            field.widget.attrs.setdefault(
                "class", "form-control form-control-sm" if name.startswith("date") else "form-select form-select-sm"
            )

    def clean(self):
        data = super().clean()
        date_to = data.get("date_to") or self.today
        date_from = data.get("date_from") or (date_to - dt.timedelta(days=27))
        if date_from > date_to:
            raise forms.ValidationError("“From” must be on or before “To”.")
        if (date_to - date_from).days >= MAX_RANGE_DAYS:
            raise forms.ValidationError(f"Choose a range of at most {MAX_RANGE_DAYS} days.")
        data["date_from"], data["date_to"] = date_from, date_to
        return data


class ReportGenerateForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), empty_label=None)
    week = forms.CharField(
        max_length=8, help_text="ISO week such as 2026-W14.", widget=forms.TextInput(attrs={"placeholder": "2026-W14"})
    )

    def clean_week(self) -> tuple[int, int]:
        value = self.cleaned_data["week"].strip()
        match = WEEK.match(value)
        if not match:
            raise forms.ValidationError("Enter an ISO week such as 2026-W14.")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            dt.date.fromisocalendar(year, week, 1)
        except ValueError:
            raise forms.ValidationError(f"{value} is not a week of {year}.") from None
        return year, week
