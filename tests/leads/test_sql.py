"""SQL fragments bind every value and compose without parameter collisions."""

import pytest

from leads.models import Lead
from leads.sql import join, query, run, sql, table
from tests.factories import LeadFactory


def test_values_are_bound_never_spliced():
    frag = sql("SELECT {a}", a="x'; DROP TABLE leads_lead; --")
    assert "DROP" not in frag.text
    assert list(frag.params.values()) == ["x'; DROP TABLE leads_lead; --"]


def test_nested_fragments_with_the_same_slot_names_keep_both_values():
    left = sql("{v}", v=1)
    right = sql("{v}", v=2)
    both = sql("{left} + {right}", left=left, right=right)
    assert sorted(both.params.values()) == [1, 2]
    assert len(both.params) == 2


def test_missing_or_unused_parts_are_refused():
    with pytest.raises(KeyError):
        sql("SELECT {a}")
    with pytest.raises(KeyError):
        sql("SELECT 1", a=1)


@pytest.mark.django_db
def test_a_composed_statement_runs_with_table_names_from_meta():
    where = join(" AND ", [sql("1 = {one}", one=1), sql("{t} = {t2}", t="a", t2="a")])
    rows = run(sql("SELECT COUNT(*) FROM {lead} WHERE {where}", lead=table(Lead), where=where))
    assert rows == [(0,)]


@pytest.mark.django_db
def test_a_querysets_sql_nests_in_a_statement_with_its_parameters_bound_by_name():
    LeadFactory(email="fifty%off@shop.example", stage="mql")
    LeadFactory(email="other@shop.example", stage="mql")
    inner = query(Lead.objects.filter(email__contains="%off", stage="mql").values("id"))
    assert "%s" not in inner.text.replace("%%", "")
    rows = run(sql("SELECT COUNT(*) FROM ({inner}) AS x WHERE {yes} = {yes}", inner=inner, yes=sql("{v}", v=1)))
    assert rows == [(1,)]
