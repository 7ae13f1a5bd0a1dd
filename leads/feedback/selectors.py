"""Reads of the rejected-leads page: what sales sent back to marketing, and why."""

from __future__ import annotations

from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery

from leads.models import Lead, Note, Stage, Transition


def rejected_leads() -> QuerySet[Lead]:
    """Leads in ``rejected``, newest rejection first, each with its rejection (reason, note, who,
    when) annotated from the log and its notes prefetched (the answers)."""
    last_reject = Transition.objects.filter(lead=OuterRef("pk"), to_stage=Stage.REJECTED).order_by("-at", "-id")
    return (
        Lead.objects.filter(stage=Stage.REJECTED)
        .select_related("account", "team")
        .annotate(
            rejected_at=Subquery(last_reject.values("at")[:1]),
            reject_reason=Subquery(last_reject.values("reason_code")[:1]),
            reject_note=Subquery(last_reject.values("note")[:1]),
            rejected_by_id=Subquery(last_reject.values("actor_id")[:1]),
        )
        .prefetch_related(Prefetch("notes", queryset=Note.objects.select_related("author").order_by("created_at")))
        .order_by(F("rejected_at").desc(nulls_last=True), "-id")
    )
