"""Evidence, suggestions and proposals from outcomes read in the data dictionary's words: an attribute,
a value or an activity kind renamed in the dictionary is renamed on these panels, and the
organisation's own attributes and kinds show their labels, never their keys."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import load_dictionary
from alignment.models import ActivityKind, AgreementVersion, Attribute
from alignment.spec import default_spec
from leads.models import ScorecardJob, Stage
from leads.scoring.scorecard import describe_rule
from tests.factories import ActivityFactory, AgreementVersionFactory, LeadFactory, TransitionFactory
from tests.leads import planted

pytestmark = pytest.mark.django_db

KNOCKOUT = {"id": "k9", "field": "lead_origin", "operator": "in", "values": ["api"]}


@pytest.fixture
def origin(landing_origin):
    return landing_origin


def _text(response) -> str:
    assert response.status_code == 200, response.content.decode()[:500]
    return response.content.decode()


def _section(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}"')[1].split("</table>")[0].split("</ul>")[0]


def test_a_knock_out_on_a_custom_attribute_reads_in_its_labels_and_follows_a_rename(login, marketing, origin):
    spec = default_spec()
    spec["knockouts"].append(KNOCKOUT)
    draft = AgreementVersionFactory(number=1, status="draft", published_at=None, spec=spec)
    recent = timezone.now() - dt.timedelta(days=3)
    for origin_value in ("api", "api", "landing_page"):
        LeadFactory(created_at=recent, attributes={"lead_origin": origin_value})
    client = login(marketing)
    url = reverse("leads:evidence")

    knockouts = _section(_text(client.get(url, {"version": draft.number})), "knockouts")
    assert "Lead origin is one of API" in knockouts and "lead_origin" not in knockouts

    data_dictionary.attribute_update(attribute=origin, user=marketing, label="Where the lead came from")
    origin.choices.filter(value="api").update(label="Partner API")
    knockouts = _section(_text(client.get(url, {"version": draft.number})), "knockouts")
    assert "Where the lead came from is one of Partner API" in knockouts


def test_suggestions_name_built_in_attributes_values_and_kinds_by_their_dictionary_labels(login, marketing):
    seniority = Attribute.objects.get(key="seniority")
    data_dictionary.attribute_update(attribute=seniority, user=marketing, label="Rank")
    seniority.choices.filter(value="student").update(label="Learner")
    data_dictionary.kind_update(kind=ActivityKind.objects.get(key="demo_request"), label="Asked for a demo")
    data_dictionary.kind_create(key="trade_show_scan", label="Badge scanned at a trade show")
    recent = timezone.now() - dt.timedelta(days=5)
    for i in range(4):
        lead = LeadFactory(created_at=recent, seniority="student" if i % 2 else "vp")
        ActivityFactory(lead=lead, kind="demo_request" if i % 2 else "trade_show_scan", occurred_at=recent)
        if i < 2:
            TransitionFactory(lead=lead, to_stage=Stage.SQL, at=recent + dt.timedelta(days=1))
    AgreementVersionFactory(number=1)

    page = _text(login(marketing).get(reverse("leads:evidence_suggestions"), {"days": 90}))
    rows = page.split("<tbody")[1]
    assert ">Rank<" in rows and ">Seniority<" not in rows
    assert "Learner" in rows and "Student" not in rows
    assert "Asked for a demo: had it" in rows and "Demo request" not in rows
    assert "Badge scanned at a trade show: had it" in rows and "trade_show_scan" not in rows.replace(
        '"trade_show_scan"', ""
    ).replace("&quot;trade_show_scan&quot;", "")


def test_a_proposed_rule_reads_in_the_dictionarys_labels(origin, marketing):
    data_dictionary.kind_create(key="trade_show_scan", label="Badge scanned at a trade show")
    fit = {"id": "f1", "field": "lead_origin", "operator": "in", "values": ["landing_page", "api"], "points": 8}
    behaviour = {"id": "b1", "kind": "trade_show_scan", "points": 6, "cap": 6, "window_days": 14}
    dictionary = load_dictionary()
    assert describe_rule(fit, dictionary) == "Lead origin is one of Landing Page Submission, API"
    assert describe_rule(behaviour, dictionary).startswith("Badge scanned at a trade show +6 per occurrence")

    data_dictionary.attribute_update(attribute=origin, user=marketing, label="Where the lead came from")
    assert describe_rule(fit, load_dictionary()).startswith("Where the lead came from is one of")


def test_the_proposal_page_the_card_and_the_api_follow_a_renamed_attribute_and_kind(client, login, marketing):
    from leads.intake.writes import api_token_create

    planted.write(800, 21, now=dt.datetime.now(dt.UTC))
    leader = login(marketing)
    leader.post(
        reverse("leads:scorecard_new"),
        {
            "outcome": "sql",
            "max_rules": 8,
            "attributes": ["industry", "seniority", "activity:demo_request", "activity:unsubscribe"],
        },
    )
    job = ScorecardJob.objects.get()
    assert job.status == ScorecardJob.Status.DONE, job.error
    fields = {r["field"] for r in job.result["spec"]["fit_rules"]}
    kinds = {r["kind"] for r in job.result["spec"]["behaviour_rules"]}
    assert "seniority" in fields and "demo_request" in kinds

    seniority = Attribute.objects.get(key="seniority")
    data_dictionary.attribute_update(attribute=seniority, user=marketing, label="Rank")
    seniority.choices.filter(value="c_level").update(label="Chief")
    data_dictionary.kind_update(kind=ActivityKind.objects.get(key="demo_request"), label="Asked for a demo")

    page = _text(leader.get(reverse("leads:scorecard_job", args=[job.pk])))
    rules = _section(page, "proposed-rules")
    assert "Rank is one of" in rules and "Seniority" not in rules
    assert "Asked for a demo +" in rules and "Demo request" not in rules
    used = _section(page, "card-used")
    assert "Rank" in used and "Asked for a demo" in used and "Seniority" not in used

    token = api_token_create(name="bi")[1]
    body = client.get(f"/api/v1/insights/scorecard/{job.pk}", headers={"Authorization": f"Bearer {token}"}).json()
    texts = [r["text"] for r in body["result"]["rules"]]
    assert [r["id"] for r in body["result"]["rules"]] == [
        r["id"] for r in job.result["spec"]["fit_rules"] + job.result["spec"]["behaviour_rules"]
    ]
    assert any(t.startswith("Rank is one of") for t in texts) and any(t.startswith("Asked for a demo") for t in texts)

    # Adopted, the draft's model card names them the same way.
    leader.post(reverse("leads:scorecard_adopt", args=[job.pk]))
    draft = AgreementVersion.objects.get(status=AgreementVersion.Status.DRAFT)
    used = _section(_text(leader.get(reverse("alignment:version", args=[draft.number]))), "card-used")
    assert "Rank" in used and "Seniority" not in used


def test_the_lead_page_names_activities_by_the_dictionarys_kind_labels(login, sdr, marketing):
    data_dictionary.kind_create(key="trade_show_scan", label="Badge scanned at a trade show")
    data_dictionary.kind_update(kind=ActivityKind.objects.get(key="demo_request"), label="Asked for a demo")
    lead = LeadFactory()
    ActivityFactory(lead=lead, kind="trade_show_scan")
    ActivityFactory(lead=lead, kind="demo_request")
    page = _text(login(sdr).get(reverse("leads:lead_detail", args=[lead.pk])))
    assert "Badge scanned at a trade show" in page and "Asked for a demo" in page
    assert "Demo request" not in page
