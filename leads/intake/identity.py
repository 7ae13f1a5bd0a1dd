"""Which lead a row means: by ``external_id`` (the source system's id) or by e-mail.

Writes key leads by e-mail (``leads.intake.writes``); ``resolve_identities`` gives rows that name
a known lead by its external id that lead's e-mail first, and refuses rows it cannot place.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from django.db.models.functions import Lower

from leads.models import Lead


def resolve_identities(rows: Sequence[MutableMapping[str, Any]]) -> dict[int, dict[str, list[str]]]:
    """Errors by row position; the other rows all carry ``email`` afterwards (two queries).

    A known external id names its lead (its e-mail is filled in; a different e-mail is refused).
    An unknown external id with an e-mail creates the lead or gives the e-mail's lead that id,
    unless that lead already has another one.
    """
    external = {row["external_id"] for row in rows if row.get("external_id")}
    by_external = dict(Lead.objects.filter(external_id__in=external).values_list("external_id", "email"))
    emails = {row["email"].lower() for row in rows if row.get("email")}
    ids_of = dict(
        Lead.objects.annotate(email_ci=Lower("email"))
        .filter(email_ci__in=emails)
        .values_list("email_ci", "external_id")
    )
    errors: dict[int, dict[str, list[str]]] = {}
    claimed: dict[str, str] = {}  # new external id → the e-mail an earlier row gave it
    for index, row in enumerate(rows):
        external_id, email = row.get("external_id"), row.get("email")
        if external_id and external_id in by_external:
            stored = by_external[external_id]
            if email and email.lower() != stored.lower():
                errors[index] = {"external_id": [f"external_id {external_id} is the lead {stored}, not {email}."]}
            else:
                row["email"] = stored
        elif external_id:
            if not email:
                message = f"No lead has external_id {external_id}; give its email to create it."
                errors[index] = {"external_id": [message]}
            elif ids_of.get(email.lower()) not in (None, external_id):
                errors[index] = {"external_id": [f"The lead {email} has external_id {ids_of[email.lower()]}."]}
            elif claimed.setdefault(external_id, email.lower()) != email.lower():
                errors[index] = {"external_id": [f"external_id {external_id} is given to two e-mail addresses."]}
        elif not email:
            errors[index] = {"email": ["Give the lead's email or its external_id."]}
    return errors
