"""The team settings page: the team's own settings and one row per SDR."""

from __future__ import annotations

import zoneinfo

from django import forms

from alignment import spec as vocab
from leads.models import Team, TeamMember


class TeamSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(help_text="Weekly reports and the hours below are in this zone.")
    working_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(vocab.WEEKDAYS)), coerce=int, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Team
        fields = ["time_zone", "work_start", "work_end", "working_days", "routing", "escalate_breaches"]
        labels = {"work_start": "Day starts", "work_end": "Day ends", "routing": "Routing mode"}
        widgets = {
            "work_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "work_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "routing": forms.RadioSelect,
        }
        help_texts = {
            "routing": "Round robin gives each new MQL to the SDR with room who was assigned least recently; "
            "pull leaves MQLs in the queue for the “Next lead” button.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in sorted(zoneinfo.available_timezones())]


class MemberForm(forms.ModelForm):
    class Meta:
        model = TeamMember
        fields = ["capacity", "away_until"]
        labels = {"capacity": "Capacity", "away_until": "Out of office until"}
        widgets = {
            "capacity": forms.NumberInput(attrs={"min": 0, "max": 1000, "class": "form-control form-control-sm"}),
            "away_until": forms.DateTimeInput(
                attrs={"type": "datetime-local", "class": "form-control form-control-sm"}, format="%Y-%m-%dT%H:%M"
            ),
        }

    def clean_capacity(self) -> int:
        capacity = self.cleaned_data["capacity"]
        if capacity > 1000:
            raise forms.ValidationError("At most 1,000 open leads per SDR.")
        return capacity


MemberFormSet = forms.modelformset_factory(TeamMember, form=MemberForm, extra=0, can_delete=False)
