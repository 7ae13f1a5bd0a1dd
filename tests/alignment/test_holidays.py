"""Business calendars prefilled with a country's public holidays (the ``holidays`` package), then edited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from alignment.public_holidays import holiday_text_merge, parse_holiday_text, public_holidays
from tests.alignment.conftest import editor_data

pytestmark = pytest.mark.django_db
URL = reverse("alignment:holidays_prefill")


def test_england_2027_has_its_bank_holidays():
    found = dict(public_holidays(country="GB", subdivision="ENG", years=[2027]))
    assert found[dt.date(2027, 12, 27)] == "Christmas Day (observed)"
    assert found[dt.date(2027, 3, 29)] == "Easter Monday"
    assert dt.date(2027, 1, 4) not in found  # Scotland's 2 January holiday moves there, England's does not


def test_unknown_countries_and_regions_are_refused_by_name():
    with pytest.raises(ValueError, match="'XX'"):
        public_holidays(country="XX", years=[2027])
    with pytest.raises(ValueError, match="'ZZZ' is not a region of United Kingdom"):
        public_holidays(country="GB", subdivision="ZZZ", years=[2027])


def test_the_field_keeps_what_was_typed_and_adds_named_holidays_by_date():
    text = holiday_text_merge("2027-08-02 Company day\n2027-01-01", [(dt.date(2027, 1, 1), "New Year's Day")])
    assert text == "2027-01-01\n2027-08-02 Company day"
    assert parse_holiday_text("2027-12-25 Christmas Day, 2027-12-26; 2027-12-27 2027-12-28") == [
        "2027-12-25",
        "2027-12-26",
        "2027-12-27",
        "2027-12-28",
    ]


def test_the_editor_offers_every_country_and_the_prefill_fills_the_field(login, draft, marketing):
    client = login(marketing)
    page = client.get(reverse("alignment:edit", args=[draft.number])).content.decode()
    assert 'data-testid="holiday-prefill"' in page
    assert '<option value="DE">Germany</option>' in page
    response = client.get(
        URL, {"holiday_country": "DE", "holiday_year": dt.date.today().year, "holidays": "2099-01-02 Ours"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f"{dt.date.today().year}-10-03 German Unity Day" in html
    assert "2099-01-02 Ours" in html and "Added 9 public holidays" in html


def test_a_bad_country_or_year_gets_a_message_not_a_crash(login, marketing):
    client = login(marketing)
    assert "No public holidays are known" in client.get(URL, {"holiday_country": "XX"}).content.decode()
    assert client.get(URL, {"holiday_country": "DE", "holiday_year": "abc"}).status_code == 400
    assert client.get(URL, {"holiday_country": "DE", "holiday_year": "1900"}).status_code == 400


def test_only_leaders_prefill(login, sdr):
    assert login(sdr).get(URL, {"holiday_country": "DE"}).status_code == 403


def test_saving_named_holidays_stores_the_dates_only(login, draft, marketing):
    data = editor_data(draft.spec, revision=draft.revision)
    data["holidays"] = "2027-12-25 Christmas Day\n2027-12-27 Christmas Day (observed)"
    response = login(marketing).post(reverse("alignment:edit", args=[draft.number]), data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.spec["sla"]["calendar"]["holidays"] == ["2027-12-25", "2027-12-27"]
