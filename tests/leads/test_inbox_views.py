"""The SDR inbox and the lead page: who sees what, queue order, filters, pages, query counts, htmx."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from alignment.calendar import BusinessCalendar
from alignment.spec import reason_choices
from leads.inbox.selectors import InboxTab, decode_cursor, sla_clock, viewer_for
from leads.inbox.services import lead_accept
from leads.models import Lead, Note, Stage, TeamMember, Transition
from portal.access import Role
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    AgreementVersionFactory,
    LeadFactory,
    MqlFactory,
    PersonaFactory,
    TeamFactory,
    TransitionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def version(db):
    return AgreementVersionFactory()


def _row_ids(response) -> list[int]:
    return [row.lead.pk for row in response.context["page"].rows]


# --- access ---------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client, team):
    lead = MqlFactory(team=team)
    for url in (
        reverse("leads:inbox"),
        reverse("leads:lead_detail", args=[lead.pk]),
        reverse("leads:recycle", args=[lead.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = client.post(reverse("leads:accept", args=[lead.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_inbox_is_for_sdrs_and_managers(login, version, sdr, manager, marketing, sales, outsider, admin_user):
    url = reverse("leads:inbox")
    assert login(sdr).get(url).status_code == 200
    assert login(manager).get(url).status_code == 200
    assert login(admin_user).get(url).status_code == 200
    for user in (marketing, sales, outsider):
        assert login(user).get(url).status_code == 403, user.username


def test_only_managers_get_the_team_tab(login, version, sdr, manager):
    sdr_page = login(sdr).get(reverse("leads:inbox"))
    assert [t[0] for t in sdr_page.context["tabs"]] == [InboxTab.MINE, InboxTab.UNASSIGNED, InboxTab.ACCEPTED]
    assert login(sdr).get(reverse("leads:inbox") + "?tab=team").status_code == 403
    manager_page = login(manager).get(reverse("leads:inbox") + "?tab=team")
    assert manager_page.status_code == 200
    assert [t[0] for t in manager_page.context["tabs"]] == list(InboxTab.ALL)


def test_every_role_reads_a_lead_but_outsiders_do_not(login, version, team, sdr, manager, marketing, sales, outsider):
    lead = MqlFactory(team=team)
    url = reverse("leads:lead_detail", args=[lead.pk])
    for user in (sdr, manager, marketing, sales):
        assert login(user).get(url).status_code == 200, user.username
    assert login(outsider).get(url).status_code == 403


def test_leaders_cannot_act_on_leads(login, version, team, marketing, sales):
    lead = MqlFactory(team=team)
    for user in (marketing, sales):
        assert login(user).post(reverse("leads:accept", args=[lead.pk])).status_code == 403
        assert login(user).get(reverse("leads:reject", args=[lead.pk])).status_code == 403
        assert login(user).post(reverse("leads:claim_next")).status_code == 403
    assert not Transition.objects.filter(lead=lead, to_stage=Stage.SAL).exists()


def test_sdr_cannot_act_on_another_sdrs_lead_through_the_view(login, version, team, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr2)

    response = login(sdr).post(reverse("leads:accept", args=[lead.pk]), {"ctx": "row"}, **HTMX)

    assert response.status_code == 409
    assert b"belongs to" in response.content
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_only_the_teams_manager_may_open_the_reassign_form(login, version, team, sdr, manager):
    lead = MqlFactory(team=team, owner=sdr)
    other = UserFactory(username="boss2", roles=[Role.MANAGER])
    url = reverse("leads:reassign", args=[lead.pk])
    assert login(sdr).get(url).status_code == 403
    assert login(other).get(url).status_code == 403
    assert login(manager).get(url).status_code == 200


# --- the queue ------------------------------------------------------------------------------------


def test_queue_is_sorted_by_sla_due_time_then_score(login, version, team, sdr):
    now = timezone.now()
    late_low = MqlFactory(team=team, owner=sdr, sla_due_at=now + dt.timedelta(hours=5), fit_score=10)
    soon_low = MqlFactory(team=team, owner=sdr, sla_due_at=now + dt.timedelta(hours=1), fit_score=10)
    soon_high = MqlFactory(team=team, owner=sdr, sla_due_at=now + dt.timedelta(hours=1), fit_score=40)
    no_sla = MqlFactory(team=team, owner=sdr, sla_due_at=None)
    LeadFactory(team=team, owner=sdr, stage=Stage.SAL)  # not in the queue

    response = login(sdr).get(reverse("leads:inbox"))

    assert _row_ids(response) == [soon_high.pk, soon_low.pk, late_low.pk, no_sla.pk]


def test_tabs_split_mine_from_unassigned(login, version, team, sdr, sdr2):
    mine = MqlFactory(team=team, owner=sdr)
    free = MqlFactory(team=team, owner=None)
    MqlFactory(team=team, owner=sdr2)

    client = login(sdr)
    assert _row_ids(client.get(reverse("leads:inbox"))) == [mine.pk]
    unassigned = client.get(reverse("leads:inbox") + "?tab=unassigned")
    assert _row_ids(unassigned) == [free.pk]
    assert {k: n for k, _, n in unassigned.context["tabs"]} == {"mine": "1", "unassigned": "1", "accepted": "0"}


def test_managers_team_tab_shows_every_owner(login, version, team, manager, sdr, sdr2):
    leads = [MqlFactory(team=team, owner=sdr), MqlFactory(team=team, owner=sdr2), MqlFactory(team=team)]
    response = login(manager).get(reverse("leads:inbox") + "?tab=team")
    assert sorted(_row_ids(response)) == sorted(x.pk for x in leads)


def test_filters_narrow_the_queue(login, version, team, sdr):
    persona = PersonaFactory(name="Marketing director")
    match = MqlFactory(
        team=team,
        owner=sdr,
        grade="A",
        persona=persona,
        source="webinar",
        account=AccountFactory(country="DE", name="Zeppelin GmbH"),
    )
    MqlFactory(team=team, owner=sdr, grade="B", source="webinar", account=AccountFactory(country="DE"))
    MqlFactory(team=team, owner=sdr, grade="A", source="website", account=AccountFactory(country="US"))
    client = login(sdr)
    url = reverse("leads:inbox")

    assert _row_ids(client.get(url, {"grade": "A", "country": "DE"})) == [match.pk]
    assert _row_ids(client.get(url, {"persona": persona.pk})) == [match.pk]
    assert _row_ids(client.get(url, {"source": "webinar", "grade": "A"})) == [match.pk]
    assert _row_ids(client.get(url, {"q": "zeppelin"})) == [match.pk]
    empty = client.get(url, {"q": "nobody-matches-this"})
    assert b"No MQL matches these filters" in empty.content


@pytest.mark.parametrize(
    "text", ["Leo Baker", "leo baker", "baker leo", "Baker Acme", "leo.baker@acme.example", "Acme"]
)
def test_search_finds_a_lead_by_full_name_email_or_company(login, version, team, sdr, text):
    leo = MqlFactory(
        team=team,
        owner=sdr,
        first_name="Leo",
        last_name="Baker",
        email="leo.baker@acme.example",
        account=AccountFactory(name="Acme Robotics"),
    )
    MqlFactory(team=team, owner=sdr, first_name="Leo", last_name="Stone", account=AccountFactory(name="Other"))
    MqlFactory(team=team, owner=sdr, first_name="Ann", last_name="Baker", account=AccountFactory(name="Third"))
    client = login(sdr)
    assert _row_ids(client.get(reverse("leads:inbox"), {"q": text})) == [leo.pk]
    listed = client.get(reverse("leads:lead_list"), {"q": text})
    assert [lead.pk for lead in listed.context["page"].object_list] == [leo.pk]


def test_a_bad_filter_value_is_refused_with_a_message_and_the_others_apply(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr, grade="A")
    MqlFactory(team=team, owner=sdr, grade="B")
    response = login(sdr).get(reverse("leads:inbox"), {"grade": "A", "persona": "abc"})
    assert response.status_code == 400
    assert "Persona" in response.content.decode() and 'data-testid="filter-errors"' in response.content.decode()
    assert _row_ids(response) == [lead.pk]


def test_an_unknown_tab_is_refused_with_a_message(login, version, team, sdr):
    response = login(sdr).get(reverse("leads:inbox"), {"tab": "everything"})
    assert response.status_code == 400
    assert "“tab” must be one of" in response.content.decode()


def test_keyset_pages_walk_the_whole_queue_once(login, version, team, sdr):
    now = timezone.now()
    leads = [
        MqlFactory(team=team, owner=sdr, sla_due_at=now + dt.timedelta(hours=i % 4) if i % 5 else None, fit_score=i % 3)
        for i in range(120)
    ]
    client = login(sdr)
    seen, url = [], reverse("leads:inbox")
    params: dict = {}
    while True:
        response = client.get(url, params)
        seen += _row_ids(response)
        cursor = response.context["page"].next_cursor
        if not cursor:
            break
        params = {"after": cursor}
    assert len(seen) == len(leads) == len(set(seen))
    expected = sorted(
        Lead.objects.filter(pk__in=seen),
        key=lambda x: (x.sla_due_at is None, x.sla_due_at or now, -x.score, x.pk),
    )
    assert seen == [x.pk for x in expected]


def test_a_malformed_cursor_shows_the_first_page_and_says_so(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    assert decode_cursor("garbage") is None
    response = login(sdr).get(reverse("leads:inbox"), {"after": "garbage"})
    assert response.status_code == 400 and "link is damaged" in response.content.decode()
    assert _row_ids(response) == [lead.pk]


def test_rows_show_the_top_three_reasons_and_persona(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr, persona=PersonaFactory(name="Growth lead"), budget="confirmed")
    ActivityFactory(lead=lead, kind="demo_request")
    ActivityFactory(lead=lead, kind="pricing_page_visit")

    response = login(sdr).get(reverse("leads:inbox"))

    row = response.context["page"].rows[0]
    assert [hit.points for hit in row.reasons] == [30, 15, 15]
    assert row.reasons[0].short == "Demo request ×1"
    assert row.reasons[1].short in ("Industry: Software", "Employee count: 800")
    assert "+30 per occurrence" in row.reasons[0].full
    assert b"Growth lead" in response.content
    assert b"86%" in response.content


def test_rows_escape_what_leads_and_integrations_bring_in(login, version, team, sdr):
    account = AccountFactory(name="<b>Acme</b> & Sons", country="GB")
    persona = PersonaFactory(name='"Quoted" <persona>')
    MqlFactory(
        team=team, owner=sdr, account=account, persona=persona, first_name="<script>x</script>", job_title="CEO's 'own'"
    )

    content = login(sdr).get(reverse("leads:inbox")).content.decode()

    assert "<script>x</script>" not in content and "<b>Acme</b>" not in content
    assert "&lt;script&gt;x&lt;/script&gt;" in content
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Sons" in content
    assert "&quot;Quoted&quot; &lt;persona&gt;" in content
    assert "CEO&#x27;s &#x27;own&#x27;" in content


def test_inbox_page_query_count_does_not_grow_with_the_page(login, version, team, sdr, django_assert_max_num_queries):
    for i in range(50):
        lead = MqlFactory(
            team=team, owner=sdr, persona=PersonaFactory(), sla_due_at=timezone.now() + dt.timedelta(hours=i)
        )
        ActivityFactory(lead=lead, kind="demo_request")
    client = login(sdr)
    client.get(reverse("leads:inbox"))  # warm the session
    # session, user, groups, membership, badges + personas + active version, page, activities,
    # the dictionary's labels of the rules the chips name, the attributes the filters offer (the
    # badges share a query with the personas), the SDR's open count for the capacity line
    with django_assert_max_num_queries(9):
        response = client.get(reverse("leads:inbox"))
    assert len(response.context["page"].rows) == 50
    with django_assert_max_num_queries(9):
        client.get(reverse("leads:inbox"), {"after": response.context["page"].next_cursor or "", "grade": "A"})


def test_manager_team_tab_query_count(login, version, team, manager, sdr, sdr2, django_assert_max_num_queries):
    for i in range(30):
        MqlFactory(team=team, owner=(sdr, sdr2, None)[i % 3])
    client = login(manager)
    client.get(reverse("leads:inbox"))
    # an SDR's page, the teams they manage, the labels of the rules the chips name and the teams
    # with MQLs waiting for an owner (the banner)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("leads:inbox"), {"tab": "team"})
    assert len(response.context["page"].rows) == 30


def test_inbox_sees_a_renamed_persona_and_a_newly_active_version_at_once(login, version, team, sdr):
    """The process keeps the active version between requests; a change is still seen on the next page."""
    persona = PersonaFactory(name="Platform lead")
    MqlFactory(team=team, owner=sdr, persona=persona)
    client = login(sdr)
    first = client.get(reverse("leads:inbox"))
    assert first.context["page"].version == version
    assert dict(first.context["form"].fields["persona"].choices)[persona.pk] == "Platform lead"

    persona.name = "Head of platform"
    persona.save()
    version.status = version.Status.RETIRED
    version.save()
    newer = AgreementVersionFactory(number=version.number + 1)
    second = client.get(reverse("leads:inbox"))
    assert second.context["page"].version == newer
    assert dict(second.context["form"].fields["persona"].choices)[persona.pk] == "Head of platform"
    assert "Head of platform" in second.content.decode()

    newer.spec = {**newer.spec, "mql_threshold": newer.spec["mql_threshold"] + 1}
    newer.save()  # a saved active version (e.g. in the admin) is read again
    assert client.get(reverse("leads:inbox")).context["page"].version.spec == newer.spec


def test_htmx_filter_request_returns_only_the_queue(login, version, team, sdr):
    MqlFactory(team=team, owner=sdr)
    response = login(sdr).get(reverse("leads:inbox"), HTTP_HX_TARGET="queue", **HTMX)
    assert response.content.lstrip().startswith(b'<div id="queue"')
    assert b"<html" not in response.content


def test_empty_mine_tab_tells_an_sdr_what_to_do(login, version, team, sdr):
    response = login(sdr).get(reverse("leads:inbox"))
    assert b"No MQL is waiting for you" in response.content
    assert b"Next lead" in response.content


# --- the Accepted tab ----------------------------------------------------------------------------


def _accepted(team, owner, stage=Stage.SAL, **fields):
    return LeadFactory(team=team, owner=owner, stage=stage, grade="B", **fields)


def test_accepted_tab_lists_an_sdrs_own_sal_and_sql_leads(login, version, team, sdr, sdr2):
    sal, sql = _accepted(team, sdr), _accepted(team, sdr, Stage.SQL, opportunity_amount=12000)
    _accepted(team, sdr2)  # someone else's
    MqlFactory(team=team, owner=sdr)  # still in "Mine"
    LeadFactory(team=team, owner=sdr, stage=Stage.WON)  # closed

    response = login(sdr).get(reverse("leads:inbox"), {"tab": "accepted"})

    assert response.status_code == 200
    assert [t[0] for t in response.context["tabs"]] == [InboxTab.MINE, InboxTab.UNASSIGNED, InboxTab.ACCEPTED]
    assert set(_row_ids(response)) == {sal.pk, sql.pk}
    content = response.content.decode()
    assert f'data-action="convert" data-url="/leads/{sal.pk}/convert/?ctx=row&amp;tab=accepted"' in content
    assert f'data-action="won" data-url="/leads/{sql.pk}/won/?ctx=row"' in content
    assert 'data-action="accept"' not in content and 'id="bulk-form"' not in content
    assert "$12,000" in content


def test_managers_accepted_tab_shows_the_teams_leads_to_reassign(login, version, team, manager, sdr, sdr2):
    mine, theirs = _accepted(team, sdr), _accepted(team, sdr2, Stage.SQL)
    other_team = TeamFactory(name="Field Sales")
    _accepted(other_team, UserFactory(username="far", roles=[Role.SDR]))

    response = login(manager).get(reverse("leads:inbox"), {"tab": "accepted"})

    assert set(_row_ids(response)) == {mine.pk, theirs.pk}
    content = response.content.decode()
    assert content.count('data-action="reassign"') == 2 and 'data-action="convert"' not in content
    assert f"· {sdr2.get_full_name()}</div>" in content


def test_convert_from_the_accepted_tab_keeps_the_row_and_won_closes_it(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.pk, user=sdr)
    client = login(sdr)

    form = client.get(reverse("leads:convert", args=[lead.pk]), {"ctx": "row", "tab": "accepted"}, **HTMX)
    assert b'name="tab" value="accepted"' in form.content
    converted = client.post(
        reverse("leads:convert", args=[lead.pk]), {"ctx": "row", "tab": "accepted", "amount": "5000"}, **HTMX
    )

    assert converted.status_code == 200 and converted.headers["HX-Retarget"] == f"#lead-row-{lead.pk}"
    assert f'id="lead-row-{lead.pk}"'.encode() in converted.content  # still on the tab, now an SQL
    assert b'data-action="won"' in converted.content and b"stage-sql" in converted.content
    won = client.post(reverse("leads:won", args=[lead.pk]), {"ctx": "row", "tab": "accepted"}, **HTMX)
    assert won.status_code == 200 and f'id="lead-row-{lead.pk}"'.encode() not in won.content
    closing = Transition.objects.filter(lead=lead, to_stage__in=[Stage.SQL, Stage.WON]).order_by("id")
    assert [(t.from_stage, t.to_stage, t.actor) for t in closing] == [
        (Stage.SAL, Stage.SQL, sdr),
        (Stage.SQL, Stage.WON, sdr),
    ]
    assert Lead.objects.get(pk=lead.pk).stage == Stage.WON
    assert _row_ids(client.get(reverse("leads:inbox"), {"tab": "accepted"})) == []


def test_an_sdr_cannot_close_another_sdrs_accepted_lead(login, version, team, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr2)
    lead_accept(lead_id=lead.pk, user=sdr2)

    response = login(sdr).post(reverse("leads:disqualify", args=[lead.pk]), {"ctx": "row", "note": "x"}, **HTMX)

    assert response.status_code == 409
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL
    assert _row_ids(login(sdr).get(reverse("leads:inbox"), {"tab": "accepted"})) == []


def test_leaders_do_not_get_the_accepted_tab(login, version, client, marketing, sales):
    url = reverse("leads:inbox") + "?tab=accepted"
    assert client.get(url).url.startswith(reverse("login"))
    for user in (marketing, sales):
        assert login(user).get(url).status_code == 403


def test_accepted_tab_query_count_does_not_grow_with_the_page(
    login, version, team, sdr, sdr2, manager, django_assert_max_num_queries
):
    for i in range(60):
        lead = _accepted(team, (sdr, sdr2)[i % 2], (Stage.SAL, Stage.SQL)[i % 3 == 0], persona=PersonaFactory())
        ActivityFactory(lead=lead, kind="demo_request")
    # Besides the rows: the page's follow-up attempts, the organisation's own attributes (filters),
    # the SDR's open count (capacity line), the manager's teams with MQLs waiting for an owner (banner).
    for user, most, rows in ((sdr, 10, 30), (manager, 11, 50)):
        client = login(user)
        client.get(reverse("leads:inbox"), {"tab": "accepted"})
        with django_assert_max_num_queries(most):
            response = client.get(reverse("leads:inbox"), {"tab": "accepted"})
        assert len(response.context["page"].rows) == rows


# --- SLA clock ------------------------------------------------------------------------------------

CAL = BusinessCalendar.from_spec(
    {"time_zone": "UTC", "working_days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
)
MONDAY_9 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("now_hours", "css", "label"),
    [(1, "sla-ok", "3h 00m left"), (3, "sla-warn", "1h 00m left"), (5, "sla-breach", "Overdue 1h 00m")],
)
def test_sla_clock_turns_amber_at_75_percent_and_red_when_due(now_hours, css, label):
    lead = Lead(mql_at=MONDAY_9, sla_due_at=MONDAY_9 + dt.timedelta(hours=4))
    clock = sla_clock(lead, CAL, MONDAY_9 + dt.timedelta(hours=now_hours))
    assert (clock.css, clock.label) == (css, label)


def test_sla_clock_counts_business_time_over_the_night():
    # MQL at 16:00 with a 4-hour budget is due 12:00 next day; at 08:00 only 1 of 4 hours is used.
    mql = MONDAY_9 + dt.timedelta(hours=7)
    lead = Lead(mql_at=mql, sla_due_at=CAL.add_hours(mql, 4))
    clock = sla_clock(lead, CAL, mql + dt.timedelta(hours=16))
    assert (clock.css, clock.label) == ("sla-ok", "3h 00m left")


def test_sla_clock_of_a_lead_that_qualified_at_the_weekend_stays_green_until_work_starts():
    # MQL on Sunday morning, due Monday 13:00: at Sunday 23:00 none of the 4 business hours is used.
    sunday = MONDAY_9 - dt.timedelta(hours=24)
    lead = Lead(mql_at=sunday, sla_due_at=CAL.add_hours(sunday, 4))
    clock = sla_clock(lead, CAL, sunday + dt.timedelta(hours=14))
    assert (clock.css, clock.label, clock.used_pct) == ("sla-ok", "4h 00m left", 0)
    # Monday 12:00: 3 of the 4 hours are used.
    clock = sla_clock(lead, CAL, MONDAY_9 + dt.timedelta(hours=3))
    assert (clock.css, clock.label, clock.used_pct) == ("sla-warn", "1h 00m left", 75)


def test_sla_clock_of_a_due_time_without_business_time_before_it_runs_on_wall_clock():
    # Due at a weekend instant right after qualifying on the same weekend: no business time at all.
    saturday = MONDAY_9 - dt.timedelta(hours=48)
    lead = Lead(mql_at=saturday, sla_due_at=saturday + dt.timedelta(hours=4))
    clock = sla_clock(lead, CAL, saturday + dt.timedelta(hours=3))
    assert (clock.css, clock.label, clock.used_pct) == ("sla-warn", "1h 00m left", 75)


# --- actions through htmx -------------------------------------------------------------------------


def test_accept_from_a_row_removes_it_and_writes_one_transition(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)

    response = client.post(reverse("leads:accept", args=[lead.pk]), {"ctx": "row"}, **HTMX)

    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == f"#lead-row-{lead.pk}"
    assert b"hx-swap-oob" in response.content and b"Accepted" in response.content
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL

    again = client.post(reverse("leads:accept", args=[lead.pk]), {"ctx": "row"}, **HTMX)
    assert again.status_code == 409
    assert b"You already accepted" in again.content
    assert Transition.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1


def test_recycle_form_shows_the_agreements_reasons_and_validates(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)
    url = reverse("leads:recycle", args=[lead.pk])

    form = client.get(url, {"ctx": "row"}, **HTMX)
    assert b"No budget this quarter" in form.content and b'name="revisit_on"' in form.content

    bad = client.post(url, {"ctx": "row", "reason_code": "no_budget", "revisit_on": "2000-01-01"}, **HTMX)
    assert bad.status_code == 422
    assert b"must be in the future" in bad.content
    assert bad.headers["HX-Retarget"] == "#action-modal-body"
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL

    day = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    ok = client.post(url, {"ctx": "row", "reason_code": "no_budget", "revisit_on": day, "note": "Q3"}, **HTMX)
    assert ok.status_code == 200
    lead.refresh_from_db()
    assert (lead.stage, lead.revisit_on.isoformat()) == (Stage.NURTURE, day)


def test_reject_without_a_note_is_refused_with_a_message(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    response = login(sdr).post(
        reverse("leads:reject", args=[lead.pk]), {"ctx": "row", "reason_code": "bad_fit", "note": ""}, **HTMX
    )
    assert response.status_code == 422
    assert b"Write a short note" in response.content
    assert Lead.objects.get(pk=lead.pk).stage == Stage.MQL


def test_actions_work_without_javascript(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    client = login(sdr)

    response = client.post(reverse("leads:reject", args=[lead.pk]), {"reason_code": "bad_data", "note": "Fake"})

    assert response.status_code == 302 and response.url == reverse("leads:lead_detail", args=[lead.pk])
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED
    page = client.get(response.url)
    assert b"Rejected" in page.content


def test_convert_from_the_lead_page_refreshes_the_panel(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr)
    lead_accept(lead_id=lead.pk, user=sdr)
    client = login(sdr)
    url = reverse("leads:convert", args=[lead.pk])

    bad = client.post(url, {"ctx": "detail", "amount": "0"}, **HTMX)
    assert bad.status_code == 422 and b"more than zero" in bad.content

    ok = client.post(url, {"ctx": "detail", "amount": "12000"}, **HTMX)
    assert ok.headers["HX-Retarget"] == "#lead-live"
    assert b'id="lead-live"' in ok.content
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL


def test_claim_next_opens_the_claimed_lead(login, version, team, sdr):
    lead = MqlFactory(team=team)
    response = login(sdr).post(reverse("leads:claim_next"), **HTMX)
    assert response.headers["HX-Redirect"] == reverse("leads:lead_detail", args=[lead.pk])
    assert Lead.objects.get(pk=lead.pk).owner == sdr


def test_claim_next_on_empty_queue_is_a_409_with_the_reason(login, version, team, sdr):
    response = login(sdr).post(reverse("leads:claim_next"), **HTMX)
    assert response.status_code == 409 and b"queue is empty" in response.content


def test_bulk_accept_reports_failures(login, version, team, sdr, sdr2):
    mine, theirs = MqlFactory(team=team, owner=sdr), MqlFactory(team=team, owner=sdr2)

    response = login(sdr).post(reverse("leads:bulk_accept"), {"lead_ids": [mine.pk, theirs.pk]}, **HTMX)

    assert b"Accepted 1 lead." in response.content
    assert b"1 could not be changed" in response.content and b"belongs to" in response.content
    assert Lead.objects.get(pk=mine.pk).stage == Stage.SAL
    assert Lead.objects.get(pk=theirs.pk).stage == Stage.MQL


def test_bulk_reject_asks_for_reason_then_rejects_each(login, version, team, sdr):
    leads = [MqlFactory(team=team, owner=sdr) for _ in range(2)]
    client = login(sdr)
    ids = [x.pk for x in leads]

    form = client.post(reverse("leads:bulk_reject"), {"lead_ids": ids}, **HTMX)
    assert form.status_code == 200 and b"Reject 2 selected leads" in form.content

    done = client.post(
        reverse("leads:bulk_reject"), {"lead_ids": ids, "reason_code": "duplicate", "note": "Dupes"}, **HTMX
    )
    assert done.status_code == 200 and b"Rejected 2 leads." in done.content
    assert Transition.objects.filter(to_stage=Stage.REJECTED, reason_code="duplicate").count() == 2


def test_manager_reassigns_from_the_team_tab(login, version, team, manager, sdr, sdr2):
    lead = MqlFactory(team=team, owner=sdr)
    response = login(manager).post(
        reverse("leads:reassign", args=[lead.pk]), {"ctx": "row", "tab": "team", "to_user": sdr2.pk}, **HTMX
    )
    assert response.status_code == 200
    assert f'id="lead-row-{lead.pk}"'.encode() in response.content  # the row stays, with its new owner
    assert f'<div class="text-secondary">{sdr2.get_full_name()}</div>'.encode() in response.content
    assert Lead.objects.get(pk=lead.pk).owner == sdr2


def test_out_of_office_toggle(login, version, team, sdr):
    client = login(sdr)
    until = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    client.post(reverse("leads:away"), {"away_until": until})
    assert TeamMember.objects.get(user=sdr).away_until is not None
    page = client.get(reverse("leads:inbox"))
    assert b"Out of office until" in page.content
    client.post(reverse("leads:away"), {"back": "1"})
    assert TeamMember.objects.get(user=sdr).away_until is None


# --- the lead page --------------------------------------------------------------------------------


def test_lead_page_explains_why_and_shows_every_history(login, version, team, sdr):
    lead = MqlFactory(team=team, owner=sdr, scored_version=version, budget="confirmed")
    ActivityFactory(lead=lead, kind="demo_request")
    Note.objects.create(lead=lead, author=sdr, body="Left a voicemail")
    lead_accept(lead_id=lead.pk, user=sdr)

    response = login(sdr).get(reverse("leads:lead_detail", args=[lead.pk]))

    body = response.content.decode()
    assert "Why this lead qualified" in body
    assert "Demo request +30 per occurrence" in body
    assert "Industry is one of" in body
    assert f"Scored under agreement {version}" in body
    assert "Left a voicemail" in body
    assert "Claimed" not in body  # it was assigned at creation, not claimed
    assert "Convert to SQL" in body  # the next action of a SAL
    assert response.context["transitions"][0].to_stage == Stage.SAL


def test_lead_page_query_count_is_constant(login, version, team, sdr, django_assert_max_num_queries):
    lead = MqlFactory(team=team, owner=sdr)
    for _ in range(20):
        ActivityFactory(lead=lead, kind="web_visit")
        Note.objects.create(lead=lead, author=sdr, body="n")
    client = login(sdr)
    with django_assert_max_num_queries(16):
        client.get(reverse("leads:lead_detail", args=[lead.pk]))


def test_adding_a_note(login, version, team, sdr):
    lead = MqlFactory(team=team)
    client = login(sdr)
    bad = client.post(reverse("leads:note_add", args=[lead.pk]), {"body": "  "}, **HTMX)
    assert bad.status_code == 422 and b"cannot be empty" in bad.content
    ok = client.post(reverse("leads:note_add", args=[lead.pk]), {"body": "Call back Tuesday"}, **HTMX)
    assert ok.status_code == 200 and b"Call back Tuesday" in ok.content
    assert Note.objects.get(lead=lead).author == sdr


def test_viewer_of_an_sdr_without_team(db):
    user = UserFactory(username="loner", roles=[Role.SDR])
    viewer = viewer_for(user)
    assert viewer.team_id is None and not viewer.can_see_team


@pytest.mark.parametrize("url", [reverse_lazy("leads:lead_list"), reverse_lazy("leads:inbox") + "?tab=team"])
def test_lists_name_owners_like_the_rest_of_the_portal(login, version, team, sdr, manager, url):
    owned = MqlFactory(team=team, owner=sdr)
    MqlFactory(team=team)
    page = login(manager).get(str(url)).content.decode()
    assert sdr.get_full_name() and sdr.get_full_name() in page
    assert sdr.username not in page.replace(owned.email, "")
    assert "Unassigned" in page


def test_transition_reasons_read_as_words_on_the_overview_and_the_lead(login, version, team, sdr, marketing):
    code, label = reason_choices(version.spec, "reject")[0]
    lead = MqlFactory(team=team, owner=sdr)
    now = timezone.now()
    TransitionFactory(lead=lead, from_stage="new", to_stage="mql", reason_code="qualified", at=now)
    TransitionFactory(lead=lead, from_stage="mql", to_stage="rejected", actor=sdr, reason_code=code, at=now)
    TransitionFactory(lead=lead, from_stage="rejected", to_stage="nurture", reason_code="retired_code", at=now)
    client = login(marketing)
    for url in (reverse("leads:overview"), reverse("leads:lead_detail", args=[lead.pk])):
        page = client.get(url).content.decode()
        assert "Qualified" in page and label in page and "Retired code" in page, url
        assert ">qualified<" not in page and f">{code}<" not in page
    overview = client.get(reverse("leads:overview")).content.decode()
    assert sdr.get_full_name() in overview


def test_archived_personas_leave_the_inbox_persona_filter(login, version, sdr):
    kept = PersonaFactory(name="Ops Lead")
    gone = PersonaFactory(name="Retired Persona", archived_at=timezone.now())
    form = login(sdr).get(reverse("leads:inbox")).context["form"]
    choices = dict(form.fields["persona"].choices)
    assert kept.pk in choices and gone.pk not in choices
