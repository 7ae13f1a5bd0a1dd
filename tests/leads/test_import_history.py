"""A CSV of past leads: created-at, outcome and outcome-date columns become real dates and paths."""

from __future__ import annotations

import datetime as dt

import pytest

from leads.models import ImportJob, Lead, Stage
from tests.leads.test_import import _import

pytestmark = pytest.mark.django_db


@pytest.fixture
def leader(marketing, login):
    return login(marketing)


CSV = """Email,Company,Lead Stage,Created,Close Date
amara.okafor@lagos-freight.example,Lagos Freight,Closed Won,2024-01-10,2024-03-02
jonas.berg@fjord-hotels.example,Fjord Hotels,Customer,2024-02-01,
li.wei@orchid-retail.example,Orchid Retail,open,2024-02-11,
sam.ortiz@ortiz-labs.example,Ortiz Labs,Closed Won,2024-05-01,2024-04-01
kim.lee@lee-design.example,Lee Design,promoted to king,2024-05-01,
nora.fitz@fitz-co.example,Fitz Co,Opportunity,2031-01-01,
"""


def test_past_leads_come_in_with_their_dates_and_bad_rows_are_reported_by_line(leader):
    job = _import(leader, CSV, "history.csv")
    assert job.status == ImportJob.Status.DONE, job.status
    won = Lead.objects.get(email="amara.okafor@lagos-freight.example")
    assert won.created_at == dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    assert won.stage == Stage.WON
    assert won.transitions.get(to_stage=Stage.WON).at == dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
    assert won.transitions.get(to_stage=Stage.WON).historical
    customer = Lead.objects.get(email="jonas.berg@fjord-hotels.example")
    assert customer.stage == Stage.WON  # no date: reached when it was created
    assert Lead.objects.get(email="li.wei@orchid-retail.example").stage == Stage.NEW
    problems = {line: message for line, _column, message in _errors(job)}
    assert set(problems) == {5, 6, 7}
    assert "comes before" in problems[5]
    assert "not a stage" in problems[6]
    assert "future" in problems[7]
    assert not Lead.objects.filter(email__in=["sam.ortiz@ortiz-labs.example", "nora.fitz@fitz-co.example"]).exists()


def _errors(job: ImportJob):
    for error in job.errors:
        yield error["line"], error["column"], error["message"]
