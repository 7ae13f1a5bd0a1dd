"""Every validation rule of the spec gives a readable message at the right place."""

from __future__ import annotations

import pytest

from alignment.spec import default_spec
from alignment.validation import validate_spec


def errors_for(mutate, persona_ids=None) -> dict:
    spec = default_spec()
    mutate(spec)
    return validate_spec(spec, persona_ids=persona_ids)


def test_default_spec_is_valid():
    assert validate_spec(default_spec()) == {}


def test_unknown_field_is_named():
    errors = errors_for(lambda s: s["fit_rules"][0].update(field="shoe_size"))
    assert errors == {"fit_rules.0.field": ["Unknown field 'shoe_size'."]}


def test_operator_that_does_not_fit_the_field_lists_the_valid_ones():
    errors = errors_for(lambda s: s["fit_rules"][0].update(operator="between"))
    assert errors["fit_rules.0.operator"] == [
        "'is between' does not apply to Industry; use is one of, is not one of, is known, is unknown."
    ]


def test_empty_value_list_is_refused():
    errors = errors_for(lambda s: s["fit_rules"][0].update(values=[]))
    assert errors == {"fit_rules.0.values": ["Give at least one value."]}


def test_unknown_choice_value_is_named():
    errors = errors_for(lambda s: s["fit_rules"][0].update(values=["Sofware"]))
    assert errors == {"fit_rules.0.values": ["'Sofware' is not a known industry."]}


def test_between_needs_low_not_above_high():
    errors = errors_for(lambda s: s["fit_rules"][1].update(values=[5000, 200]))
    assert errors == {"fit_rules.1.values": ["The lower bound (5,000) must not exceed the upper bound (200)."]}


def test_between_needs_two_numbers():
    errors = errors_for(lambda s: s["fit_rules"][1].update(values=[200]))
    assert errors == {"fit_rules.1.values": ["Give two numbers: the lower and the upper bound."]}


def test_persona_values_must_name_active_personas():
    def mutate(spec):
        spec["fit_rules"].append({"id": "fp", "field": "persona", "operator": "in", "values": [7], "points": 5})

    assert errors_for(mutate, persona_ids=[1, 2]) == {
        "fit_rules.7.values": ["Persona #7 does not exist or is archived."]
    }
    assert errors_for(mutate, persona_ids=[7]) == {}


def test_points_out_of_range():
    errors = errors_for(lambda s: s["fit_rules"][0].update(points=5000))
    assert errors == {"fit_rules.0.points": ["Points must be between -1000 and 1000."]}


def test_negative_cap_is_refused():
    errors = errors_for(lambda s: s["behaviour_rules"][0].update(cap=-5))
    assert errors == {
        "behaviour_rules.0.cap": ["The cap cannot be negative; it limits the rule's points in either direction."]
    }


@pytest.mark.parametrize("window", [0, -3])
def test_window_must_be_at_least_a_day(window):
    errors = errors_for(lambda s: s["behaviour_rules"][0].update(window_days=window))
    assert errors == {"behaviour_rules.0.window_days": ["The window must be at least 1 day."]}


def test_unknown_activity_kind():
    errors = errors_for(lambda s: s["behaviour_rules"][0].update(kind="carrier_pigeon"))
    assert errors == {"behaviour_rules.0.kind": ["Unknown activity kind 'carrier_pigeon'."]}


def test_half_life_must_be_positive():
    errors = errors_for(lambda s: s["behaviour_rules"][0].update(half_life_days=0))
    assert "behaviour_rules.0.half_life_days" in errors


@pytest.mark.parametrize("threshold", [0, 1001, "60"])
def test_threshold_out_of_range_or_not_a_number(threshold):
    errors = errors_for(lambda s: s.update(mql_threshold=threshold))
    assert list(errors) == ["mql_threshold"]
    assert "between 1 and 1000" in errors["mql_threshold"][0] or "whole number" in errors["mql_threshold"][0]


def test_duplicate_rule_ids_across_sections():
    errors = errors_for(lambda s: s["behaviour_rules"][0].update(id="f1"))
    assert errors == {"behaviour_rules.0.id": ["Duplicate rule id 'f1' (also used in fit rules)."]}


def test_overlapping_grade_bands():
    errors = errors_for(lambda s: s["grade_bands"][1].update(max=45))
    assert errors == {"grade_bands": ["Bands A (40 and above) and B (25–45) overlap."]}


def test_gap_between_grade_bands():
    errors = errors_for(lambda s: s["grade_bands"][2].update(max=20))
    assert errors == {
        "grade_bands": ["Fit scores 21 to 24 fall between bands B (25–39) and C (10–20): no grade covers them."]
    }


def test_missing_grade_band():
    errors = errors_for(lambda s: s.update(grade_bands=s["grade_bands"][:3]))
    assert errors == {"grade_bands": ["Grade D has no band."]}


def test_band_minimum_above_maximum():
    errors = errors_for(lambda s: s["grade_bands"][1].update(min=39, max=25))
    assert errors["grade_bands.1.min"] == ["Grade B: the minimum (39) is above the maximum (25)."]


def test_open_ends_required_so_every_score_has_a_grade():
    errors = errors_for(lambda s: s["grade_bands"][0].update(max=100))
    assert errors == {"grade_bands": ["Fit scores above 100 fall in no band: leave A's maximum empty."]}


def test_duplicate_reason_codes():
    def mutate(spec):
        spec["recycle_reasons"].append({"code": "no_budget", "label": "Budget frozen", "description": ""})

    assert errors_for(mutate) == {"recycle_reasons.4.code": ["Duplicate reason code 'no_budget'."]}


def test_reason_code_format():
    errors = errors_for(lambda s: s["reject_reasons"][0].update(code="Bad Fit!"))
    assert list(errors) == ["reject_reasons.0.code"]


def test_bad_time_zone():
    errors = errors_for(lambda s: s["sla"]["calendar"].update(time_zone="Europe/Londn"))
    assert errors == {"sla.calendar.time_zone": ["Unknown time zone 'Europe/Londn'; use a name such as Europe/London."]}


def test_bad_holiday_dates():
    errors = errors_for(lambda s: s["sla"]["calendar"].update(holidays=["2026-13-01", "25/12/2026"]))
    assert errors == {
        "sla.calendar.holidays": [
            "'2026-13-01' is not a date; use YYYY-MM-DD.",
            "'25/12/2026' is not a date; use YYYY-MM-DD.",
        ]
    }


def test_working_day_must_end_after_it_starts():
    errors = errors_for(lambda s: s["sla"]["calendar"].update(start="18:00", end="09:00"))
    assert errors == {"sla.calendar.end": ["The working day must end after it starts (18:00 → 09:00)."]}


def test_no_working_days():
    errors = errors_for(lambda s: s["sla"]["calendar"].update(working_days=[]))
    assert errors == {"sla.calendar.working_days": ["Pick at least one working day."]}


def test_response_target_must_be_positive():
    errors = errors_for(lambda s: s["sla"]["response_hours"].update(B=0))
    assert errors == {"sla.response_hours.B": ["The response target must be more than 0 business hours."]}


def test_negative_quota():
    errors = errors_for(lambda s: s["sla"].update(monthly_mql_quota=-1))
    assert errors == {"sla.monthly_mql_quota": ["The monthly MQL quota must be a whole number, 0 or more."]}


def test_unknown_and_missing_sections():
    def mutate(spec):
        spec["bonus"] = 1
        del spec["knockouts"]

    assert errors_for(mutate) == {"": ["Unknown section 'bonus'."], "knockouts": ["This section is missing."]}


def test_knockout_needs_a_label():
    errors = errors_for(lambda s: s["knockouts"][0].update(label=" "))
    assert errors == {"knockouts.0.label": ["Name the knock-out (e.g. 'Competitor')."]}
