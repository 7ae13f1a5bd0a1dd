"""A past lead's path is checked before it is stored: order, dates, which stage may follow which."""

import datetime as dt

import pytest

from leads.intake.history import HistoryError, clean_created_at, clean_history, steps_from_outcome

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
CREATED = dt.datetime(2025, 1, 10, 9, 0, tzinfo=dt.UTC)


def test_a_forward_path_is_kept_in_order():
    steps = clean_history(
        [
            {"stage": "mql", "at": "2025-01-12"},
            {"stage": "sql", "at": "2025-02-01"},
            {"stage": "won", "at": "2025-03-01"},
        ],
        created_at=CREATED,
        now=NOW,
    )
    assert [s.stage for s in steps] == ["mql", "sql", "won"]
    assert steps[-1].at == dt.datetime(2025, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        ([{"stage": "won", "at": "2027-01-01"}], "history.0.at", "future"),
        ([{"stage": "sql", "at": "2025-01-01"}], "history.0.at", "before the lead was created"),
        ([{"stage": "sql", "at": "2025-02-01"}, {"stage": "mql", "at": "2025-01-20"}], "history.1.at", "in order"),
        (
            [{"stage": "won", "at": "2025-02-01"}, {"stage": "sql", "at": "2025-03-01"}],
            "history.1.stage",
            "cannot follow",
        ),
        (
            [{"stage": "sql", "at": "2025-02-01"}, {"stage": "mql", "at": "2025-03-01"}],
            "history.1.stage",
            "cannot follow",
        ),
        ([{"stage": "customer", "at": "2025-02-01"}], "history.0.stage", "not a stage"),
        ([{"stage": "won", "at": "last year"}], "history.0.at", "not a date"),
        (["won"], "history.0", "object"),
    ],
)
def test_bad_paths_are_refused_with_the_place_and_a_reason(steps, field, words):
    with pytest.raises(HistoryError) as caught:
        clean_history(steps, created_at=CREATED, now=NOW)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_creation_time_in_the_future_is_refused():
    with pytest.raises(HistoryError):
        clean_created_at("2027-05-01", now=NOW)
    assert clean_created_at("2024-05-01", now=NOW) == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_a_csv_outcome_becomes_one_step_and_defaults_to_the_creation_time():
    assert [(s.stage, s.at) for s in steps_from_outcome("Won", "", created_at=CREATED, now=NOW)] == [("won", CREATED)]
    assert steps_from_outcome("", "", created_at=CREATED, now=NOW) == []
    with pytest.raises(HistoryError) as caught:
        steps_from_outcome("won", "2024-01-01", created_at=CREATED, now=NOW)
    assert caught.value.field == "outcome_at"
