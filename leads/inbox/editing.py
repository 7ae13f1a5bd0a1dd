"""Corrections of a lead's own fields on its page: who may make them, how they are recorded.

A correction is not a lifecycle move: it writes the changed columns, one ``LeadEdit`` row with
each field's old and new value (who and when), and rescores the lead once the transaction commits,
since the agreement's fit rules read these fields.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from leads.inbox.services import LeadError
from leads.models import Lead, LeadEdit
from leads.scoring.rescoring import rescore_leads_later
from portal.access import LEADERS, Role, has_role, is_admin

# The lead's own fields a person may correct; scores, stage, owner and team have their own paths.
EDITABLE_FIELDS = (
    *("first_name", "last_name", "email", "job_title", "seniority", "department", "phone"),
    *("budget", "authority", "need", "timeline", "campaign"),
)


def may_edit(user, lead: Lead) -> bool:
    """Its owner, the manager of its team, a marketing or sales leader (and admins)."""
    if is_admin(user) or lead.owner_id == user.id or has_role(user, *LEADERS):
        return True
    return has_role(user, Role.MANAGER) and lead.team_id is not None and lead.team.manager_id == user.id


def lead_correct(*, lead_id: int, user: User, data: dict, now: dt.datetime | None = None) -> LeadEdit | None:
    """Write the fields of ``data`` that differ from the lead's; None when nothing changed."""
    now = now or timezone.now()
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise LeadError(f"These fields cannot be corrected here: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        lead = Lead.objects.select_for_update(of=("self",)).select_related("team").filter(pk=lead_id).first()
        if lead is None:
            raise LeadError("This lead no longer exists.")
        if not may_edit(user, lead):
            raise LeadError("Only the lead's owner, its team's manager or a leader can correct it.")
        changes = {name: [getattr(lead, name), value] for name, value in data.items() if getattr(lead, name) != value}
        if not changes:
            return None
        if "email" in changes:
            email = changes["email"][1]
            taken = Lead.objects.annotate(e=Lower("email")).filter(e=email.lower()).exclude(pk=lead.pk).exists()
            if taken:
                raise LeadError(f"Another lead already has this e-mail ({email}); a lead is found by its e-mail.")
        values = {name: new for name, (_, new) in changes.items()}
        if "email" in values:
            values["email_domain"] = values["email"].rpartition("@")[2].lower()
        Lead.objects.filter(pk=lead.pk).update(**values, updated_at=now)
        edit = LeadEdit.objects.create(lead=lead, actor=user, at=now, changes=changes)
        rescore_leads_later([lead.pk])
    return edit
