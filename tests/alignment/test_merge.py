"""Three-way merge: edits to different places combine, the same field changed twice is a conflict."""

from __future__ import annotations

from alignment.merge import MISSING, merge_specs
from alignment.spec import default_spec


def edited(change) -> dict:
    spec = default_spec()
    change(spec)
    return spec


def rule(spec, section, rule_id):
    return next(r for r in spec[section] if r.get("id", r.get("code")) == rule_id)


def test_changes_to_different_rules_merge():
    base = default_spec()
    mine = edited(lambda s: rule(s, "fit_rules", "f1").update(points=20))
    theirs = edited(lambda s: rule(s, "fit_rules", "f2").update(points=5))
    result = merge_specs(base, mine, theirs)
    assert result.clean
    assert rule(result.spec, "fit_rules", "f1")["points"] == 20
    assert rule(result.spec, "fit_rules", "f2")["points"] == 5


def test_different_fields_of_one_rule_merge():
    base = default_spec()
    mine = edited(lambda s: rule(s, "behaviour_rules", "b3").update(points=15))
    theirs = edited(lambda s: rule(s, "behaviour_rules", "b3").update(window_days=90))
    result = merge_specs(base, mine, theirs)
    assert result.clean
    assert rule(result.spec, "behaviour_rules", "b3") | {} == {
        **rule(base, "behaviour_rules", "b3"),
        "points": 15,
        "window_days": 90,
    }


def test_different_sections_merge_and_both_additions_are_kept():
    base = default_spec()

    def mine_change(s):
        s["mql_threshold"] = 70
        s["behaviour_rules"].append({"id": "b-aa", "kind": "form_fill", "points": 5, "cap": 10, "window_days": 30})

    def theirs_change(s):
        s["sla"]["response_hours"]["A"] = 2
        s["recycle_reasons"].append({"code": "acquired", "label": "Company acquired", "description": ""})
        s["behaviour_rules"].append({"id": "b-bb", "kind": "email_open", "points": 1, "cap": 5, "window_days": 30})

    result = merge_specs(base, edited(mine_change), edited(theirs_change))
    assert result.clean
    assert result.spec["mql_threshold"] == 70
    assert result.spec["sla"]["response_hours"]["A"] == 2
    ids = [r["id"] for r in result.spec["behaviour_rules"]]
    assert ids[-2:] == ["b-bb", "b-aa"]
    assert result.spec["recycle_reasons"][-1]["code"] == "acquired"


def test_same_field_changed_differently_is_a_conflict_holding_both_values():
    base = default_spec()
    mine = edited(lambda s: s.update(mql_threshold=65))
    theirs = edited(lambda s: s.update(mql_threshold=70))
    result = merge_specs(base, mine, theirs)
    assert [(c.key, c.base, c.mine, c.theirs) for c in result.conflicts] == [("mql_threshold", 60, 65, 70)]
    assert result.conflicts[0].label() == "MQL threshold"


def test_same_change_on_both_sides_is_not_a_conflict():
    base = default_spec()
    mine = edited(lambda s: s.update(mql_threshold=70))
    result = merge_specs(base, mine, edited(lambda s: s.update(mql_threshold=70)))
    assert result.clean and result.spec["mql_threshold"] == 70


def test_choices_settle_conflicts():
    base = default_spec()
    mine = edited(lambda s: (s.update(mql_threshold=65), rule(s, "fit_rules", "f1").update(points=20)))
    theirs = edited(lambda s: (s.update(mql_threshold=70), rule(s, "fit_rules", "f1").update(points=25)))
    result = merge_specs(base, mine, theirs, {"mql_threshold": "mine", "fit_rules/f1/points": "theirs"})
    assert result.clean
    assert result.spec["mql_threshold"] == 65
    assert rule(result.spec, "fit_rules", "f1")["points"] == 25


def test_delete_against_change_is_a_conflict_and_either_choice_works():
    base = default_spec()
    mine = edited(lambda s: s.update(fit_rules=[r for r in s["fit_rules"] if r["id"] != "f3"]))
    theirs = edited(lambda s: rule(s, "fit_rules", "f3").update(points=-15))
    result = merge_specs(base, mine, theirs)
    (conflict,) = result.conflicts
    assert conflict.key == "fit_rules/f3"
    assert conflict.mine is MISSING
    assert conflict.label() == "Fit rule 'Employee count is at most 20'"
    assert conflict.shown("mine") == "(deleted)"
    assert conflict.shown("theirs") == "Employee count is at most 20: -15"
    deleted = merge_specs(base, mine, theirs, {"fit_rules/f3": "mine"}).spec
    assert "f3" not in [r["id"] for r in deleted["fit_rules"]]
    kept = merge_specs(base, mine, theirs, {"fit_rules/f3": "theirs"}).spec
    assert rule(kept, "fit_rules", "f3")["points"] == -15


def test_unchanged_delete_merges():
    base = default_spec()
    mine = edited(lambda s: s.update(fit_rules=[r for r in s["fit_rules"] if r["id"] != "f3"]))
    theirs = edited(lambda s: rule(s, "fit_rules", "f1").update(points=1))
    result = merge_specs(base, mine, theirs)
    assert result.clean
    assert [r["id"] for r in result.spec["fit_rules"]] == ["f1", "f2", "f4", "f5", "f6", "f7"]


def test_rule_values_are_one_field():
    base = default_spec()
    mine = edited(lambda s: rule(s, "fit_rules", "f1").update(values=["Software"]))
    theirs = edited(lambda s: rule(s, "fit_rules", "f1").update(values=["Retail"]))
    (conflict,) = merge_specs(base, mine, theirs).conflicts
    assert conflict.key == "fit_rules/f1/values"
    # Named by the rule as it was before either edit.
    assert conflict.label() == (
        "Fit rule 'Industry is one of Software, Financial Services, Manufacturing, Telecommunications' — values"
    )
    assert (conflict.shown("mine"), conflict.shown("theirs")) == ("Software", "Retail")


def test_sla_fields_merge_independently():
    base = default_spec()
    mine = edited(lambda s: s["sla"]["calendar"].update(time_zone="America/New_York"))
    theirs = edited(lambda s: s["sla"]["calendar"].update(start="08:00"))
    result = merge_specs(base, mine, theirs)
    assert result.clean
    assert result.spec["sla"]["calendar"]["time_zone"] == "America/New_York"
    assert result.spec["sla"]["calendar"]["start"] == "08:00"
