"""Every page of leads, alignment and sla refuses a malformed query string with a 4xx and a
message, never a 500: each URL pattern is fetched with junk in every parameter any view reads."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from leads.models import Stage
from tests.factories import AgreementVersionFactory, LeadFactory, PersonaFactory

# Every query-string name a view of these apps reads (grep ``request.GET``), plus a few it does not.
PARAMETERS = (
    *("version", "days", "page", "tab", "after", "q", "grade", "persona", "source", "country", "stage"),
    *("next", "ctx", "was", "to", "from", "index", "editing", "revision", "scope", "show", "team", "sdr"),
    *("metric", "reason", "sort", "import", "owner", "week", "start", "end", "format", "kind"),
    *("imported", "watching", "holidays", "holiday_country", "holiday_year", "holiday_region", "bucket"),
)
JUNK = ("abc", "1.5", "-1", "99999999999999999999999", "1e3", "\x00", "' OR 1=1 --", "2026-13-45", "~~~", "[]")


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name in ("leads", "alignment", "sla"):
                yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and prefix:
            yield prefix + str(entry.pattern)


ROUTES = sorted(set(_patterns(get_resolver())))


def _path(route: str, ids: dict[str, str]) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids[m.group(1)], route)


def test_every_app_route_is_covered():
    assert any(r.startswith("leads/evidence") for r in ROUTES)
    assert any(r.startswith("agreement/") for r in ROUTES)
    assert any(r.startswith("sla/") for r in ROUTES)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_query_string_never_answers_500(route, junk, admin_user, login):
    version = AgreementVersionFactory(number=1)
    persona = PersonaFactory()
    lead = LeadFactory(stage=Stage.MQL)
    ids = {"pk": str(lead.pk), "number": str(version.number), "section": "fit", "key": "funnel"}
    ids["pk"] = str(lead.pk if route.startswith("leads/") else persona.pk)
    client = login(admin_user)
    client.raise_request_exception = False
    response = client.get(_path(route, ids), dict.fromkeys(PARAMETERS, junk))
    assert response.status_code < 500, (route, junk, response.content[:300])
    if response.status_code == 400:
        assert response.content.strip(), "a refused parameter says why"


@pytest.mark.parametrize("value", ["abc", "1.5", "-2", "99999999999999999999"])
def test_evidence_refuses_a_version_that_is_not_a_whole_number(value, marketing, login):
    AgreementVersionFactory(number=1)

    response = login(marketing).get("/leads/evidence/", {"version": value})

    assert response.status_code == 400
    assert "“version” must be a whole number" in response.content.decode()


def test_evidence_of_a_version_that_does_not_exist_is_a_404(marketing, login):
    assert login(marketing).get("/leads/evidence/", {"version": "42"}).status_code == 404


def test_a_nul_character_in_any_parameter_is_refused(marketing, login):
    response = login(marketing).get("/agreement/personas/", {"show": "all\x00"})
    assert response.status_code == 400 and "control character" in response.content.decode()


@pytest.mark.parametrize(
    ("url", "params", "named"),
    [
        ("/agreement/personas/", {"show": "everything"}, "show"),
        ("/agreement/history/", {"page": "1.5"}, "page"),
        ("/agreement/diff/", {"to": "abc"}, "to"),
        ("/sla/reports/", {"team": "abc"}, "team"),
        ("/leads/import/history/", {"page": "-3"}, "page"),
    ],
)
def test_a_malformed_value_is_named_in_the_refusal(url, params, named, admin_user, login):
    response = login(admin_user).get(url, params)
    assert response.status_code == 400
    assert f"“{named}”" in response.content.decode()
