"""What changed between two agreement specs, in sentences both leaders can sign off on.

``spec_changes(old, new)`` returns ``Change`` items such as "MQL threshold 60 → 70",
"Fit rule 'Industry is one of Manufacturing, Retail': +10 → +15", "Added behaviour rule
'Pricing page visit' +15 per visit, cap 30, 90 days" or "Recycle reason 'No budget this
quarter' added". Rules are matched by ``id``, reasons by ``code``, grade bands by ``grade``.
"""

from __future__ import annotations

from dataclasses import dataclass

from alignment import spec as vocab

# The noun one occurrence of an activity is counted in ("+15 per visit").
ACTIVITY_UNITS = {
    "form_fill": "form",
    "demo_request": "request",
    "pricing_page_visit": "visit",
    "whitepaper_download": "download",
    "case_study_download": "download",
    "web_visit": "visit",
    "email_open": "open",
    "email_click": "click",
    "webinar_attended": "webinar",
    "tradeshow_scan": "scan",
    "free_trial_signup": "sign-up",
    "contact_sales": "request",
    "unsubscribe": "unsubscribe",
}
SECTION_TITLES = {
    "fit_rules": "Fit rules",
    "knockouts": "Knock-outs",
    "behaviour_rules": "Behaviour rules",
    "thresholds": "Threshold and grades",
    "sla": "SLA terms",
    "reasons": "Reason codes",
}


@dataclass(frozen=True)
class Change:
    section: str  # a key of SECTION_TITLES
    kind: str  # "added" | "removed" | "changed"
    text: str


def kind_label(kind: str, dictionary=None) -> str:
    if dictionary is not None and kind in dictionary.kinds:
        return dictionary.kind_label(kind)
    return dict(vocab.ACTIVITY_KINDS).get(kind, kind)


def behaviour_terms(rule: dict) -> str:
    """ "+15 per visit, cap 30, 90 days" (and ", half-life 14 days" when decaying)."""
    unit = ACTIVITY_UNITS.get(rule.get("kind"), "occurrence")
    parts = [f"{rule.get('points', 0):+d} per {unit}"]
    if rule.get("cap") is not None:
        parts.append(f"cap {rule['cap']}")
    parts.append(f"{rule.get('window_days')} days")
    if rule.get("half_life_days"):
        parts.append(f"half-life {_num(rule['half_life_days'])} days")
    return ", ".join(parts)


def _num(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def _keyed(items, key: str) -> dict:
    return {item.get(key): item for item in items or [] if isinstance(item, dict)}


def _band(band: dict | None) -> str:
    if not band:
        return "none"
    low, high = band.get("min"), band.get("max")
    if low is None and high is None:
        return "any fit score"
    if low is None:
        return f"up to {high}"
    if high is None:
        return f"{low}+"
    return f"{low}–{high}"


def _days(days) -> str:
    days = sorted(d for d in days or [] if isinstance(d, int) and 0 <= d <= 6)
    if not days:
        return "none"
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return f"{vocab.WEEKDAYS[days[0]][:3]}–{vocab.WEEKDAYS[days[-1]][:3]}"
    return ", ".join(vocab.WEEKDAYS[d][:3] for d in days)


def _fit_changes(old: list, new: list, names: dict | None, dictionary=None) -> list[Change]:
    changes: list[Change] = []
    before, after = _keyed(old, "id"), _keyed(new, "id")

    def words(rule: dict) -> str:
        return vocab.describe_condition(rule, names, dictionary)

    for rule_id, rule in after.items():
        if rule_id not in before:
            text = f"Added fit rule '{words(rule)}' {rule.get('points', 0):+d}"
            changes.append(Change("fit_rules", "added", text))
            continue
        was = before[rule_id]
        was_text, now_text = (
            vocab.describe_condition(was, names, dictionary),
            vocab.describe_condition(rule, names, dictionary),
        )
        if was_text != now_text:
            changes.append(Change("fit_rules", "changed", f"Fit rule '{was_text}' now reads '{now_text}'"))
        if was.get("points") != rule.get("points"):
            text = f"Fit rule '{now_text}': {was.get('points', 0):+d} → {rule.get('points', 0):+d}"
            changes.append(Change("fit_rules", "changed", text))
    for rule_id, rule in before.items():
        if rule_id not in after:
            text = (
                f"Removed fit rule '{vocab.describe_condition(rule, names, dictionary)}' ({rule.get('points', 0):+d})"
            )
            changes.append(Change("fit_rules", "removed", text))
    return changes


def _knockout_changes(old: list, new: list, names: dict | None, dictionary=None) -> list[Change]:
    changes: list[Change] = []
    before, after = _keyed(old, "id"), _keyed(new, "id")
    for rule_id, rule in after.items():
        condition = vocab.describe_condition(rule, names, dictionary)
        if rule_id not in before:
            changes.append(Change("knockouts", "added", f"Added knock-out '{rule.get('label')}': {condition}"))
            continue
        was = before[rule_id]
        if was.get("label") != rule.get("label"):
            text = f"Knock-out '{was.get('label')}' renamed '{rule.get('label')}'"
            changes.append(Change("knockouts", "changed", text))
        was_condition = vocab.describe_condition(was, names, dictionary)
        if was_condition != condition:
            text = f"Knock-out '{rule.get('label')}': {was_condition} → {condition}"
            changes.append(Change("knockouts", "changed", text))
    for rule_id, rule in before.items():
        if rule_id not in after:
            condition = vocab.describe_condition(rule, names, dictionary)
            changes.append(Change("knockouts", "removed", f"Removed knock-out '{rule.get('label')}': {condition}"))
    return changes


def _behaviour_changes(old: list, new: list, dictionary=None) -> list[Change]:
    changes: list[Change] = []
    before, after = _keyed(old, "id"), _keyed(new, "id")
    for rule_id, rule in after.items():
        name = kind_label(rule.get("kind"), dictionary)
        if rule_id not in before:
            text = f"Added behaviour rule '{name}' {behaviour_terms(rule)}"
            changes.append(Change("behaviour_rules", "added", text))
            continue
        was = before[rule_id]
        if was.get("kind") != rule.get("kind"):
            text = f"Behaviour rule '{kind_label(was.get('kind'), dictionary)}' now counts '{name}'"
            changes.append(Change("behaviour_rules", "changed", text))
        parts = []
        if was.get("points") != rule.get("points"):
            unit = ACTIVITY_UNITS.get(rule.get("kind"), "occurrence")
            parts.append(f"{was.get('points', 0):+d} → {rule.get('points', 0):+d} per {unit}")
        if was.get("cap") != rule.get("cap"):
            parts.append(
                f"cap {_num(was.get('cap')) if was.get('cap') is not None else 'none'} → "
                f"{_num(rule.get('cap')) if rule.get('cap') is not None else 'none'}"
            )
        if was.get("window_days") != rule.get("window_days"):
            parts.append(f"window {was.get('window_days')} → {rule.get('window_days')} days")
        if (was.get("half_life_days") or None) != (rule.get("half_life_days") or None):
            old_hl = f"{_num(was['half_life_days'])} days" if was.get("half_life_days") else "none"
            new_hl = f"{_num(rule['half_life_days'])} days" if rule.get("half_life_days") else "none"
            parts.append(f"half-life {old_hl} → {new_hl}")
        if parts:
            changes.append(Change("behaviour_rules", "changed", f"Behaviour rule '{name}': {', '.join(parts)}"))
    for rule_id, rule in before.items():
        if rule_id not in after:
            text = f"Removed behaviour rule '{kind_label(rule.get('kind'), dictionary)}' {behaviour_terms(rule)}"
            changes.append(Change("behaviour_rules", "removed", text))
    return changes


def _threshold_changes(old: dict, new: dict) -> list[Change]:
    changes: list[Change] = []
    if old.get("mql_threshold") != new.get("mql_threshold"):
        text = f"MQL threshold {old.get('mql_threshold')} → {new.get('mql_threshold')}"
        changes.append(Change("thresholds", "changed", text))
    before, after = _keyed(old.get("grade_bands"), "grade"), _keyed(new.get("grade_bands"), "grade")
    for grade in vocab.GRADES:
        was, now = before.get(grade), after.get(grade)
        if (was or {}).get("min") != (now or {}).get("min") or (was or {}).get("max") != (now or {}).get("max"):
            changes.append(Change("thresholds", "changed", f"Grade {grade} band {_band(was)} → {_band(now)}"))
    return changes


def _sla_changes(old: dict, new: dict) -> list[Change]:
    changes: list[Change] = []
    old, new = old or {}, new or {}
    old_hours, new_hours = old.get("response_hours") or {}, new.get("response_hours") or {}
    for grade in vocab.GRADES:
        if old_hours.get(grade) != new_hours.get(grade):
            text = (
                f"Response target for grade {grade} {_num(old_hours.get(grade))} → "
                f"{_num(new_hours.get(grade))} business hours"
            )
            changes.append(Change("sla", "changed", text))
    old_cal, new_cal = old.get("calendar") or {}, new.get("calendar") or {}
    if old_cal.get("time_zone") != new_cal.get("time_zone"):
        text = f"Time zone {old_cal.get('time_zone')} → {new_cal.get('time_zone')}"
        changes.append(Change("sla", "changed", text))
    if sorted(old_cal.get("working_days") or []) != sorted(new_cal.get("working_days") or []):
        text = f"Working days {_days(old_cal.get('working_days'))} → {_days(new_cal.get('working_days'))}"
        changes.append(Change("sla", "changed", text))
    if (old_cal.get("start"), old_cal.get("end")) != (new_cal.get("start"), new_cal.get("end")):
        text = (
            f"Working hours {old_cal.get('start')}–{old_cal.get('end')} → {new_cal.get('start')}–{new_cal.get('end')}"
        )
        changes.append(Change("sla", "changed", text))
    old_holidays, new_holidays = set(old_cal.get("holidays") or []), set(new_cal.get("holidays") or [])
    for day in sorted(new_holidays - old_holidays):
        changes.append(Change("sla", "added", f"Holiday {day} added"))
    for day in sorted(old_holidays - new_holidays):
        changes.append(Change("sla", "removed", f"Holiday {day} removed"))
    old_f, new_f = old.get("followup") or {}, new.get("followup") or {}
    if old_f != new_f:
        text = (
            f"SAL follow-up {old_f.get('attempts')} attempts within {old_f.get('days')} days → "
            f"{new_f.get('attempts')} attempts within {new_f.get('days')} days"
        )
        changes.append(Change("sla", "changed", text))
    if old.get("monthly_mql_quota") != new.get("monthly_mql_quota"):
        text = f"Monthly MQL quota {_num(old.get('monthly_mql_quota'))} → {_num(new.get('monthly_mql_quota'))}"
        changes.append(Change("sla", "changed", text))
    return changes


def _reason_changes(old: list, new: list, noun: str) -> list[Change]:
    changes: list[Change] = []
    before, after = _keyed(old, "code"), _keyed(new, "code")
    for code, reason in after.items():
        if code not in before:
            changes.append(Change("reasons", "added", f"{noun} '{reason.get('label')}' added"))
            continue
        was = before[code]
        if was.get("label") != reason.get("label"):
            text = f"{noun} '{was.get('label')}' renamed '{reason.get('label')}'"
            changes.append(Change("reasons", "changed", text))
        if (was.get("description") or "") != (reason.get("description") or ""):
            text = f"{noun} '{reason.get('label')}': description now reads '{reason.get('description') or ''}'"
            changes.append(Change("reasons", "changed", text))
    for code, reason in before.items():
        if code not in after:
            changes.append(Change("reasons", "removed", f"{noun} '{reason.get('label')}' removed"))
    return changes


def spec_changes(old: dict, new: dict, persona_names: dict | None = None, dictionary=None) -> list[Change]:
    """Every difference from ``old`` to ``new``, grouped by section in the document's order.

    ``dictionary`` (``alignment.dictionary.Dictionary``) names attributes, values and activity kinds
    as the organisation labels them; without it the built-in labels are used."""
    old, new = old or {}, new or {}
    return [
        *_fit_changes(old.get("fit_rules"), new.get("fit_rules"), persona_names, dictionary),
        *_knockout_changes(old.get("knockouts"), new.get("knockouts"), persona_names, dictionary),
        *_behaviour_changes(old.get("behaviour_rules"), new.get("behaviour_rules"), dictionary),
        *_threshold_changes(old, new),
        *_sla_changes(old.get("sla"), new.get("sla")),
        *_reason_changes(old.get("reject_reasons"), new.get("reject_reasons"), "Rejection reason"),
        *_reason_changes(old.get("recycle_reasons"), new.get("recycle_reasons"), "Recycle reason"),
    ]


def grouped(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    """Changes under their section titles, sections in document order, empty ones left out."""
    return [
        (title, [c for c in changes if c.section == key])
        for key, title in SECTION_TITLES.items()
        if any(c.section == key for c in changes)
    ]


def summary(changes: list[Change], limit: int = 3) -> str:
    """A one-line digest for the audit trail: the first few changes and how many more."""
    if not changes:
        return "No changes."
    head = "; ".join(c.text for c in changes[:limit])
    more = len(changes) - limit
    return f"{head}; and {more} more" if more > 0 else head
