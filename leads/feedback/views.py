"""Rejected leads back to marketing: the reasons and notes, an answer, a return to nurture."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from leads.feedback.selectors import rejected_leads
from leads.inbox import services
from leads.inbox.selectors import reason_words
from leads.models import Lead
from portal.access import Role, has_role, role_required
from portal.params import page_number


@role_required(Role.MARKETING, Role.SALES)
def rejected_list(request: HttpRequest) -> HttpResponse:
    """Every rejected lead with its reason, the SDR's note and the answers; marketing acts on them."""
    page = Paginator(rejected_leads(), 25).get_page(page_number(request))
    leads = list(page.object_list)
    words = reason_words() if any(lead.reject_reason for lead in leads) else None
    people = get_user_model().objects.in_bulk({lead.rejected_by_id for lead in leads if lead.rejected_by_id})
    for lead in leads:
        # The words of the signed version in force when the SDR rejected it (never a draft's).
        lead.reason_label = words.label(lead.reject_reason, at=lead.rejected_at) if lead.reject_reason else "—"
        lead.rejected_by = people.get(lead.rejected_by_id)
    return render(
        request,
        "leads/rejected_list.html",
        {"page": page, "leads": leads, "can_act": has_role(request.user, Role.MARKETING)},
    )


def _marketing_answers(request: HttpRequest, pk: int, write, success: str) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    try:
        write(lead_id=lead.pk, user=request.user)
    except services.LeadError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success.format(lead=lead))
    return redirect(f"{reverse('leads:rejected_list')}#lead-{lead.pk}")


@require_POST
@role_required(Role.MARKETING)
def rejected_answer(request: HttpRequest, pk: int) -> HttpResponse:
    body = request.POST.get("body", "")
    return _marketing_answers(
        request,
        pk,
        lambda **who: services.rejection_answer(body=body, **who),
        "Answer posted on {lead}; the SDR who rejected it was told.",
    )


@require_POST
@role_required(Role.MARKETING)
def rejected_nurture(request: HttpRequest, pk: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _marketing_answers(
        request,
        pk,
        lambda **who: services.lead_return_to_nurture(note=note, **who),
        "{lead} is back in nurture; the SDR who rejected it was told.",
    )
