"""The lifecycle invariant, checked from the database: ``Lead.stage`` is its log's latest ``to_stage``."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery

from leads.models import Lead, Transition


def stage_log_mismatches(*, every_lead_logged: bool = False) -> list[tuple[int, str, str | None]]:
    """``(lead id, stage, latest logged stage)`` of the leads whose stage is not their log's latest.

    Leads a test built directly in some stage with no transition at all are skipped, unless
    ``every_lead_logged`` (suites where only product code creates leads).
    """
    latest = Transition.objects.filter(lead=OuterRef("pk")).order_by("-at", "-id").values("to_stage")[:1]
    rows = Lead.objects.annotate(logged=Subquery(latest)).values_list("id", "stage", "logged").order_by("id")
    return [
        (lead_id, stage, logged)
        for lead_id, stage, logged in rows
        if stage != logged and (logged is not None or every_lead_logged)
    ]
