"""Evidence and suggestions against outcomes equal a brute-force recount from the raw rows."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from alignment.models import AgreementVersion
from alignment.spec import default_spec
from leads.models import Lead, Stage
from leads.scoring.backtest import AS_OF_DAYS, week_start
from leads.scoring.evidence import MIN_SPAN_DAYS, Window, evidence
from leads.scoring.lift import lift, quantile_edges
from leads.scoring.outcomes import parse_outcome
from leads.scoring.scorer import activity_weights, facts_for_lead, score_lead
from tests.factories import AgreementVersionFactory, LeadFactory, TransitionFactory
from tests.leads.test_backtest import NOW, draft_of, generate_history

pytestmark = pytest.mark.django_db

CONVERTED = {"sql": {Stage.SQL, Stage.WON}, "won": {Stage.WON}}


def recount(spec: dict, window: Window, outcome: str) -> dict:
    """Every lead of the window scored one by one with the pure function, outcomes read row by row."""
    leads = [
        lead
        for lead in Lead.objects.filter(created_at__lte=NOW)
        if (window.created_from is None or lead.created_at.date() >= window.created_from)
        and (window.created_to is None or lead.created_at.date() <= window.created_to)
    ]
    scores, converted, created = {}, set(), {}
    for lead in leads:
        as_of = min(lead.created_at + dt.timedelta(days=AS_OF_DAYS), NOW)
        result = score_lead(facts_for_lead(lead), activity_weights(lead, spec, as_of), spec)
        scores[lead.pk] = (result.total, result.knocked_out, result.qualifies)
        created[lead.pk] = lead.created_at
        if set(lead.transitions.values_list("to_stage", flat=True)) & CONVERTED[outcome]:
            converted.add(lead.pk)
    mqls = {pk for pk, (_, _, q) in scores.items() if q}
    return {"scores": scores, "converted": converted, "mqls": mqls, "created": created}


def check_definition(figures, truth: dict) -> None:
    n, k = len(truth["scores"]), len(truth["converted"])
    mqls, conv = truth["mqls"], truth["converted"]
    assert (figures.leads, figures.total_converted) == (n, k)
    assert figures.mqls == len(mqls)
    assert figures.converted == len(mqls & conv)
    assert figures.captured == (len(mqls & conv) / k if k else None)
    assert figures.rate_inside == (len(mqls & conv) / len(mqls) if mqls else None)
    rest = n - len(mqls)
    assert figures.rate_outside == ((k - len(mqls & conv)) / rest if rest else None)
    weekly: dict = {}
    for pk in mqls:
        weekly[week_start(truth["created"][pk])] = weekly.get(week_start(truth["created"][pk]), 0) + 1
    assert figures.weekly == weekly
    # The capture curve: leads ranked by score (knocked out last); each step adds one score's leads.
    curve = figures.curve()
    if n and k:
        ranked = sorted({s for s, ko, _ in truth["scores"].values() if not ko}, reverse=True)
        expected = [(0.0, 0.0)]
        flagged = captured = 0
        for score in ranked:
            ids = {pk for pk, (s, ko, _) in truth["scores"].items() if s == score and not ko}
            flagged += len(ids)
            captured += len(ids & conv)
            expected.append((flagged / n, captured / k))
        knocked = {pk for pk, (_, ko, _) in truth["scores"].items() if ko}
        if knocked:
            expected.append((1.0, 1.0))
        if len(expected) <= 101:
            assert len(curve) == len(expected)
            for got, want in zip(curve, expected, strict=True):
                assert got == pytest.approx(want)
        assert curve[-1] == pytest.approx((1.0, 1.0))


@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), outcome=st.sampled_from(["sql", "won"]), days=st.sampled_from([0, 30, 90]))
@example(seed=1046, outcome="sql", days=30)  # the draft flags no MQL in a 30-day span: a rate of 0.0
def test_evidence_equals_a_recount_of_the_raw_rows(seed, outcome, days):
    Lead.objects.all().delete()
    generate_history(random.Random(seed), n=40)
    active = default_spec()
    draft = draft_of(active)
    window = Window.last_days(days, today=NOW.date())
    result = evidence(draft_spec=draft, active_spec=active, window=window, outcome=parse_outcome(outcome), now=NOW)
    check_definition(result.draft, recount(draft, window, outcome))
    check_definition(result.active, recount(active, window, outcome))
    created = list(recount(draft, window, outcome)["created"].values())
    assert result.leads == len(created)
    if created:
        span = (max(created).date() - min(created).date()).days + 1
        assert result.span_days == span
        expected = None if span < MIN_SPAN_DAYS else result.draft.mqls * 30.44 / span
        # Zero MQLs over a long enough span is a rate of 0.0 a month, not "no rate".
        assert result.per_month(result.draft.mqls) == (None if expected is None else pytest.approx(expected))


def test_per_month_divides_by_the_span_of_the_data_not_the_window():
    # A one-day import inside a 365-day window: no monthly rate is extrapolated from it.
    for _ in range(5):
        LeadFactory(created_at=NOW - dt.timedelta(hours=3))
    window = Window.last_days(365, today=NOW.date())
    short = evidence(draft_spec=default_spec(), active_spec=None, window=window, outcome=parse_outcome("sql"), now=NOW)
    assert short.span_days == 1 and short.per_month(short.draft.mqls) is None
    # Sixty days of history: the rate divides by sixty days, not by the window's 365.
    for i in range(60):
        LeadFactory(created_at=NOW - dt.timedelta(days=i, hours=1))
    spec = default_spec()
    spec["mql_threshold"] = 0
    spec["knockouts"] = []
    long = evidence(draft_spec=spec, active_spec=None, window=window, outcome=parse_outcome("sql"), now=NOW)
    assert long.span_days == 60
    assert long.per_month(long.draft.mqls) == pytest.approx(65 * 30.44 / 60)


def test_a_converted_attribute_defines_outcomes(monkeypatch):
    lead = LeadFactory(created_at=NOW - dt.timedelta(days=2))
    TransitionFactory(lead=lead, to_stage=Stage.WON, at=NOW - dt.timedelta(days=1))
    other = LeadFactory(created_at=NOW - dt.timedelta(days=2))
    TransitionFactory(lead=other, to_stage=Stage.SQL, at=NOW - dt.timedelta(days=1))
    window = Window.last_days(30, today=NOW.date())
    won = evidence(draft_spec=default_spec(), active_spec=None, window=window, outcome=parse_outcome("won"), now=NOW)
    sql = evidence(draft_spec=default_spec(), active_spec=None, window=window, outcome=parse_outcome("sql"), now=NOW)
    assert (won.converted, sql.converted) == (1, 2)


def test_quantile_edges_split_leads_into_about_equal_bins():
    edges = quantile_edges([(v, 1) for v in range(1, 101)], bins=5)
    assert edges == [20, 40, 60, 80, 100]
    assert quantile_edges([(7, 50)], bins=5) == [7]
    assert quantile_edges([], bins=5) == []


@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000))
def test_lift_rows_equal_a_recount_and_cover_every_lead(seed):
    Lead.objects.all().delete()
    generate_history(random.Random(seed), n=40)
    window = Window.last_days(0)
    result = lift(window=window, outcome=parse_outcome("sql"), spec=default_spec(), now=NOW)
    leads = list(Lead.objects.filter(created_at__lte=NOW).select_related("account"))
    converted = {
        lead.pk for lead in leads if set(lead.transitions.values_list("to_stage", flat=True)) & CONVERTED["sql"]
    }
    assert (result.leads, result.converted) == (len(leads), len(converted))
    for attribute in ("industry", "seniority", "employees", "budget"):
        rows = [r for r in result.rows if r.attribute == attribute]
        assert sum(r.leads for r in rows) == len(leads), attribute
        assert sum(r.converted for r in rows) == len(converted), attribute
    for row in (r for r in result.rows if r.attribute == "seniority"):
        members = [x for x in leads if (x.seniority or "Unknown") == row.value]
        assert row.leads == len(members)
        assert row.converted == len([x for x in members if x.pk in converted])
    for row in (r for r in result.rows if r.attribute == "employees" and r.low is not None):
        members = [x for x in leads if x.account and x.account.employees is not None]
        inside = [x for x in members if row.low <= x.account.employees <= row.high]
        assert row.leads == len(inside)
    assert {r.before_contact for r in result.rows if r.attribute == "budget"} == {False}


def test_evidence_works_on_an_installation_without_an_agreement_in_force(login, marketing):
    AgreementVersion.objects.all().delete()
    draft = AgreementVersionFactory(number=1, status="draft", published_at=None)
    url = reverse("leads:evidence")
    assert login(marketing).get(url, {"version": draft.number}).status_code == 200
    content = login(marketing).get(url, {"version": draft.number}).content.decode()
    assert "No leads were created" in content and "Missed" not in content
    LeadFactory(created_at=NOW - dt.timedelta(days=400))
    content = login(marketing).get(url, {"version": draft.number, "days": 0}).content.decode()
    assert "None of these leads converted" in content


def test_panels_opened_at_their_own_address_are_whole_pages(login, marketing):
    """The draft workspace loads the panels in place (htmx); a person who opens the address itself
    gets a page with the portal's navigation, and a missing version is explained on the 400 page."""
    draft = AgreementVersionFactory(number=7, status="draft", published_at=None)
    client = login(marketing)
    page = client.get(reverse("leads:evidence_suggestions"), {"version": draft.number}).content.decode()
    assert "<nav" in page and "Suggestions from outcomes</h1>" in page
    fragment = client.get(reverse("leads:evidence_suggestions"), {"version": draft.number}, HTTP_HX_REQUEST="true")
    assert "<nav" not in fragment.content.decode()
    page = client.get(reverse("leads:evidence"), {"version": draft.number}).content.decode()
    assert "<nav" in page and "Evidence</h1>" in page
    missing = client.get(reverse("leads:evidence"))
    assert missing.status_code == 400 and "the number of the draft to judge" in missing.content.decode()
    assert "<nav" in missing.content.decode()


@pytest.mark.parametrize(
    "query",
    [{"version": "abc"}, {"version": "1.5"}, {"version": "1", "days": "7"}, {"version": "1", "created_from": "x"}],
)
def test_junk_parameters_get_a_400_with_a_message(login, marketing, query):
    AgreementVersionFactory(number=1, status="draft", published_at=None)
    for name in ("leads:evidence", "leads:evidence_suggestions"):
        response = login(marketing).get(reverse(name), query)
        if name == "leads:evidence_suggestions" and set(query) == {"version"}:
            assert response.status_code in (400, 404)
        else:
            assert response.status_code == 400, (name, query)
            assert response.content


def test_add_as_rule_puts_the_suggested_rule_into_the_draft(login, marketing, sdr):
    draft = AgreementVersionFactory(number=3, status="draft", published_at=None)
    before = len(draft.spec["fit_rules"])
    url = reverse("leads:suggestion_add_rule")
    rule = '{"field": "industry", "operator": "in", "values": ["Retail"], "points": 0}'
    assert login(sdr).post(url, {"version": 3, "rule": rule, "points": 12}).status_code == 403
    response = login(marketing).post(url, {"version": 3, "rule": rule, "points": 12, "note": "from data"})
    assert response.status_code == 200, response.content
    draft.refresh_from_db()
    added = draft.spec["fit_rules"][-1]
    assert len(draft.spec["fit_rules"]) == before + 1
    assert (added["field"], added["values"], added["points"]) == ("industry", ["Retail"], 12)


def _token():
    from leads.intake.writes import api_token_create

    return api_token_create(name="bi")[1]


def test_insights_api_lift_contract(client):
    generate_history(random.Random(11), n=25)
    token = _token()
    response = client.get("/api/v1/insights/lift", {"outcome": "sql"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"outcome", "outcome_definition", "outcome_defined_at", "leads", "converted", "rows"}
    assert body["outcome"] == "sql" and body["leads"] == Lead.objects.count()
    row = body["rows"][0]
    assert set(row) == {
        "attribute",
        "value",
        "low",
        "high",
        "leads",
        "converted",
        "rate",
        "lift",
        "small_sample",
        "before_contact",
    }
    assert {r["before_contact"] for r in body["rows"] if r["attribute"] == "budget"} == {False}
    bad = client.get("/api/v1/insights/lift", {"outcome": "nope"}, headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 422 and "outcome" in bad.json()["errors"]
    assert client.get("/api/v1/insights/lift").status_code == 401


def test_insights_api_evidence_matches_the_panel_figures(client):
    generate_history(random.Random(12), n=25)
    AgreementVersionFactory(number=1)
    draft = AgreementVersionFactory(number=2, status="draft", spec=draft_of(default_spec()), published_at=None)
    token = _token()
    response = client.get(
        "/api/v1/insights/evidence", {"version": 2, "outcome": "sql"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    ev = evidence(
        draft_spec=draft.spec,
        active_spec=AgreementVersion.objects.get(number=1).spec,
        window=Window(),
        outcome=parse_outcome("sql"),
    )
    assert (body["leads"], body["converted"]) == (ev.leads, ev.converted)
    assert body["draft"]["mqls"] == ev.draft.mqls and body["active"]["mqls"] == ev.active.mqls
    assert body["active_version"] == 1
    missing = client.get("/api/v1/insights/evidence", {"version": 99}, headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404


def test_each_knock_out_shows_whom_it_removes_and_how_they_converted():
    spec = default_spec()
    students = [LeadFactory(created_at=NOW - dt.timedelta(days=3), seniority="student") for _ in range(6)]
    others = [LeadFactory(created_at=NOW - dt.timedelta(days=3)) for _ in range(6)]
    for lead in students[:4] + others[:1]:
        TransitionFactory(lead=lead, to_stage=Stage.SQL, at=NOW - dt.timedelta(days=1))
    result = evidence(
        draft_spec=spec,
        active_spec=None,
        window=Window.last_days(30, today=NOW.date()),
        outcome=parse_outcome("sql"),
        now=NOW,
    )
    by_label = {k.label: k for k in result.knockouts}
    assert (by_label["Student"].leads, by_label["Student"].converted) == (6, 4)
    assert result.contradicted(by_label["Student"])
    assert not result.contradicted(by_label["Competitor"])


def test_a_token_without_the_insights_scope_gets_403(client):
    from leads.intake.writes import api_token_create

    token, raw = api_token_create(name="writer")
    token.scopes = ["leads:write"]
    token.save(update_fields=["scopes"])
    response = client.get("/api/v1/insights/lift", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403
    assert "insights:read" in response.json()["detail"]


def test_lift_counts_the_organisations_own_attributes_like_a_recount():
    """Choice, multiple-choice, number and yes/no attributes of the lead and of the account: one
    row per value (a lead counts under each of its multiple-choice values), unknowns apart."""
    from alignment import dictionary_services as data_dictionary
    from leads.models import Activity

    data_dictionary.attribute_create(
        key="lead_origin", label="Lead origin", type="choice",
        choices=[{"value": "google", "label": "Google"}, {"value": "referral", "label": "Referral"}],
    )  # fmt: skip
    data_dictionary.attribute_create(
        key="topics", label="Topics", type="multi_choice", choices=[{"value": "ai"}, {"value": "cloud"}]
    )
    data_dictionary.attribute_create(key="time_on_site", label="Time on site", type="number")
    data_dictionary.attribute_create(key="partner", label="Partner", type="yes_no", object="account")
    data_dictionary.kind_create(key="trade_show_scan", label="Badge scanned at a trade show")
    rng = random.Random(7)
    for i in range(60):
        values = {
            "lead_origin": rng.choice(["google", "referral", None]),
            "topics": rng.choice([["ai"], ["ai", "cloud"], [], None]),
            "time_on_site": rng.choice([None, 5, 12.5, 40, 300, 1200]),
        }
        lead = LeadFactory(
            created_at=NOW - dt.timedelta(days=rng.randint(1, 300)),
            attributes={k: v for k, v in values.items() if v is not None},
        )
        lead.account.attributes = {"partner": rng.choice([True, False])} if i % 4 else {}
        lead.account.save()
        if rng.random() < 0.4:
            TransitionFactory(lead=lead, to_stage=Stage.SQL, at=lead.created_at + dt.timedelta(days=3))
        if i % 3 == 0:
            Activity.objects.create(lead=lead, kind="trade_show_scan", occurred_at=lead.created_at)
    result = lift(window=Window.last_days(0), outcome=parse_outcome("sql"), spec=default_spec(), now=NOW)
    leads = list(Lead.objects.filter(created_at__lte=NOW).select_related("account"))
    converted = {lead.pk for lead in leads if lead.transitions.filter(to_stage=Stage.SQL).exists()}

    def row(attribute, value):
        return next(r for r in result.rows if r.attribute == attribute and r.value == value)

    def check(attribute, value, members):
        found = row(attribute, value)
        assert (found.leads, found.converted) == (len(members), len([x for x in members if x.pk in converted]))

    check("lead_origin", "google", [x for x in leads if x.attributes.get("lead_origin") == "google"])
    check("lead_origin", "Unknown", [x for x in leads if "lead_origin" not in x.attributes])
    assert row("lead_origin", "google").label == "Google"
    assert row("lead_origin", "google").rule["operator"] == "in"
    check("topics", "ai", [x for x in leads if "ai" in x.attributes.get("topics", [])])
    check("topics", "cloud", [x for x in leads if "cloud" in x.attributes.get("topics", [])])
    check("topics", "Unknown", [x for x in leads if not x.attributes.get("topics")])
    assert row("topics", "cloud").rule == {"field": "topics", "operator": "has_any", "values": ["cloud"], "points": 0}
    check("partner", "yes", [x for x in leads if x.account.attributes.get("partner") is True])
    check("partner", "no", [x for x in leads if x.account.attributes.get("partner") is False])
    bins = [r for r in result.rows if r.attribute == "time_on_site"]
    assert sum(r.leads for r in bins) == len(leads)
    for found in (r for r in bins if r.low is not None):
        inside = [x for x in leads if found.low <= x.attributes.get("time_on_site", -1) <= found.high]
        assert found.leads == len(inside)
    had = row("activity:trade_show_scan", "had_it")
    assert had.label == "Badge scanned at a trade show: had it"
    assert had.leads == len([x for x in leads if x.activities.filter(kind="trade_show_scan").exists()])


def test_long_panels_report_their_progress_to_the_person_who_asked(login, marketing, sdr):
    """The panel request carries a token; each finished step is reported under it, for the bar the
    browser shows past two seconds. Another person reads nothing under the same token."""
    draft = AgreementVersionFactory(number=8, status="draft", published_at=None)
    LeadFactory(created_at=NOW - dt.timedelta(days=3))
    client = login(marketing)
    token = "a1b2c3d4e5f6a7b8"
    progress_url = reverse("progress", args=[token])
    assert client.get(progress_url).json()["percent"] == 0
    client.get(reverse("leads:evidence"), {"version": draft.number, "progress": token}, HTTP_HX_REQUEST="true")
    done = client.get(progress_url).json()
    assert done["total"] >= 3 and done["done"] == done["total"] and done["percent"] == 100
    assert done["label"] == "Evidence"
    client.get(
        reverse("leads:evidence_suggestions"),
        {"version": draft.number, "progress": "suggest-1234"},
        HTTP_HX_REQUEST="true",
    )
    assert client.get(reverse("progress", args=["suggest-1234"])).json()["percent"] == 100
    assert login(sdr).get(progress_url).json() == {"done": 0, "total": 0, "label": "", "seconds": 0.0, "percent": 0}
    assert client.get(reverse("progress", args=["x"])).status_code == 400
