"""seed_demo builds a consistent, plausible and reproducible organisation."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, OuterRef, Subquery

from alignment.models import AgreementVersion
from demo import builder as demo
from leads.models import Activity, FollowUpAttempt, Lead, Transition

pytestmark = pytest.mark.django_db

ANCHOR = "2026-11-16T10:00:00+00:00"


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One 3,000-lead organisation shared by the read-only tests of this module."""
    out = StringIO()
    with django_db_blocker.unblock():
        call_command("seed_demo", "--leads", "3000", "--weeks", "12", "--seed", "7", "--anchor", ANCHOR, stdout=out)
    yield out.getvalue()
    with django_db_blocker.unblock():
        demo.wipe(people=True)


def snapshot() -> dict:
    leads = {
        row[0]: row[1:]
        for row in Lead.objects.values_list(
            "email", "stage", "fit_score", "engagement_score", "grade", "owner__username", "mql_at", "sla_due_at"
        )
    }
    transitions = sorted(
        Transition.objects.values_list("lead__email", "from_stage", "to_stage", "at", "reason_code", "actor__username")
    )
    activities = sorted(Activity.objects.values_list("lead__email", "kind", "occurred_at"))
    return {"leads": leads, "transitions": transitions, "activities": activities}


def test_every_lead_stage_equals_its_latest_transition(seeded):
    latest = Transition.objects.filter(lead=OuterRef("pk")).order_by("-at", "-id").values("to_stage")[:1]
    mismatched = [lead for lead in Lead.objects.annotate(last=Subquery(latest)) if lead.stage != lead.last]
    assert mismatched == []


def test_transitions_of_a_lead_are_in_time_order_and_chain(seeded):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
              SELECT at, from_stage, lag(at) OVER w AS prev_at, lag(to_stage) OVER w AS prev_to
              FROM leads_transition WINDOW w AS (PARTITION BY lead_id ORDER BY id)
            ) t
            WHERE prev_at IS NOT NULL AND (at < prev_at OR from_stage <> prev_to)
            """
        )
        assert cursor.fetchone()[0] == 0
    first_moves = Transition.objects.filter(from_stage="").values("lead").annotate(n=Count("id"))
    assert first_moves.count() == Lead.objects.count()
    assert not first_moves.filter(n__gt=1).exists()


def test_funnel_ratios_are_plausible(seeded):
    leads = Lead.objects.count()
    reached_mql = Transition.objects.filter(to_stage="mql").values("lead").distinct().count()
    assert 0.10 <= reached_mql / leads <= 0.15
    acted = Transition.objects.filter(from_stage="mql").exclude(to_stage="mql")
    accepted = acted.filter(to_stage="sal").count()
    rejected = acted.filter(to_stage="rejected").count()
    recycled = acted.filter(to_stage="nurture").exclude(reason_code="no_longer_qualifies").count()
    total = accepted + rejected + recycled
    assert accepted / total > 0.6
    assert 0.14 <= rejected / total <= 0.26
    assert recycled > 0
    became_sql = Transition.objects.filter(to_stage="sql").count()
    assert 0.15 <= became_sql / accepted <= 0.35
    assert Transition.objects.filter(to_stage="won").exists()
    assert Transition.objects.filter(to_stage="lost").exists()
    assert set(Transition.objects.filter(to_stage="rejected").values_list("reason_code", flat=True)) <= {
        r["code"] for r in AgreementVersion.objects.active().spec["reject_reasons"]
    }


def test_demo_covers_the_breadth_a_demo_needs(seeded):
    assert Lead.objects.values("account__industry").distinct().count() >= 20
    assert Lead.objects.values("account__country").distinct().count() >= 28
    assert set(Activity.objects.values_list("kind", flat=True).distinct()) >= {
        "form_fill",
        "demo_request",
        "pricing_page_visit",
        "whitepaper_download",
        "case_study_download",
        "web_visit",
        "email_open",
        "email_click",
        "webinar_attended",
        "tradeshow_scan",
        "unsubscribe",
    }
    first = Transition.objects.order_by("at").first().at
    assert first <= dt.datetime.fromisoformat(ANCHOR) - dt.timedelta(weeks=11)
    assert Lead.objects.filter(stage="mql").exists()


def test_demo_users_log_in_with_the_printed_password(seeded):
    assert "accord-demo" in seeded
    for username in ("marketing", "sales", "manager", "sdr1", "sdr2", "sdr3", "sdr4", "admin"):
        assert authenticate(username=username, password="accord-demo") is not None, username


def test_second_run_with_if_empty_adds_nothing(seeded):
    before = (Lead.objects.count(), Transition.objects.count(), Activity.objects.count())
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "already present" in out.getvalue()
    assert (Lead.objects.count(), Transition.objects.count(), Activity.objects.count()) == before


def test_second_run_without_a_flag_refuses_instead_of_duplicating(seeded):
    with pytest.raises(CommandError, match="Use --reset"):
        call_command("seed_demo", stdout=StringIO())


def test_the_agreement_has_an_audit_trail_that_matches_its_versions(seeded):
    v1, v2 = AgreementVersion.objects.order_by("number")
    trail = {
        version.number: list(version.events.order_by("at", "id").values_list("action", "actor__username", "at"))
        for version in (v1, v2)
    }
    assert [action for action, *_ in trail[2]] == ["created", "saved", "saved", "proposed", "signed", "signed",
                                                    "published"]  # fmt: skip
    assert trail[2][0][1] == "sales" and trail[2][-1][1:] == ("sales", v2.published_at)
    assert [action for action, *_ in trail[1]][-2:] == ["published", "retired"]
    assert trail[1][-1][2] == v2.published_at
    # Each signature in the trail is a real sign-off, at the time it was given.
    for version in (v1, v2):
        signed = {(s.user.username, s.signed_at) for s in version.signoffs.select_related("user")}
        assert {(who, at) for action, who, at in trail[version.number] if action == "signed"} == signed
    # The edits of version 2 name what changed between the two versions.
    saved = v2.events.filter(action="saved").values_list("details", flat=True)
    assert any("Persona" in text for details in saved for text in details["changes"])


def test_accepted_leads_have_attempts_some_kept_some_late_some_missing(seeded):
    import zoneinfo

    from sla.clock import current_terms
    from sla.figures import Scope, compute
    from sla.passes import refresh

    assert set(FollowUpAttempt.objects.values_list("channel", flat=True).distinct()) == {"call", "email", "social"}
    # Every attempt follows an acceptance of its lead and is logged by the owner it had then.
    accepted = {}
    for lead_id, at, owner_id in Transition.objects.filter(to_stage="sal").values_list("lead_id", "at", "owner_id"):
        accepted.setdefault(lead_id, []).append((at, owner_id))
    for attempt in FollowUpAttempt.objects.all():
        passes = [p for p in accepted[attempt.lead_id] if p[0] <= attempt.at]
        assert passes and max(passes)[1] == attempt.logged_by_id
    anchor = dt.datetime.fromisoformat(ANCHOR)
    terms = current_terms()
    refresh(terms=terms, now=anchor)
    scope = Scope(
        start=anchor - dt.timedelta(weeks=10),
        end=anchor - dt.timedelta(weeks=2),
        tz=zoneinfo.ZoneInfo("Europe/London"),
        now=anchor,
    )
    followup = compute(scope, terms=terms)["followup"]
    assert followup["n"] > 50 and 0.4 < followup["kept"] / followup["n"] < 0.9 and followup["missed"] > 5
