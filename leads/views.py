from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from leads.filters import LeadFilter
from leads.models import Lead
from leads.selectors import latest_transitions, stage_counts
from portal.access import EVERYONE, role_required


@role_required(*EVERYONE)
def overview(request: HttpRequest) -> HttpResponse:
    """What exists for everyone: leads by stage and the latest lifecycle moves."""
    stages = stage_counts()
    return render(
        request,
        "leads/overview.html",
        {
            "stages": stages,
            "total": sum(s["count"] for s in stages),
            "transitions": latest_transitions(),
        },
    )


@role_required(*EVERYONE)
def lead_list(request: HttpRequest) -> HttpResponse:
    queryset = Lead.objects.select_related("account", "owner", "persona").order_by("-updated_at", "-id")
    lead_filter = LeadFilter(request.GET, queryset=queryset)
    page = Paginator(lead_filter.qs, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "leads/lead_list.html",
        {"filter": lead_filter, "page": page, "query": query.urlencode()},
    )


@role_required(*EVERYONE)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead.objects.select_related("account", "owner", "persona", "scored_version"), pk=pk)
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "transitions": lead.transitions.select_related("actor", "agreement_version").order_by("-at", "-id"),
            "activities": lead.activities.order_by("-occurred_at", "-id")[:50],
        },
    )
