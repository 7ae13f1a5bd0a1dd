"""What "converted" means for evidence, suggestions and scorecards: one organisation-wide choice.

A lead converted when it reached SQL (or won), when it was won, or when a yes/no attribute of the
organisation's own data (an imported "Converted" column, say) is true. Every panel and the insights
API state which definition they used, with ``describe``. Leaders and admins choose it on the Data
page, where each change is listed with the dictionary's own changes (who and when).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse

from alignment.models import DictionaryChange
from leads.models import InsightSettings, Lead, Stage, Transition

__all__ = [
    "Outcome",
    "converted_condition",
    "converted_leads",
    "current_outcome",
    "outcome_api_fields",
    "outcome_choices",
    "outcome_set",
    "parse_outcome",
]

SQL_OR_WON = "sql"
WON = "won"
ATTRIBUTE_PREFIX = "attribute:"
SUBJECT = "converted"  # the DictionaryChange subject of every change of the definition


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


def current_outcome(choices: list[tuple[str, str]] | None = None) -> Outcome:
    """The organisation's chosen definition (reached SQL or won until someone chooses otherwise);
    ``choices``, when the caller already read ``outcome_choices``, saves reading them again."""
    code = InsightSettings.objects.filter(pk=1).values_list("converted", flat=True).first() or SQL_OR_WON
    labels = dict(outcome_choices() if choices is None else choices)
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


def outcome_set(*, code: str, user) -> Outcome:
    """Record the organisation's definition of converted: on the settings row and, when it changes,
    as a change of the Data page (who, when, from what to what)."""
    outcome = parse_outcome(code)
    with transaction.atomic():
        row, _ = InsightSettings.objects.select_for_update().get_or_create(pk=1)
        before = current_outcome()
        if row.converted == outcome.code and before.code == outcome.code:
            return outcome
        row.converted, row.updated_by = outcome.code, user if user is not None and user.is_authenticated else None
        row.save(update_fields=["converted", "updated_by", "updated_at"])
        DictionaryChange.objects.create(
            actor=row.updated_by,
            action="outcome",
            subject=SUBJECT,
            summary=f"Converted now means {outcome.label} (was {before.label}).",
            details={"from": before.code, "to": outcome.code},
        )
    return outcome


def outcome_api_fields(outcome: Outcome, request) -> dict:
    """What an insights API response says of its outcome: the code, the definition in words, and
    where the organisation's definition is chosen."""
    return {
        "outcome": outcome.code,
        "outcome_definition": outcome.describe(),
        "outcome_defined_at": request.build_absolute_uri(reverse("leads:data") + "#converted"),
    }
