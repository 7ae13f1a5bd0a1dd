"""What "converted" means for evidence, suggestions and scorecards: one organisation-wide choice.

A lead converted when it reached SQL (or won), when it was won, or when a yes/no attribute of the
organisation's own data (an imported "Converted" column, say) is true. Every panel and the insights
API state which definition they used, with ``describe``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q

from leads.models import InsightSettings, Lead, Stage, Transition

__all__ = [
    "Outcome",
    "can_edit_outcome",
    "converted_condition",
    "converted_leads",
    "current_outcome",
    "outcome_choices",
    "outcome_set",
    "parse_outcome",
]

SQL_OR_WON = "sql"
WON = "won"
ATTRIBUTE_PREFIX = "attribute:"


@dataclass(frozen=True)
class Outcome:
    """A parsed definition of conversion: ``sql``, ``won`` or ``attribute:<key>``."""

    code: str
    label: str

    @property
    def attribute(self) -> str | None:
        return self.code[len(ATTRIBUTE_PREFIX) :] if self.code.startswith(ATTRIBUTE_PREFIX) else None

    def describe(self) -> str:
        return f"converted = {self.label}"


def _yes_no_attributes() -> list[tuple[str, str]]:
    """Yes/no attributes of the organisation's data dictionary, when it has any."""
    try:
        from alignment.models import Attribute
    except ImportError:  # an installation without a data dictionary offers the stages only
        return []
    rows = Attribute.objects.filter(type="yes_no", archived=False, object="lead").order_by("label")
    return [(a.key, a.label) for a in rows]


def outcome_choices() -> list[tuple[str, str]]:
    """The definitions an organisation may choose from, as (code, label)."""
    choices = [(SQL_OR_WON, "reached SQL or won"), (WON, "won")]
    choices += [(f"{ATTRIBUTE_PREFIX}{key}", f"“{label}” is yes") for key, label in _yes_no_attributes()]
    return choices


def parse_outcome(raw: str | None) -> Outcome:
    """The outcome a code names; ``ValueError`` with a readable message for an unknown one."""
    code = (raw or "").strip() or current_outcome().code
    labels = dict(outcome_choices())
    if code not in labels:
        known = ", ".join(c for c, _ in outcome_choices())
        raise ValueError(f"Unknown outcome “{code}”. Use one of: {known}.")
    return Outcome(code=code, label=labels[code])


def current_outcome() -> Outcome:
    """The organisation's chosen definition (reached SQL or won until someone chooses otherwise)."""
    code = InsightSettings.objects.filter(pk=1).values_list("converted", flat=True).first() or SQL_OR_WON
    labels = dict(outcome_choices())
    if code not in labels:  # the attribute it named was archived: fall back, never fail a panel
        code = SQL_OR_WON
    return Outcome(code=code, label=labels[code])


def converted_condition(outcome: Outcome, lead_ref: str = "pk") -> Q | Exists:
    """A condition on Lead rows (or on rows whose ``lead_ref`` is a lead id) that they converted."""
    if outcome.attribute:
        prefix = "" if lead_ref == "pk" else "lead__"
        return Q(**{f"{prefix}attributes__{outcome.attribute}": True})
    stages = (Stage.WON,) if outcome.code == WON else (Stage.SQL, Stage.WON)
    return Exists(Transition.objects.filter(lead_id=OuterRef(lead_ref), to_stage__in=stages))


def converted_leads(outcome: Outcome):
    """The ids of every lead that converted (a subquery)."""
    return Lead.objects.filter(converted_condition(outcome)).values("pk")


def can_edit_outcome(user) -> bool:
    """Leaders and admins choose what converted means; everyone else reads it."""
    from portal.access import LEADERS, has_role

    return has_role(user, *LEADERS)


def outcome_set(*, code: str, user) -> Outcome:
    """Record the organisation's definition of converted (who and when are kept on the row)."""
    outcome = parse_outcome(code)
    InsightSettings.objects.update_or_create(pk=1, defaults={"converted": outcome.code, "updated_by": user})
    return outcome
