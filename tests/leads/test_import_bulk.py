"""Intake's bulk path (PostgreSQL COPY into a temp table + one INSERT … SELECT): same results as row by row."""

from __future__ import annotations

import datetime as dt
import functools
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from leads import bulk
from leads.intake import writes as intake
from leads.models import Account, Activity, Lead, Transition

pytestmark = pytest.mark.django_db

# Text COPY's format must escape; each survives the round trip unchanged.
AWKWARD = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash", r"\N", "Zoë Ünïcødé ✓", "'quoted' \"both\""]


def _rows(n: int, prefix: str = "bulk") -> list[dict]:
    return [
        {
            "email": f"{prefix}{i}@bulk{i % 7}.example",
            "first_name": AWKWARD[i % len(AWKWARD)],
            "last_name": f"Last {i}",
            "employees": 10 + i,
            "country": "GB",
        }
        for i in range(n)
    ]


def test_a_large_upsert_takes_the_bulk_path_and_stores_every_value_exactly():
    n = bulk.COPY_MIN_ROWS + 50
    result = intake.leads_upsert(rows=_rows(n), defaults={"source": "import"})
    assert len(result.created) == n and not result.updated
    stored = {lead.email: lead for lead in Lead.objects.select_related("account")}
    assert len(stored) == n
    for i in range(n):
        lead = stored[f"bulk{i}@bulk{i % 7}.example"]
        assert lead.first_name == AWKWARD[i % len(AWKWARD)]
        assert lead.last_name == f"Last {i}" and lead.source == "import" and lead.stage == "new"
        assert lead.account.domain == f"bulk{i % 7}.example"
    # Every new lead has exactly one first transition.
    assert Transition.objects.filter(lead__in=result.created, from_stage="", to_stage="new").count() == n


def test_re_uploading_the_same_rows_in_bulk_creates_and_changes_nothing():
    rows = _rows(bulk.COPY_MIN_ROWS + 10)
    intake.leads_upsert(rows=rows)
    counts = (Lead.objects.count(), Account.objects.count(), Transition.objects.count())
    again = intake.leads_upsert(rows=[{**row, "email": row["email"].upper()} for row in rows])
    assert not again.created and not again.updated
    assert (Lead.objects.count(), Account.objects.count(), Transition.objects.count()) == counts


def test_bulk_activities_count_duplicates_and_keep_json_details_exactly():
    intake.leads_upsert(rows=_rows(3))
    lead_ids = list(Lead.objects.values_list("id", flat=True))
    now = timezone.now()
    details = {"page": "/a\tb\\c\nd", "nested": {"quote": '"', "list": [1, "x"]}}
    rows = [
        {"lead_id": lead_ids[i % 3], "kind": "web_visit", "occurred_at": now - dt.timedelta(minutes=i),
         "external_id": f"ext-{i % (bulk.COPY_MIN_ROWS + 20)}", "details": details}
        for i in range(bulk.COPY_MIN_ROWS + 40)
    ]  # fmt: skip
    stored, duplicates, touched = intake.store_activities(rows=rows, now=now)
    assert (stored, duplicates) == (bulk.COPY_MIN_ROWS + 20, 20)
    assert touched == set(lead_ids)
    assert {a.details == details for a in Activity.objects.all()} == {True}
    stored, duplicates, _ = intake.store_activities(rows=rows, now=now)  # a retry stores nothing
    assert (stored, duplicates) == (0, len(rows))


def _at_once(*calls):
    """Run each call in its own thread and database connection, all released together; their
    results in order. Any exception fails the test (a deadlock surfaces here)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_upserts_of_overlapping_rows_create_each_lead_once():
    # Two large imports sharing half their e-mail addresses, at the same time, on real connections.
    n = bulk.COPY_MIN_ROWS + 100
    batches = [_rows(n, "race")[: n // 2 + n // 4], _rows(n, "race")[n // 4 :]]
    batches[1] = [{**row, "email": row["email"].upper()} for row in batches[1]]

    results = _at_once(*(functools.partial(intake.leads_upsert, rows=batch) for batch in batches))

    assert Lead.objects.count() == n
    assert len(results[0].created) + len(results[1].created) == n
    assert Transition.objects.count() == n
    # Each caller knows the id of every lead it named, whoever created it.
    stored = {email.lower(): lead_id for email, lead_id in Lead.objects.values_list("email", "id")}
    for index, rows in enumerate(batches):
        assert results[index].ids == {row["email"].lower(): stored[row["email"].lower()] for row in rows}


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_naming_the_same_companies_in_opposite_orders_do_not_deadlock():
    # Rows reach the database in key order whatever order the files list them in; otherwise two
    # transactions each hold a domain the other wants next and PostgreSQL aborts one of them.
    domains = [f"co{i:03}.example" for i in range(300)]
    batches = [
        [{"email": f"a{i}@{domain}", "company": f"Co {i}"} for i, domain in enumerate(domains)],
        [{"email": f"b{i}@{domain}", "company": f"Co {i}"} for i, domain in reversed(list(enumerate(domains)))],
    ]
    for _ in range(3):
        _at_once(*(functools.partial(intake.leads_upsert, rows=batch) for batch in batches))
        assert Account.objects.count() == len(domains)
        Lead.objects.all().delete()
        Account.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_concurrent_activity_batches_with_the_same_external_ids_in_opposite_orders_store_each_once():
    intake.leads_upsert(rows=[{"email": f"act{i}@same.example"} for i in range(10)])
    lead_ids = sorted(Lead.objects.values_list("id", flat=True))
    now = timezone.now()
    rows = [
        {"lead_id": lead_ids[i % 10], "kind": "web_visit", "occurred_at": now, "external_id": f"ext-{i:04}"}
        for i in range(400)
    ]

    def store(batch: list) -> tuple:
        with transaction.atomic():
            return intake.store_activities(rows=batch, now=now)

    results = _at_once(functools.partial(store, rows), functools.partial(store, list(reversed(rows))))

    assert Activity.objects.count() == 400
    assert results[0][0] + results[1][0] == 400 and results[0][1] + results[1][1] == 400
