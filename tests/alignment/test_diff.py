"""Diff text for every kind of change, in the words of the issue."""

from __future__ import annotations

from alignment.diff import spec_changes
from alignment.spec import default_spec


def texts(change, names=None) -> list[str]:
    old = default_spec()
    new = default_spec()
    change(new)
    return [c.text for c in spec_changes(old, new, names)]


def rule(spec, section, key):
    return next(r for r in spec[section] if r.get("id", r.get("code")) == key)


def test_identical_specs_have_no_changes():
    assert texts(lambda s: None) == []


def test_threshold():
    assert texts(lambda s: s.update(mql_threshold=70)) == ["MQL threshold 60 → 70"]


def test_fit_rule_points():
    def change(s):
        rule(s, "fit_rules", "f1").update(values=["Manufacturing", "Retail"])

    old = default_spec()
    rule(old, "fit_rules", "f1").update(values=["Manufacturing", "Retail"], points=10)
    new = default_spec()
    rule(new, "fit_rules", "f1").update(values=["Manufacturing", "Retail"], points=15)
    assert [c.text for c in spec_changes(old, new)] == [
        "Fit rule 'Industry is one of Manufacturing, Retail': +10 → +15"
    ]


def test_fit_rule_condition_added_and_removed():
    def change(s):
        rule(s, "fit_rules", "f1").update(values=["Software"])
        s["fit_rules"] = [r for r in s["fit_rules"] if r["id"] != "f3"]
        s["fit_rules"].append({"id": "f9", "field": "need", "operator": "in", "values": ["urgent"], "points": 8})

    assert texts(change) == [
        "Fit rule 'Industry is one of Software, Financial Services, Manufacturing, Telecommunications' now reads "
        "'Industry is one of Software'",
        "Added fit rule 'Need (BANT) is one of Urgent' +8",
        "Removed fit rule 'Employee count is at most 20' (-10)",
    ]


def test_persona_rules_name_the_persona():
    def change(s):
        s["fit_rules"].append({"id": "fp", "field": "persona", "operator": "in", "values": [3], "points": 10})

    assert texts(change, {3: "Revenue Executive"}) == ["Added fit rule 'Persona is one of Revenue Executive' +10"]


def test_behaviour_rule_added_in_the_issue_wording():
    def change(s):
        s["behaviour_rules"] = [r for r in s["behaviour_rules"] if r["kind"] != "pricing_page_visit"]
        s["behaviour_rules"].append(
            {"id": "b-new", "kind": "pricing_page_visit", "points": 15, "cap": 30, "window_days": 90}
        )

    assert texts(change) == [
        "Added behaviour rule 'Pricing page visit' +15 per visit, cap 30, 90 days",
        "Removed behaviour rule 'Pricing page visit' +10 per visit, cap 30, 60 days",
    ]


def test_behaviour_rule_terms_changed():
    def change(s):
        rule(s, "behaviour_rules", "b3").update(points=15, cap=45, window_days=90, half_life_days=30)

    assert texts(change) == [
        "Behaviour rule 'Pricing page visit': +10 → +15 per visit, cap 30 → 45, window 60 → 90 days, "
        "half-life none → 30 days"
    ]


def test_knockouts():
    def change(s):
        rule(s, "knockouts", "k1").update(label="Competitor domain", values=["leadforge.io"])
        s["knockouts"] = [r for r in s["knockouts"] if r["id"] != "k2"]

    assert texts(change) == [
        "Knock-out 'Competitor' renamed 'Competitor domain'",
        "Knock-out 'Competitor domain': E-mail domain is one of leadforge.io, pipelinely.com → "
        "E-mail domain is one of leadforge.io",
        "Removed knock-out 'Student': Seniority is one of Student",
    ]


def test_grade_bands():
    def change(s):
        s["grade_bands"][0]["min"] = 45
        s["grade_bands"][1]["max"] = 44

    assert texts(change) == ["Grade A band 40+ → 45+", "Grade B band 25–39 → 25–44"]


def test_sla_terms():
    def change(s):
        sla = s["sla"]
        sla["response_hours"]["A"] = 2
        sla["calendar"].update(time_zone="America/New_York", working_days=[0, 1, 2, 3, 4, 5], start="08:00")
        sla["calendar"]["holidays"] = ["2026-12-25", "2026-12-28", "2026-12-31"]
        sla["followup"]["attempts"] = 4
        sla["monthly_mql_quota"] = 450

    assert texts(change) == [
        "Response target for grade A 4 → 2 business hours",
        "Time zone Europe/London → America/New_York",
        "Working days Mon–Fri → Mon–Sat",
        "Working hours 09:00–17:30 → 08:00–17:30",
        "Holiday 2026-12-31 added",
        "Holiday 2027-01-01 removed",
        "SAL follow-up 3 attempts within 5 days → 4 attempts within 5 days",
        "Monthly MQL quota 400 → 450",
    ]


def test_reason_codes():
    def change(s):
        s["recycle_reasons"] = [r for r in s["recycle_reasons"] if r["code"] != "no_budget"]
        s["reject_reasons"].append({"code": "spam", "label": "Spam", "description": ""})
        rule(s, "reject_reasons", "bad_data").update(label="Wrong contact data")

    assert texts(change) == [
        "Rejection reason 'Bad contact data' renamed 'Wrong contact data'",
        "Rejection reason 'Spam' added",
        "Recycle reason 'No budget this quarter' removed",
    ]


def test_recycle_reason_added_wording():
    old = default_spec()
    old["recycle_reasons"] = [r for r in old["recycle_reasons"] if r["code"] != "no_budget"]
    assert [c.text for c in spec_changes(old, default_spec())] == ["Recycle reason 'No budget this quarter' added"]
