"""The "Propose from outcomes" form: the population, what converted means, what to consider."""

from __future__ import annotations

from django import forms

from leads.scoring.outcomes import current_outcome, outcome_choices
from leads.scoring.scorecard import MAX_RULES, candidates


class ProposalForm(forms.Form):
    created_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date", "class": "form-control"})
    )
    created_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date", "class": "form-control"})
    )
    outcome = forms.ChoiceField(widget=forms.Select(attrs={"class": "form-select"}))
    attributes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)
    max_rules = forms.IntegerField(
        min_value=1, max_value=50, initial=MAX_RULES, widget=forms.NumberInput(attrs={"class": "form-control"})
    )
    target_rate = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=99,
        widget=forms.NumberInput(attrs={"class": "form-control"}),
        help_text="Optional: set the threshold so MQLs convert at this % instead of meeting the monthly quota.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = candidates()
        self.fields["outcome"].choices = outcome_choices()
        self.fields["outcome"].initial = current_outcome().code
        self.fields["attributes"].choices = [(c.key, c.label) for c in self.candidates]
        # Attributes filled in by sales describe the outcome: unticked unless a leader insists.
        self.fields["attributes"].initial = [c.key for c in self.candidates if c.before_contact]

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The last creation date must not be before the first.")
        return data

    def groups(self) -> list[dict]:
        """The attribute checkboxes in three groups, each with its ticked state."""
        ticked = set(self["attributes"].value() or [])
        rows = [(c, c.key in ticked) for c in self.candidates]
        fit = [r for r in rows if r[0].kind != "activity" and r[0].before_contact]
        kinds = [r for r in rows if r[0].kind == "activity"]
        sales = [r for r in rows if not r[0].before_contact]
        return [
            {"title": "Known before first contact", "rows": fit},
            {"title": "Activities (counted up to each lead's 14th day)", "rows": kinds},
            {"title": "Filled in by sales", "leaky": True, "rows": sales},
        ]

    def params(self) -> dict:
        data = self.cleaned_data
        return {
            "outcome": data["outcome"],
            "created_from": data["created_from"].isoformat() if data.get("created_from") else None,
            "created_to": data["created_to"].isoformat() if data.get("created_to") else None,
            "attributes": list(data["attributes"]),
            "max_rules": data["max_rules"],
            "target_rate": data["target_rate"] / 100 if data.get("target_rate") else None,
        }
