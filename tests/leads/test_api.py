"""The integration API: tokens, lead upsert, activity batches, reads, error shapes."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.intake import writes as intake
from leads.models import Account, Activity, ApiToken, Lead, Stage, Transition, hash_token
from tests.factories import AccountFactory, AgreementVersionFactory, LeadFactory, TeamFactory


@pytest.fixture
def raw_token(db):
    _, raw = intake.api_token_create(name="Marketing automation")
    return raw


@pytest.fixture
def api(raw_token):
    """A client that sends the bearer token and JSON."""

    class ApiClient:
        def __init__(self):
            self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")

        def post(self, path, body, **extra):
            data = body if isinstance(body, str | bytes) else json.dumps(body)
            return self.client.post(f"/api/v1{path}", data, content_type="application/json", **extra)

        def get(self, path, **params):
            return self.client.get(f"/api/v1{path}", params)

    return ApiClient()


def _activity(n: int = 0, **overrides) -> dict:
    item = {
        "email": f"visitor{n}@acme.example",
        "kind": "pricing_page_visit",
        "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        "external_id": f"evt-{n}",
    }
    item.update(overrides)
    return item


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer acc_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_requests_without_a_valid_token_get_401_json(db, header):
    client = Client(**({"HTTP_AUTHORIZATION": header} if header else {}))
    response = client.post("/api/v1/leads", {"email": "a@b.example"}, content_type="application/json")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Lead.objects.exists()


def test_revoked_token_gets_401(api, raw_token):
    token = ApiToken.objects.get(key_hash=hash_token(raw_token))
    intake.api_token_revoke(token=token)
    response = api.get("/leads")
    assert response.status_code == 401


def test_token_use_is_recorded(api, raw_token):
    assert api.get("/leads").status_code == 200
    token = ApiToken.objects.get(key_hash=hash_token(raw_token))
    assert token.last_used_at is not None
    assert token.prefix == raw_token[:12]


def test_create_api_token_command_prints_the_key_once_and_stores_only_its_hash(db):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "Web forms", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(name="Web forms")
    assert raw.startswith("acc_") and len(raw) > 40
    assert token.key_hash == hash_token(raw) and raw not in token.key_hash
    assert "cannot be shown again" in err.getvalue()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/leads").status_code == 200


# --- Lead upsert ----------------------------------------------------------------------------


def test_posting_a_new_lead_creates_it_in_stage_new_with_its_account_and_first_transition(api):
    team = TeamFactory(name="Inside Sales")
    response = api.post(
        "/leads",
        {
            "email": "Ada.Lovelace@Analytical.Example",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "job_title": "VP Marketing",
            "seniority": "vp",
            "department": "marketing",
            "company": "Analytical Engines",
            "industry": "Software",
            "employees": 800,
            "country": "GB",
            "source": "webinar",
            "budget": "planned",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    lead = Lead.objects.select_related("account").get(pk=body["id"])
    assert body == {"id": lead.id, "stage": "new", "score": lead.score, "created": True}
    assert lead.email == "Ada.Lovelace@analytical.example"
    assert lead.email_domain == "analytical.example"
    assert lead.stage == Stage.NEW and lead.team == team
    assert lead.account.domain == "analytical.example"
    assert lead.account.name == "Analytical Engines"
    assert (lead.account.country, lead.account.region, lead.account.employees) == ("GB", "EMEA", 800)
    transition = Transition.objects.get(lead=lead)
    assert (transition.from_stage, transition.to_stage, transition.actor) == ("", "new", None)


def test_posting_the_same_email_in_another_case_updates_the_lead_and_keeps_what_is_not_sent(api):
    first = api.post("/leads", {"email": "grace@navy.example", "first_name": "Grace", "job_title": "Engineer"})
    lead = Lead.objects.get(pk=first.json()["id"])
    before = lead.updated_at
    response = api.post("/leads", {"email": "GRACE@NAVY.EXAMPLE", "job_title": "Rear Admiral", "employees": 5000})
    assert response.status_code == 200
    assert response.json()["created"] is False and response.json()["id"] == lead.id
    lead.refresh_from_db()
    assert (lead.first_name, lead.job_title) == ("Grace", "Rear Admiral")
    assert lead.account.employees == 5000
    assert lead.updated_at > before
    assert Lead.objects.count() == 1
    assert Transition.objects.filter(lead=lead).count() == 1


def test_a_lead_attaches_to_the_existing_account_of_its_domain(api):
    account = AccountFactory(domain="initech.example", name="Initech", employees=300)
    response = api.post("/leads", {"email": "peter@initech.example", "company": "Initech Inc"})
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.account == account
    account.refresh_from_db()
    assert account.name == "Initech" and account.employees == 300
    assert Account.objects.count() == 1


def test_free_mailbox_leads_get_no_account_unless_a_domain_is_given(api):
    api.post("/leads", {"email": "someone@gmail.com"})
    assert Lead.objects.get(email="someone@gmail.com").account is None
    api.post("/leads", {"email": "other@gmail.com", "domain": "https://www.Hooli.example/about"})
    assert Lead.objects.get(email="other@gmail.com").account.domain == "hooli.example"


def test_labels_and_other_cases_of_choice_values_are_understood(api):
    response = api.post(
        "/leads", {"email": "x@corp.example", "seniority": "Vice President", "country": "gb", "industry": "software"}
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.select_related("account").get()
    assert (lead.seniority, lead.account.country, lead.account.industry) == ("vp", "GB", "Software")


def test_an_invalid_lead_gets_422_naming_each_bad_field_and_nothing_is_written(api):
    response = api.post(
        "/leads",
        {
            "email": "not-an-email",
            "seniority": "boss",
            "country": "XX",
            "employees": -5,
            "domain": "not a domain",
            "favourite_colour": "blue",
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body["errors"]) == {"email", "seniority", "country", "employees", "domain", "favourite_colour"}
    assert "not a valid e-mail address" in body["errors"]["email"][0]
    assert "use one of: c_level, vp" in body["errors"]["seniority"][0]
    assert "seniority" in body["detail"]
    assert not Lead.objects.exists()


def test_a_lead_without_email_or_external_id_gets_422(api):
    response = api.post("/leads", {"first_name": "Nobody"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"email": ["Give the lead's email or its external_id."]}


@pytest.mark.parametrize("body", ['{"email": ', "[1, 2]", '"text"', "\x00", b"\xff\xfe"])
def test_malformed_bodies_get_a_4xx_with_a_message_never_a_500(api, body):
    response = api.post("/leads", body)
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


def test_text_the_database_cannot_store_is_refused_with_422(api):
    response = api.post("/leads", {"email": "nul@corp.example", "first_name": "A\x00B"})
    assert response.status_code == 422
    assert "NUL" in response.json()["errors"]["first_name"][0]


def test_oversized_bodies_get_413_before_parsing(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    padding = "x" * 20_000
    for path, body in (("/leads", {"email": "big@corp.example", "campaign": padding}), ("/activities", padding)):
        response = api.post(path, body)
        assert response.status_code == 413, path
        assert "10,000 bytes" in response.json()["detail"]
    assert not Lead.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_one_email_create_exactly_one_lead_and_one_transition():
    TeamFactory()
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    outcomes, errors = [], []

    def post(n: int) -> None:
        try:
            barrier.wait()
            lead, created = intake.lead_upsert(
                data={"email": "Race@Condition.example" if n % 2 else "race@condition.example", "job_title": f"T{n}"}
            )
            outcomes.append((lead.id, created))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({lead_id for lead_id, _ in outcomes}) == 1
    assert sum(created for _, created in outcomes) == 1
    assert Lead.objects.count() == 1
    assert Transition.objects.count() == 1
    assert Account.objects.filter(domain="condition.example").count() == 1


# --- Activities -----------------------------------------------------------------------------


def test_a_batch_stores_activities_and_creates_leads_for_unknown_emails(api):
    known = LeadFactory(email="Known@Acme.example")
    before = known.updated_at
    batch = [_activity(0, email="known@acme.example"), _activity(1), _activity(2, email="new@other.example")]
    response = api.post("/activities", {"activities": batch})
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert Activity.objects.filter(lead=known).count() == 1
    created = Lead.objects.exclude(pk=known.pk)
    assert sorted(created.values_list("email", flat=True)) == ["new@other.example", "visitor1@acme.example"]
    assert all(lead.stage == Stage.NEW for lead in created)
    assert Transition.objects.filter(lead__in=created, from_stage="", to_stage="new").count() == 2
    known.refresh_from_db()
    assert known.updated_at > before


def test_retrying_a_batch_stores_nothing_twice_and_counts_duplicates(api):
    batch = {"activities": [_activity(n) for n in range(5)]}
    assert api.post("/activities", batch).json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert api.post("/activities", batch).json() == {"accepted": 0, "duplicates": 5, "rejected": []}
    assert Activity.objects.count() == 5
    assert Lead.objects.count() == 5


def test_duplicates_inside_one_batch_are_stored_once(api):
    batch = [_activity(1), _activity(1), _activity(2), _activity(1), _activity(3, external_id=None)]
    response = api.post("/activities", {"activities": batch})
    assert response.json() == {"accepted": 3, "duplicates": 2, "rejected": []}
    assert Activity.objects.count() == 3
    assert Activity.objects.filter(external_id="evt-1").count() == 1
    assert Activity.objects.filter(external_id__isnull=True).count() == 1


def test_good_activities_are_kept_when_others_are_rejected_by_index(api):
    lead = LeadFactory()
    batch = [
        _activity(0),
        _activity(1, kind="telepathy"),
        {"kind": "web_visit", "occurred_at": timezone.now().isoformat()},
        _activity(3, email=None, lead_id=lead.id),
        _activity(4, email=None, lead_id=999_999),
        _activity(5, occurred_at=(timezone.now() + dt.timedelta(days=3)).isoformat()),
        "not an object",
        _activity(7, occurred_at="yesterday", details={"page": "/pricing"}, colour="red"),
    ]
    response = api.post("/activities", {"activities": batch})
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 4, 5, 6, 7]
    assert "kind" in rejected[1]
    assert rejected[2] == {"email": ["Give the lead's email or its lead_id."]}
    assert rejected[4] == {"lead_id": ["No lead has id 999999."]}
    assert rejected[5] == {"occurred_at": ["The activity date is in the future."]}
    assert set(rejected[7]) == {"occurred_at", "colour"}
    assert set(Activity.objects.values_list("external_id", flat=True)) == {"evt-0", "evt-3"}


def test_a_batch_of_more_than_1000_activities_gets_413(api):
    response = api.post("/activities", {"activities": [_activity(n) for n in range(1001)]})
    assert response.status_code == 413
    assert "at most 1,000" in response.json()["detail"]
    assert not Activity.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [("{not json", 400), ("[]", 422), ('{"activities": {}}', 422), ('{"activities": [], "x": 1}', 422), ("", 422)],
)
def test_malformed_batches_get_a_clear_4xx(api, body, status):
    response = api.post("/activities", body)
    assert response.status_code == status
    assert response.json()["detail"]


def test_an_empty_batch_is_accepted_with_zero_counts(api):
    assert api.post("/activities", {"activities": []}).json() == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_a_batch_of_1000_activities_takes_a_constant_number_of_queries(api, django_assert_max_num_queries):
    LeadFactory.create_batch(3)
    batch = {"activities": [_activity(n, email=f"v{n % 300}@bulk.example") for n in range(1000)]}
    # The data dictionary (activity kinds) is read once: four queries whatever its size.
    with django_assert_max_num_queries(24):
        response = api.post("/activities", batch)
    assert response.json()["accepted"] == 1000
    assert Lead.objects.filter(email_domain="bulk.example").count() == 300


# --- Reads ----------------------------------------------------------------------------------


def test_get_lead_returns_score_stage_and_the_breakdown_under_the_active_agreement(api):
    version = AgreementVersionFactory()
    lead = LeadFactory(seniority="director", account=AccountFactory(industry="Software", employees=800))
    lead.activities.create(kind="demo_request", occurred_at=timezone.now() - dt.timedelta(days=1))
    response = api.get(f"/leads/{lead.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == lead.id and body["stage"] == "new" and body["email"] == lead.email
    explanation = body["explanation"]
    assert explanation["agreement_version"] == version.number
    rules = {rule["rule_id"]: rule for rule in explanation["rules"]}
    assert rules["f1"]["points"] == 15 and rules["f1"]["section"] == "fit"
    assert "Industry" in rules["f1"]["label"]
    assert rules["b1"] == {**rules["b1"], "points": 30, "section": "behaviour"}
    assert explanation["total"] == explanation["fit"] + explanation["engagement"]


def test_get_lead_without_an_active_agreement_has_no_explanation(api):
    lead = LeadFactory()
    assert api.get(f"/leads/{lead.id}").json()["explanation"] is None


@pytest.mark.parametrize("lead_id", ["999999", "99999999999999999999999"])
def test_get_unknown_lead_gets_404_json(api, lead_id):
    response = api.get(f"/leads/{lead_id}")
    assert response.status_code in (404, 422)
    assert response.json()["detail"]


def test_listing_walks_every_lead_once_with_the_cursor(api, django_assert_max_num_queries):
    now = timezone.now()
    leads = LeadFactory.create_batch(7)
    for n, lead in enumerate(leads):  # two share one timestamp: the id breaks the tie
        Lead.objects.filter(pk=lead.pk).update(updated_at=now - dt.timedelta(minutes=10 - min(n, 5)))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        with django_assert_max_num_queries(3):
            body = api.get("/leads", **params).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = list(Lead.objects.order_by("updated_at", "id").values_list("id", flat=True))
    assert seen == expected


def test_listing_filters_by_stage_and_updated_since(api):
    old, recent, mql = LeadFactory.create_batch(3)
    Lead.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=3))
    Lead.objects.filter(pk=mql.pk).update(stage=Stage.MQL)
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert {i["id"] for i in api.get("/leads", updated_since=since).json()["items"]} == {recent.id, mql.id}
    assert [i["id"] for i in api.get("/leads", stage="mql").json()["items"]] == [mql.id]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "garbage!"}, "cursor"),
        ({"stage": "hot"}, "stage"),
        ({"limit": 0}, "limit"),
        ({"updated_since": "x"}, "updated_since"),
    ],
)
def test_bad_list_parameters_get_422_naming_the_parameter(api, params, field):
    response = api.get("/leads", **params)
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_the_openapi_docs_page_is_served(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_creating_a_token_in_the_admin_shows_the_key_once_and_revoking_it_locks_the_integration_out(admin_user, login):
    client = login(admin_user)
    response = client.post(reverse("admin:leads_apitoken_add"), {"name": "Event scanner"})
    assert response.status_code == 200
    raw = re.search(r'value="(acc_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(name="Event scanner")
    assert token.key_hash == hash_token(raw) and token.created_by == admin_user
    assert raw not in client.get(reverse("admin:leads_apitoken_change", args=[token.pk])).content.decode()
    api_client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get("/api/v1/leads").status_code == 200
    client.post(
        reverse("admin:leads_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert api_client.get("/api/v1/leads").status_code == 401


def test_new_activities_rescore_their_lead_after_commit(api, django_capture_on_commit_callbacks):
    version = AgreementVersionFactory()
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/activities", {"activities": [_activity(1, email=lead.email, kind="demo_request")]})
    lead.refresh_from_db()
    assert lead.scored_version == version
    assert lead.engagement_score == 30
