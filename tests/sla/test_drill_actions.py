"""The figures of one SDR, one source or one persona, and a drill-down that acts: reassign, export, ages."""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Assignment, Lead, TeamMember
from portal.access import Role, display_name
from tests.factories import LeadFactory, TeamFactory, UserFactory
from tests.sla.conftest import history, recent, refreshed


def url(name: str, **params) -> str:
    return reverse(name) + ("?" + urlencode(params) if params else "")


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- whose figures, and the quota -------------------------------------------------------------------


def test_a_manager_filtering_one_sdr_reads_her_figures_without_the_quota(login, manager, sdr2, figures_data):
    response = login(manager).get(url("sla:dashboard", sdr=sdr2.pk))
    f = response.context["f"]
    assert f["mql"]["delivered"] == 2  # her two MQLs, not the team's six
    assert f["decisions"]["accepted"] == 2 and f["decisions"]["acceptance_rate"] == 1.0
    assert [s["id"] for s in f["sdrs"]] == [sdr2.pk]
    assert f["mql"]["quota"] is None and f["mql"]["quota_rate"] is None
    html = response.content.decode()
    assert 'data-testid="quota-note"' in html and "Quota applies to all leads" in html
    assert 'data-testid="quota-compare"' not in html
    # Her drill-downs keep the filter.
    drill = login(manager).get(url("sla:drill", metric="mqls", sdr=sdr2.pk))
    assert {r["sdr_id"] for r in drill.context["rows"]} == {sdr2.pk}
    assert drill.context["page"].paginator.count == 2


def test_an_sdr_s_own_page_is_never_compared_with_the_organisation_s_quota(login, sdr, figures_data):
    response = login(sdr).get(reverse("sla:dashboard"))
    f = response.context["f"]
    assert f["mql"]["delivered"] == 4
    assert f["mql"]["quota"] is None
    assert "Quota applies to all leads" in response.content.decode()
    assert "sdr" not in response.context["form"].fields  # she cannot look at someone else's page


def test_a_source_or_persona_filter_shows_the_count_without_the_quota(login, manager, figures_data):
    client = login(manager)
    for params in ({"source": "website"}, {"persona": figures_data[0].persona_id or ""}):
        if not params.get("persona", True):
            continue
        f = client.get(url("sla:dashboard", **params)).context["f"]
        assert f["mql"]["quota"] is None and f["mql"]["quota_applies"] is False
    whole = client.get(url("sla:dashboard", team=""))
    assert whole.context["f"]["mql"]["quota"] > 0
    assert whole.context["f"]["mql"]["quota_rate"] is not None
    assert 'data-testid="quota-compare"' in whole.content.decode()


def test_an_unknown_sdr_filter_is_explained_and_ignored(login, manager, figures_data):
    response = login(manager).get(url("sla:dashboard", sdr=999999))
    assert response.status_code == 200
    assert any(m.startswith("SDR:") for m in messages_of(response))
    assert response.context["f"]["mql"]["delivered"] == 6


# --- open MQLs at risk -------------------------------------------------------------------------------


def test_the_at_risk_tile_leads_with_the_overdue_count_in_red(login, manager, agreement, sdr, make_mql):
    make_mql(sdr, timezone.now() - dt.timedelta(days=6), grade="A")  # days past an A lead's target
    refreshed()
    response = login(manager).get(reverse("sla:dashboard"))
    assert response.context["f"]["open_now"]["overdue"] == 1
    html = response.content.decode()
    tile = html[html.index('data-testid="risk-figures"') :]
    overdue = tile.index('data-testid="risk-overdue">1 overdue<')
    assert overdue < tile.index('data-testid="risk-soon"')
    assert 'class="sla-breach" href="' in tile[: overdue + 40]


def test_every_tile_reads_in_plain_words_with_a_help_text(login, manager, figures_data):
    html = login(manager).get(reverse("sla:dashboard")).content.decode()
    assert "MQLs handed to sales" in html and "MQLs delivered" not in html
    for key in ("mqls", "acceptance", "response", "breaches", "risk", "followup"):
        assert f'data-testid="help-{key}"' in html
    assert "Accepted leads followed up in time" in html and "SAL follow-up kept" not in html


# --- reassigning from the drill-down ----------------------------------------------------------------


@pytest.fixture
def open_mqls(agreement, sdr, make_mql):
    leads = [make_mql(sdr, recent(2) + dt.timedelta(minutes=i), grade="C") for i in range(3)]
    refreshed()
    return leads


def reassign(client, leads, to_user, **extra):
    data = {"lead": [lead.pk for lead in leads], "to_user": to_user.pk if to_user else "", **extra}
    return client.post(url("sla:drill_reassign", metric="open_now"), data, follow=True)


def test_a_manager_reassigns_selected_leads_with_who_and_when(login, manager, sdr, sdr2, open_mqls):
    client = login(manager)
    page = client.get(url("sla:drill", metric="open_now"))
    choices = {c["id"]: c for c in page.context["sdr_choices"]}
    assert (choices[sdr.pk]["open"], choices[sdr.pk]["capacity"]) == (3, 50)
    assert f"{display_name(sdr2)} — 0 of {choices[sdr2.pk]['capacity']}" in page.content.decode()
    before = timezone.now()
    response = reassign(client, open_mqls[:2], sdr2)
    assert f"2 leads reassigned to {display_name(sdr2)}." in messages_of(response)
    assert response.redirect_chain[-1][0].startswith(reverse("sla:drill") + "?metric=open_now")
    for lead in open_mqls[:2]:
        lead.refresh_from_db()
        assert lead.owner == sdr2
        log = Assignment.objects.get(lead=lead, reason=Assignment.Reason.REASSIGNED)
        assert (log.from_owner, log.to_owner, log.actor) == (sdr, sdr2, manager)
        assert log.at >= before
    open_mqls[2].refresh_from_db()
    assert open_mqls[2].owner == sdr


def test_an_sdr_at_capacity_is_refused_unless_the_manager_overrides(login, manager, sdr, sdr2, open_mqls):
    TeamMember.objects.filter(user=sdr2).update(capacity=1)
    client = login(manager)
    response = reassign(client, open_mqls[:2], sdr2)
    assert f"1 lead reassigned to {display_name(sdr2)}." in messages_of(response)
    refused = [m for m in messages_of(response) if m.startswith(f"Lead #{open_mqls[1].pk}:")]
    assert refused and "already holds 1 of 1 open leads" in refused[0]
    assert Lead.objects.get(pk=open_mqls[1].pk).owner == sdr
    response = reassign(client, [open_mqls[1]], sdr2, over_capacity="on")
    assert f"1 lead reassigned to {display_name(sdr2)}." in messages_of(response)
    assert Lead.objects.filter(owner=sdr2).count() == 2


def test_an_away_sdr_is_refused(login, manager, sdr, sdr2, open_mqls):
    TeamMember.objects.filter(user=sdr2).update(away_until=timezone.now() + dt.timedelta(days=2))
    client = login(manager)
    page = client.get(url("sla:drill", metric="open_now")).content.decode()
    assert "away until" in page
    response = reassign(client, open_mqls[:1], sdr2, over_capacity="on")
    assert any("is out of office until" in m for m in messages_of(response))
    assert Lead.objects.get(pk=open_mqls[0].pk).owner == sdr
    assert not Assignment.objects.filter(reason=Assignment.Reason.REASSIGNED).exists()


def test_only_the_team_s_manager_and_leaders_may_reassign(login, sdr, sdr2, marketing, open_mqls):
    assert reassign(login(sdr), open_mqls[:1], sdr2).status_code == 403
    other = UserFactory(username="other-manager", roles=[Role.MANAGER])
    TeamFactory(name="Field Sales", manager=other)
    response = reassign(login(other), open_mqls[:1], sdr2)
    assert any("Only the manager of the lead's team or a leader" in m for m in messages_of(response))
    assert Lead.objects.get(pk=open_mqls[0].pk).owner == sdr
    assert "reassign-form" not in login(sdr).get(url("sla:drill", metric="open_now")).content.decode()
    response = reassign(login(marketing), open_mqls[:1], sdr2)
    assert f"1 lead reassigned to {display_name(sdr2)}." in messages_of(response)
    assert Assignment.objects.get(reason=Assignment.Reason.REASSIGNED).actor == marketing


def test_reassigning_without_leads_or_sdr_says_what_is_missing(login, manager, sdr2, open_mqls):
    client = login(manager)
    assert "Select at least one lead to reassign." in messages_of(reassign(client, [], sdr2))
    assert "Choose the SDR to hand the selected leads to." in messages_of(reassign(client, open_mqls[:1], None))
    junk = client.post(url("sla:drill_reassign", metric="open_now"), {"lead": ["1x"], "to_user": sdr2.pk})
    assert junk.status_code == 400


# --- CSV export and the age of a lead in its stage ---------------------------------------------------


def test_the_csv_holds_every_lead_of_the_filter_not_only_the_page(login, manager, agreement, sdr, team):
    for i in range(55):
        lead = LeadFactory(owner=sdr, team=team, grade="C", source="website" if i % 5 else "event")
        history(lead, ("new", recent(2) - dt.timedelta(days=1)), ("mql", recent(2) + dt.timedelta(minutes=i)))
    refreshed()
    client = login(manager)
    page = client.get(url("sla:drill", metric="mqls", source="website"))
    assert page.context["page"].paginator.count == 44 and len(page.context["rows"]) == 44
    response = client.get(page.context["export_url"])
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="sla-mqls-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))))
    assert rows[0][:3] == ["Lead id", "Lead", "E-mail"]
    assert len(rows) == 45  # the header and every website lead
    newest = Lead.objects.filter(source="website").order_by("-pk").first()
    row = next(r for r in rows[1:] if r[0] == str(newest.pk))
    assert row[2] == newest.email and row[4] == "C" and row[9] == "open" and row[12] == display_name(sdr)
    everything = client.get(url("sla:drill_export", metric="mqls"))
    assert len(list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))) == 56


def test_open_for_is_the_lead_s_time_in_its_current_stage(login, manager, agreement, sdr, team):
    lead = LeadFactory(owner=sdr, team=team, grade="C")
    mql_at = timezone.now() - dt.timedelta(days=3, hours=4, minutes=10)
    history(lead, ("new", mql_at - dt.timedelta(days=9)), ("mql", mql_at))
    refreshed()
    response = login(manager).get(url("sla:drill", metric="open_now"))
    html = response.content.decode()
    cell = html[html.index(f'data-testid="open-for-{lead.pk}"') :][:300]
    assert "3 d 4 h" in cell
    assert "still open" not in cell
