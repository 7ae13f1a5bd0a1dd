"""The inbox rows' HTML, built with ``format_html`` rather than the template engine.

The inbox is the SDRs' main screen; its first page must be served in well under 50 ms with 20
SDRs loading it at once on a 2-core box (issue 5). Django's template engine costs about 5 µs per
``{{ variable }}`` and more per ``{% if %}``; a row has some sixty of them (cells, three reason
chips, four action buttons), so 50 rows took 20–30 ms, two thirds of the whole request. The same
markup as format strings costs under a millisecond. The rest of the page (tabs, filters, empty
states) stays in ``templates/leads/_queue.html`` and ``inbox.html``.

``format_html`` escapes every value it is given, as the template engine's autoescaping does;
only fragments built by ``format_html`` themselves (already safe) go in unescaped. Dates are
formatted by Django's own formatters in the current time zone and language, as the template did.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from alignment import spec as vocab
from portal.access import display_name

# The whitespace mirrors the former template, so the page's HTML did not change byte for byte.
ROW = """
<tr id="lead-row-{pk}" class="inbox-row" data-lead-id="{pk}" data-href="{detail}" tabindex="-1" aria-selected="false">
  <td class="inbox-check"><input class="form-check-input" type="checkbox" name="lead_ids" value="{pk}" form="bulk-form" aria-label="Select {name}"></td>
  <td class="inbox-name">
    <a href="{detail}" class="fw-semibold inbox-open" tabindex="-1">{name}</a>
    <div class="small text-secondary text-truncate">{title}</div>
    <div class="small text-secondary d-md-none">{company}</div>
  </td>
  <td class="small d-none d-md-table-cell inbox-company">{company_or_dash}{country}
    <div class="text-secondary text-truncate" title="Persona">{persona}</div></td>
  <td>{grade}<span class="d-sm-none small text-secondary d-block">{score}</span></td>
  <td class="text-end fw-semibold d-none d-sm-table-cell">{score}</td>
  <td class="text-end small d-none d-lg-table-cell inbox-complete" title="Share of the definition's fields known">{completeness}%</td>
  <td class="small d-none d-lg-table-cell inbox-reasons">
    {reasons}
  </td>
  <td class="small d-none d-xxl-table-cell">{source}</td>
  <td class="small d-none d-md-table-cell text-nowrap" title="MQL since {since}">{age}</td>
  <td class="small text-nowrap"><span class="{sla_css}" data-testid="sla" {sla_title}><i class="bi bi-stopwatch me-1" aria-hidden="true"></i>{sla_label}</span>
    {owner}</td>
  <td class="text-end text-nowrap inbox-actions">
    {actions}
  </td>
</tr>

"""  # noqa: E501 - markup reads best one element a line

COUNTRY = ' <span class="text-secondary">· {}</span>'
PERSONA = '<i class="bi bi-person-badge me-1" aria-hidden="true"></i>{}'
GRADE = '<span class="badge grade-{grade}" title="Grade {grade}: fit {fit} (engagement not counted) · score {score} = fit + engagement">{grade}</span>'  # noqa: E501
REASON = '<span class="reason-chip" title="{}"><strong>+{}</strong> {}</span>'
NO_REASON = mark_safe('<span class="text-secondary">—</span>')
SLA_TITLE = 'title="Due {} · {}% of the business-time budget used"'
OWNER = '<div class="text-secondary">{}</div>'

REASSIGN = """
      <button type="button" class="btn btn-sm btn-outline-secondary" data-action="reassign" data-url="{reassign}?ctx=row&amp;tab={tab}" title="Reassign"><i class="bi bi-person-gear" aria-hidden="true"></i><span class="visually-hidden">Reassign {name}</span></button>
    """  # noqa: E501
CLAIM = """<button type="button" class="btn btn-sm btn-outline-primary" hx-post="{claim}" hx-vals='{{"ctx": "row"}}' data-action="claim" title="Claim: make it yours">Claim</button>"""  # noqa: E501
WORK = """
      {claim}
      <button type="button" class="btn btn-sm btn-success" hx-post="{accept}" hx-vals='{{"ctx": "row"}}' hx-disabled-elt="this" data-action="accept" title="Accept (a)"><i class="bi bi-check-lg" aria-hidden="true"></i><span class="visually-hidden">Accept {name}</span></button>
      <button type="button" class="btn btn-sm btn-outline-secondary" data-action="recycle" data-url="{recycle}?ctx=row" title="Recycle (r)"><i class="bi bi-arrow-repeat" aria-hidden="true"></i><span class="visually-hidden">Recycle {name}</span></button>
      <button type="button" class="btn btn-sm btn-outline-danger" data-action="reject" data-url="{reject}?ctx=row" title="Reject (x)"><i class="bi bi-x-lg" aria-hidden="true"></i><span class="visually-hidden">Reject {name}</span></button>
    """  # noqa: E501


SOURCES = dict(vocab.SOURCES)


# The Accepted tab: an SAL converts (or goes back to nurture), an SQL closes. Disqualifying stays on
# the lead page: a third button would push the row past the table's width.
ACCEPTED_WORK = {
    "sal": """
      <button type="button" class="btn btn-sm btn-outline-primary" data-action="attempt" data-url="{attempt}?ctx=row&amp;tab=accepted" title="Log a follow-up attempt (f)"><i class="bi bi-telephone-outbound" aria-hidden="true"></i><span class="visually-hidden">Log a follow-up attempt on {name}</span></button>
      <button type="button" class="btn btn-sm btn-primary" data-action="convert" data-url="{convert}?ctx=row&amp;tab=accepted" title="Convert to SQL (c)"><i class="bi bi-graph-up-arrow" aria-hidden="true"></i><span class="visually-hidden">Convert {name} to SQL</span></button>
      <button type="button" class="btn btn-sm btn-outline-secondary" data-action="recycle" data-url="{recycle}?ctx=row" title="Recycle (r)"><i class="bi bi-arrow-repeat" aria-hidden="true"></i><span class="visually-hidden">Recycle {name}</span></button>
    """,  # noqa: E501
    "sql": """
      <button type="button" class="btn btn-sm btn-success" data-action="won" data-url="{won}?ctx=row" title="Mark as won (w)"><i class="bi bi-trophy" aria-hidden="true"></i><span class="visually-hidden">Mark {name} as won</span></button>
      <button type="button" class="btn btn-sm btn-outline-danger" data-action="lost" data-url="{lost}?ctx=row" title="Mark as lost (l)"><i class="bi bi-x-circle" aria-hidden="true"></i><span class="visually-hidden">Mark {name} as lost</span></button>
    """,  # noqa: E501
}
STAGE = '<div class="text-secondary"><span class="badge stage-badge stage-{stage}">{label}</span>{amount}{owner}</div>'
FOLLOWUP = '<div class="{css} text-wrap" data-testid="followup" title="Follow-up attempts since acceptance · due {due}">{label} · due {due_short}</div>'  # noqa: E501


def _accepted_line(lead, *, mine: bool, followup=None, now=None) -> str:
    """Under the SLA clock of an Accepted row: the stage, the opportunity, whose lead it is, and for an
    SAL its follow-up attempts against the terms ("2 of 3 attempts · due Thu 5 Mar")."""
    amount = f" ${lead.opportunity_amount:,.0f}" if lead.stage == "sql" and lead.opportunity_amount else ""
    owner = "" if mine or not lead.owner_id else f" · {display_name(lead.owner)}"
    line = format_html(STAGE, stage=lead.stage, label=lead.stage.upper(), amount=amount, owner=owner)
    if followup is None or followup.due_at is None:
        return line
    due = timezone.localtime(followup.due_at)
    return line + format_html(
        FOLLOWUP,
        css=followup.css(now or timezone.now()),
        label=followup.label,
        due=date_format(due, "D j M Y H:i"),
        due_short=date_format(due, "D j M"),
    )


def _or_dash(value) -> str:
    return str(value) if value not in (None, "") else "—"


@lru_cache(maxsize=8192)
def _local_date(value: dt.datetime, fmt: str, zone: str, language: str) -> str:
    """``value`` formatted as the template's ``date`` filter would. Django's formatter
    costs ~40 µs a call (two a row); the same leads come back on every reload of the queue, so the
    strings are kept, keyed on the time zone and language that were active when they were made."""
    return date_format(timezone.localtime(value), fmt)


def render_rows(
    rows, *, tab: str | None, can_claim: bool, user_id: int | None = None, can_reassign: bool = False
) -> SafeString:
    """HTML of inbox rows (``leads.inbox.selectors.InboxRow``) for one tab, as ``_queue.html`` shows them.

    ``user_id`` and ``can_reassign`` matter on the Accepted tab, where a manager sees the team's
    leads: the owner works theirs, a manager reassigns the others.
    """
    since_format = get_format("DATETIME_FORMAT")
    zone, language = timezone.get_current_timezone_name(), translation.get_language()
    reassigns = tab == "team" or (not can_claim and tab == "unassigned")
    html = []
    for row in rows:
        lead, account, sla, urls = row.lead, row.lead.account, row.sla, row.urls
        name = row.name
        company = account.name if account and account.name else ""
        accepted = tab == "accepted"
        mine = lead.owner_id is not None and lead.owner_id == user_id
        if accepted and mine and lead.stage in ACCEPTED_WORK:
            actions = format_html(ACCEPTED_WORK[lead.stage], name=name, **urls)
        elif accepted:
            actions = format_html(REASSIGN, reassign=urls["reassign"], tab=tab, name=name) if can_reassign else ""
        elif reassigns:
            actions = format_html(REASSIGN, reassign=urls["reassign"], tab=tab, name=name)
        else:
            claim = format_html(CLAIM, claim=urls["claim"]) if tab == "unassigned" else ""
            actions = format_html(
                WORK, claim=claim, accept=urls["accept"], recycle=urls["recycle"], reject=urls["reject"], name=name
            )
        show_owner = tab == "team" or (tab == "unassigned" and not lead.owner_id)
        since = lead.mql_at or lead.created_at
        reasons = [format_html(REASON, r.full, r.points, r.short) for r in row.reasons]
        if accepted:
            owner = _accepted_line(lead, mine=mine, followup=row.followup)
        elif show_owner:
            owner = format_html(OWNER, display_name(lead.owner) if lead.owner_id else "Unassigned")
        else:
            owner = ""
        html.append(
            format_html(
                ROW,
                pk=lead.pk,
                detail=urls["lead_detail"],
                name=name,
                title=_or_dash(lead.job_title),
                company=company,
                company_or_dash=company or "—",
                country=format_html(COUNTRY, account.country) if account and account.country else "",
                persona=format_html(PERSONA, row.persona) if lead.persona_id else "No persona",
                grade=format_html(GRADE, grade=lead.grade, score=lead.score, fit=lead.fit_score) if lead.grade else "—",
                score=lead.score,
                completeness=lead.completeness,
                reasons=mark_safe("".join(reasons)) if reasons else NO_REASON,  # noqa: S308 - joined format_html output
                source=_or_dash(SOURCES.get(lead.source, lead.source)),
                since=_local_date(since, since_format, zone, language) if since else "",
                age=row.age,
                sla_css=sla.css,
                sla_title=format_html(SLA_TITLE, _local_date(sla.due_at, "D j M H:i", zone, language), sla.used_pct)
                if sla.due_at
                else "",
                sla_label=sla.label,
                owner=owner,
                actions=actions,
            )
        )
    return mark_safe("".join(html))  # noqa: S308 - a join of format_html output, every value escaped there
