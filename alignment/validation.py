"""Validation of an agreement's ``spec``: every problem as a readable message tied to its place.

``validate_spec`` returns ``{path: [message, …]}`` where ``path`` names the place in the spec
("mql_threshold", "fit_rules.2.values", "sla.calendar.time_zone", "grade_bands"). The editor maps
the paths back onto its form fields so each message shows next to the field that caused it; the
propose service refuses any spec with errors. An empty dict means the spec is valid.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from alignment import spec as vocab
from alignment.dictionary import builtin_dictionary

SECTIONS = (
    "fit_rules",
    "knockouts",
    "behaviour_rules",
    "mql_threshold",
    "grade_bands",
    "sla",
    "reject_reasons",
    "recycle_reasons",
)
MAX_POINTS = 1000
MQL_THRESHOLD_RANGE = (1, 1000)
MAX_WINDOW_DAYS = 3650
REASON_CODE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
RULE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

Errors = dict[str, list[str]]


class SpecInvalid(Exception):
    """The spec has problems; ``errors`` maps each place to its messages."""

    def __init__(self, errors: Errors):
        self.errors = errors
        n = sum(len(m) for m in errors.values())
        super().__init__(f"The agreement has {n} problem{'' if n == 1 else 's'}.")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _field_choices(attribute, persona_ids: Iterable[int] | None) -> dict[str, bool] | None:
    """Valid values of a choice attribute (lower-cased → archived?), None when anything goes."""
    if attribute.key == "persona":
        return None if persona_ids is None else {str(p): False for p in persona_ids}
    if attribute.type not in ("choice", "multi_choice"):
        return None
    return {c.value.lower(): c.archived for c in attribute.choices}


class _Collector:
    def __init__(self) -> None:
        self.errors: Errors = defaultdict(list)

    def add(self, path: str, message: str) -> None:
        if message not in self.errors[path]:
            self.errors[path].append(message)


def _check_condition(out: _Collector, path: str, rule: dict, persona_ids, dictionary) -> None:
    """Field, operator and values of a fit rule or a knock-out, against the organisation's dictionary."""
    field = rule.get("field")
    attribute = dictionary.attributes.get(field) if isinstance(field, str) else None
    if attribute is None:
        out.add(f"{path}.field", f"Unknown field '{field}'." if field else "Choose a field.")
        return
    if attribute.archived:
        out.add(f"{path}.field", f"{attribute.label} is archived; restore it on the Data page or drop the rule.")
        return
    operator = vocab.canonical_operator(rule.get("operator"))
    if operator not in vocab.OPERATOR_LABELS:
        out.add(f"{path}.operator", f"Unknown operator '{operator}'." if operator else "Choose an operator.")
        return
    allowed = attribute.operators
    if operator not in allowed:
        names = ", ".join(vocab.OPERATOR_LABELS[o] for o in allowed)
        out.add(
            f"{path}.operator",
            f"'{vocab.OPERATOR_LABELS[operator]}' does not apply to {attribute.label}; use {names}.",
        )
        return
    values = rule.get("values")
    if operator in ("known", "unknown", "is_true", "is_false"):
        return
    if not isinstance(values, list) or not values:
        out.add(f"{path}.values", "Give at least one value.")
        return
    if operator in ("between", "gte", "lte"):
        _check_bounds(out, f"{path}.values", operator, values, attribute)
        return
    if operator == "within_days":
        if len(values) != 1 or not _is_int(values[0]) or not 1 <= values[0] <= MAX_WINDOW_DAYS:
            out.add(f"{path}.values", f"Give one number of days, 1 to {MAX_WINDOW_DAYS}.")
        return
    if operator in ("before", "after"):
        if len(values) != 1 or not isinstance(values[0], str) or not _is_iso_date(values[0]):
            out.add(f"{path}.values", "Give one date as YYYY-MM-DD.")
        return
    if any(not isinstance(v, str | int) or isinstance(v, bool) or str(v).strip() == "" for v in values):
        out.add(f"{path}.values", "Values cannot be empty.")
        return
    lowered = [str(v).strip().lower() for v in values]
    if len(set(lowered)) != len(lowered):
        out.add(f"{path}.values", "A value is listed twice.")
    choices = _field_choices(attribute, persona_ids)
    if choices is not None:
        for value in values:
            archived = choices.get(str(value).strip().lower())
            if field == "persona" and archived is None:
                out.add(f"{path}.values", f"Persona #{value} does not exist or is archived.")
            elif archived is None:
                out.add(f"{path}.values", f"'{value}' is not a known {attribute.label.lower()}.")
            elif archived:
                out.add(f"{path}.values", f"'{value}' is an archived {attribute.label.lower()}.")


def _is_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", text))


def _check_bounds(out: _Collector, path: str, operator: str, values: list, attribute) -> None:
    expected = 2 if operator == "between" else 1
    if len(values) != expected:
        out.add(
            path, "Give two numbers: the lower and the upper bound." if expected == 2 else "Give exactly one number."
        )
        return
    if not all(_is_number(v) for v in values):
        out.add(path, "Values must be numbers.")
        return
    if attribute.builtin and any(v < 0 for v in values):  # counts and amounts of the built-in columns
        out.add(path, f"{attribute.label} cannot be negative.")
    if operator == "between" and values[0] > values[1]:
        out.add(path, f"The lower bound ({values[0]:,}) must not exceed the upper bound ({values[1]:,}).")


def _check_points(out: _Collector, path: str, value) -> None:
    if not _is_int(value):
        out.add(path, "Points must be a whole number.")
    elif abs(value) > MAX_POINTS:
        out.add(path, f"Points must be between -{MAX_POINTS} and {MAX_POINTS}.")


def _check_rule_ids(out: _Collector, spec: dict) -> None:
    """Rule ids anchor comments and merges: unique across every rule list of the spec."""
    seen: dict[str, str] = {}
    for section in ("fit_rules", "knockouts", "behaviour_rules"):
        rules = spec.get(section)
        if not isinstance(rules, list):
            continue
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            rule_id = rule.get("id")
            path = f"{section}.{index}.id"
            if not isinstance(rule_id, str) or not RULE_ID_RE.match(rule_id):
                out.add(path, "Every rule needs an id of letters, digits, '-' or '_' (at most 40).")
            elif rule_id in seen:
                out.add(path, f"Duplicate rule id '{rule_id}' (also used in {seen[rule_id].replace('_', ' ')}).")
            else:
                seen[rule_id] = section


def _check_fit_rules(out: _Collector, rules, persona_ids, dictionary) -> None:
    if not isinstance(rules, list):
        out.add("fit_rules", "Fit rules must be a list.")
        return
    for index, rule in enumerate(rules):
        path = f"fit_rules.{index}"
        if not isinstance(rule, dict):
            out.add(path, "A fit rule must be an object.")
            continue
        _check_condition(out, path, rule, persona_ids, dictionary)
        _check_points(out, f"{path}.points", rule.get("points"))


def _check_knockouts(out: _Collector, rules, persona_ids, dictionary) -> None:
    if not isinstance(rules, list):
        out.add("knockouts", "Knock-outs must be a list.")
        return
    labels: set[str] = set()
    for index, rule in enumerate(rules):
        path = f"knockouts.{index}"
        if not isinstance(rule, dict):
            out.add(path, "A knock-out must be an object.")
            continue
        label = str(rule.get("label") or "").strip()
        if not label:
            out.add(f"{path}.label", "Name the knock-out (e.g. 'Competitor').")
        elif len(label) > 80:
            out.add(f"{path}.label", "Keep the name under 80 characters.")
        elif label.lower() in labels:
            out.add(f"{path}.label", f"Another knock-out is already called '{label}'.")
        labels.add(label.lower())
        _check_condition(out, path, rule, persona_ids, dictionary)


def _check_behaviour_rules(out: _Collector, rules, dictionary) -> None:
    if not isinstance(rules, list):
        out.add("behaviour_rules", "Behaviour rules must be a list.")
        return
    for index, rule in enumerate(rules):
        path = f"behaviour_rules.{index}"
        if not isinstance(rule, dict):
            out.add(path, "A behaviour rule must be an object.")
            continue
        kind = rule.get("kind")
        known = dictionary.kinds.get(kind) if isinstance(kind, str) else None
        if known is None:
            out.add(f"{path}.kind", f"Unknown activity kind '{kind}'." if kind else "Choose an activity kind.")
        elif known.archived:
            out.add(f"{path}.kind", f"{known.label} is archived; restore it on the Data page or drop the rule.")
        _check_points(out, f"{path}.points", rule.get("points"))
        if rule.get("points") == 0:
            out.add(f"{path}.points", "A rule worth 0 points does nothing; remove it instead.")
        cap = rule.get("cap")
        if cap is not None:
            if not _is_int(cap):
                out.add(f"{path}.cap", "The cap must be a whole number (leave it empty for no cap).")
            elif cap < 0:
                out.add(f"{path}.cap", "The cap cannot be negative; it limits the rule's points in either direction.")
            elif cap == 0:
                out.add(f"{path}.cap", "A cap of 0 cancels the rule; leave it empty for no cap.")
        window = rule.get("window_days")
        if not _is_int(window) or window <= 0:
            out.add(f"{path}.window_days", "The window must be at least 1 day.")
        elif window > MAX_WINDOW_DAYS:
            out.add(f"{path}.window_days", f"The window can be at most {MAX_WINDOW_DAYS} days.")
        half_life = rule.get("half_life_days")
        if half_life is not None and (not _is_number(half_life) or half_life <= 0):
            out.add(f"{path}.half_life_days", "The half-life must be more than 0 days (leave it empty for no decay).")


def _check_threshold(out: _Collector, value) -> None:
    low, high = MQL_THRESHOLD_RANGE
    if not _is_int(value):
        out.add("mql_threshold", "The MQL threshold must be a whole number.")
    elif not low <= value <= high:
        out.add("mql_threshold", f"The MQL threshold must be between {low} and {high} (it is {value}).")


def _band_text(band: dict) -> str:
    low, high = band.get("min"), band.get("max")
    if low is None and high is None:
        return "any fit score"
    if low is None:
        return f"{high} and below"
    if high is None:
        return f"{low} and above"
    return f"{low}–{high}"


def _check_grade_bands(out: _Collector, bands) -> None:
    """Four bands A–D on the fit score, A highest, covering every score exactly once."""
    if not isinstance(bands, list):
        out.add("grade_bands", "Grade bands must be a list.")
        return
    by_grade: dict[str, dict] = {}
    shape_ok = True
    for index, band in enumerate(bands):
        path = f"grade_bands.{index}"
        if not isinstance(band, dict):
            out.add(path, "A grade band must be an object.")
            shape_ok = False
            continue
        grade = band.get("grade")
        if grade not in vocab.GRADES:
            out.add(f"{path}.grade", f"Unknown grade '{grade}'; grades are A, B, C and D.")
            shape_ok = False
            continue
        if grade in by_grade:
            out.add(f"{path}.grade", f"Grade {grade} appears twice.")
            shape_ok = False
        by_grade[grade] = band
        for bound in ("min", "max"):
            value = band.get(bound)
            if value is not None and not _is_int(value):
                out.add(f"{path}.{bound}", "Use a whole number, or leave it empty for no limit.")
                shape_ok = False
        low, high = band.get("min"), band.get("max")
        if _is_int(low) and _is_int(high) and low > high:
            out.add(f"{path}.min", f"Grade {grade}: the minimum ({low}) is above the maximum ({high}).")
            shape_ok = False
    for grade in vocab.GRADES:
        if grade not in by_grade:
            out.add("grade_bands", f"Grade {grade} has no band.")
            shape_ok = False
    if not shape_ok:
        return
    ordered = [by_grade[g] for g in vocab.GRADES]  # A (highest) … D (lowest)
    if ordered[0].get("max") is not None:
        out.add("grade_bands", f"Fit scores above {ordered[0]['max']} fall in no band: leave A's maximum empty.")
    if ordered[-1].get("min") is not None:
        out.add("grade_bands", f"Fit scores below {ordered[-1]['min']} fall in no band: leave D's minimum empty.")
    for upper, lower in zip(ordered, ordered[1:], strict=False):
        u_min, l_max = upper.get("min"), lower.get("max")
        names = f"{upper['grade']} ({_band_text(upper)}) and {lower['grade']} ({_band_text(lower)})"
        if u_min is None or l_max is None or l_max >= u_min:
            out.add("grade_bands", f"Bands {names} overlap.")
        elif l_max + 1 < u_min:
            gap = f"{l_max + 1}" if l_max + 1 == u_min - 1 else f"{l_max + 1} to {u_min - 1}"
            out.add("grade_bands", f"Fit scores {gap} fall between bands {names}: no grade covers them.")


def _check_sla(out: _Collector, sla) -> None:
    if not isinstance(sla, dict):
        out.add("sla", "SLA terms must be an object.")
        return
    hours = sla.get("response_hours")
    if not isinstance(hours, dict):
        out.add("sla.response_hours", "Give a response target per grade.")
    else:
        for grade in vocab.GRADES:
            value = hours.get(grade)
            if not _is_number(value) or value <= 0:
                out.add(f"sla.response_hours.{grade}", "The response target must be more than 0 business hours.")
            elif value > 1000:
                out.add(f"sla.response_hours.{grade}", "The response target can be at most 1,000 business hours.")
    calendar = sla.get("calendar")
    if not isinstance(calendar, dict):
        out.add("sla.calendar", "Give the business calendar.")
    else:
        _check_calendar(out, calendar)
    followup = sla.get("followup")
    if not isinstance(followup, dict):
        out.add("sla.followup", "Give the SAL follow-up terms.")
    else:
        attempts, days = followup.get("attempts"), followup.get("days")
        if not _is_int(attempts) or not 1 <= attempts <= 50:
            out.add("sla.followup.attempts", "Follow-up attempts must be between 1 and 50.")
        if not _is_int(days) or not 1 <= days <= 365:
            out.add("sla.followup.days", "The follow-up period must be between 1 and 365 days.")
    quota = sla.get("monthly_mql_quota")
    if not _is_int(quota) or quota < 0:
        out.add("sla.monthly_mql_quota", "The monthly MQL quota must be a whole number, 0 or more.")


def _check_calendar(out: _Collector, calendar: dict) -> None:
    tz = calendar.get("time_zone")
    try:
        if not isinstance(tz, str) or not tz:
            raise zoneinfo.ZoneInfoNotFoundError
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        out.add("sla.calendar.time_zone", f"Unknown time zone '{tz}'; use a name such as Europe/London.")
    days = calendar.get("working_days")
    if not isinstance(days, list) or not days:
        out.add("sla.calendar.working_days", "Pick at least one working day.")
    elif not all(_is_int(d) and 0 <= d <= 6 for d in days) or len(set(days)) != len(days):
        out.add("sla.calendar.working_days", "Working days are Monday (0) to Sunday (6), each once.")
    start, end = calendar.get("start"), calendar.get("end")
    for key, value in (("start", start), ("end", end)):
        if not isinstance(value, str) or not TIME_RE.match(value):
            out.add(f"sla.calendar.{key}", "Use a time such as 09:00.")
    both_valid = isinstance(start, str) and isinstance(end, str) and TIME_RE.match(start) and TIME_RE.match(end)
    if both_valid and start >= end:
        out.add("sla.calendar.end", f"The working day must end after it starts ({start} → {end}).")
    holidays = calendar.get("holidays", [])
    if not isinstance(holidays, list):
        out.add("sla.calendar.holidays", "Holidays must be a list of dates.")
        return
    seen: set[str] = set()
    for value in holidays:
        try:
            dt.date.fromisoformat(str(value))
            if not re.match(r"^\d{4}-\d{2}-\d{2}$", str(value)):
                raise ValueError
        except ValueError:
            out.add("sla.calendar.holidays", f"'{value}' is not a date; use YYYY-MM-DD.")
            continue
        if value in seen:
            out.add("sla.calendar.holidays", f"{value} is listed twice.")
        seen.add(value)


def _check_reasons(out: _Collector, section: str, reasons) -> None:
    noun = "rejection" if section == "reject_reasons" else "recycle"
    if not isinstance(reasons, list):
        out.add(section, f"{noun.capitalize()} reasons must be a list.")
        return
    if not reasons:
        out.add(section, f"Give at least one {noun} reason: SDRs must pick one.")
    codes: set[str] = set()
    for index, reason in enumerate(reasons):
        path = f"{section}.{index}"
        if not isinstance(reason, dict):
            out.add(path, "A reason must be an object.")
            continue
        code = reason.get("code")
        if not isinstance(code, str) or not REASON_CODE_RE.match(code):
            out.add(f"{path}.code", "Use lower-case letters, digits and underscores (at most 40), e.g. no_budget.")
        elif code in codes:
            out.add(f"{path}.code", f"Duplicate reason code '{code}'.")
        else:
            codes.add(code)
        label = str(reason.get("label") or "").strip()
        if not label:
            out.add(f"{path}.label", "Give the reason a label SDRs will recognise.")
        elif len(label) > 80:
            out.add(f"{path}.label", "Keep the label under 80 characters.")


def validate_spec(spec, *, persona_ids: Iterable[int] | None = None, dictionary=None) -> Errors:
    """Every problem of ``spec`` by place. ``persona_ids`` (active personas) enables persona checks;
    ``dictionary`` (``alignment.dictionary.load_dictionary()``) is the organisation's vocabulary,
    the built-in one when not given."""
    dictionary = dictionary or builtin_dictionary()
    out = _Collector()
    if not isinstance(spec, dict):
        out.add("", "The agreement must be an object.")
        return dict(out.errors)
    persona_ids = list(persona_ids) if persona_ids is not None else None
    for key in spec:
        if key not in SECTIONS:
            out.add("", f"Unknown section '{key}'.")
    for key in SECTIONS:
        if key not in spec:
            out.add(key, "This section is missing.")
    if out.errors:
        return dict(out.errors)
    _check_rule_ids(out, spec)
    _check_fit_rules(out, spec["fit_rules"], persona_ids, dictionary)
    _check_knockouts(out, spec["knockouts"], persona_ids, dictionary)
    _check_behaviour_rules(out, spec["behaviour_rules"], dictionary)
    _check_threshold(out, spec["mql_threshold"])
    _check_grade_bands(out, spec["grade_bands"])
    _check_sla(out, spec["sla"])
    _check_reasons(out, "reject_reasons", spec["reject_reasons"])
    _check_reasons(out, "recycle_reasons", spec["recycle_reasons"])
    return dict(out.errors)


def ensure_valid(spec, *, persona_ids: Iterable[int] | None = None, dictionary=None) -> None:
    """Raise ``SpecInvalid`` when the spec has any problem."""
    errors = validate_spec(spec, persona_ids=persona_ids, dictionary=dictionary)
    if errors:
        raise SpecInvalid(errors)


def error_messages(errors: Errors) -> list[str]:
    """All messages, flattened, for a summary box."""
    return [message for messages in errors.values() for message in messages]
