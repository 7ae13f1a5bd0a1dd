"""One e-mail rule (``clean_email``) for the API, CSV import and the demo: RFC 6531 addresses are people."""

from __future__ import annotations

import string

import pytest
from django.test import Client
from django.utils import timezone
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.intake import writes as intake
from leads.intake.writes import _PLAIN_EMAIL_RE, FieldError, clean_email
from leads.models import Lead

INTERNATIONAL = ["niamh.müller@example.ie", "josé.garcía@bücher.de", "用户@例子.广告", "θσερ@εχαμπλε.ψομ"]


@pytest.mark.parametrize("address", INTERNATIONAL)
def test_internationalised_addresses_are_valid(address):
    assert clean_email(address) == address


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ada..lovelace@example.com", "two periods"),
        ("ada@localhost", "period"),
        ("ada@example.test", "special-use"),
        ("ada@ab--cd.example", "two dashes"),
        ("ada lovelace@example.com", "SPACE"),
        ("@example.com", "before the @-sign"),
    ],
)
def test_invalid_addresses_are_refused_with_the_reason(address, why):
    with pytest.raises(FieldError, match="is not a valid e-mail address") as refused:
        clean_email(address)
    assert why in str(refused.value)


def test_the_domain_is_stored_in_lower_case_and_the_local_part_as_given():
    assert clean_email(" Niamh.Müller@Example.IE ") == "Niamh.Müller@example.ie"
    assert clean_email("Ada@Example.COM") == "Ada@example.com"


_LOCAL = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-.", min_size=1, max_size=70)
_LABEL = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
_TLD = st.sampled_from(["com", "ie", "de", "test", "local", "example", "io", "xn--p1ai", "c0m"])


@settings(max_examples=400, deadline=None)
@given(local=_LOCAL, labels=st.lists(_LABEL, min_size=1, max_size=3), tld=_TLD)
def test_the_fast_path_accepts_only_what_email_validator_accepts_and_stores_the_same(local, labels, tld):
    address = f"{local}@{'.'.join(labels)}.{tld}"
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    if _PLAIN_EMAIL_RE.match(address) and tld not in ("test", "local"):
        assert expected is not None, address
    try:
        assert clean_email(address) == expected
    except FieldError:
        assert expected is None


@pytest.fixture
def api(db):
    _, raw = intake.api_token_create(name="Web forms")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_api_takes_an_internationalised_address_for_a_lead_and_an_activity(api):
    response = api.post("/api/v1/leads", {"email": "Niamh.Müller@Example.IE"}, content_type="application/json")
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    assert (lead.email, lead.email_domain) == ("Niamh.Müller@example.ie", "example.ie")

    batch = {"activities": [{"email": "josé@bücher.de", "kind": "web_visit", "occurred_at": "2026-03-09T10:00:00Z"}]}
    response = api.post("/api/v1/activities", batch, content_type="application/json")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 1
    assert Lead.objects.filter(email="josé@bücher.de", email_domain="bücher.de").exists()


def test_every_address_the_demo_seeds_is_one_the_api_accepts(db):
    from demo.builder import DemoBuilder

    builder = DemoBuilder(leads=400, weeks=4, seed=7, anchor=timezone.now())
    sims = builder.make_leads(builder.make_accounts(), [])
    assert any(not sim.email.isascii() for sim in sims)  # the demo has people such as Niamh Müller
    assert all(clean_email(sim.email) == sim.email for sim in sims)
