"""``where``: parsed with errors naming the view, field and reason; evaluated as SQL would, checked
against DuckDB over the same events (``tests.support.where_sql``, written from the contract)."""

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import ViewsError
from common.model.conditions import parse_where
from common.model.views import FIELD_RE, RESERVED, parse_catalog
from tests.support.where_sql import where_sql


def where_of(raw):
    return parse_where(raw, "test.yaml: view 'v'", "where", FIELD_RE, RESERVED)


def matches(raw, props) -> bool:
    return where_of(raw).predicate()(props)


def error_of(raw) -> str:
    with pytest.raises(ViewsError) as info:
        where_of(raw)
    return str(info.value)


# -- meaning ---------------------------------------------------------------------------


def test_a_scalar_is_equality_and_a_list_is_membership():
    assert matches({"country": "NL"}, {"country": "NL"})
    assert not matches({"country": "NL"}, {"country": "DE"})
    assert matches({"country": ["NL", "BE"]}, {"country": "BE"})
    assert not matches({"country": ["NL", "BE"]}, {})


def test_every_condition_must_hold():
    where = {"country": "NL", "amount": {"gt": 10, "le": 20}}
    assert matches(where, {"country": "NL", "amount": 20})
    assert not matches(where, {"country": "NL", "amount": 21})
    assert not matches(where, {"country": "DE", "amount": 15})


def test_null_compares_false_except_is_null():
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert not matches({"x": {op: 1}}, {}), op
        assert not matches({"x": {op: 1}}, {"x": None}), op
    assert not matches({"x": {"in": [1]}}, {})
    assert not matches({"x": {"not_in": [1]}}, {})  # SQL: NULL NOT IN (1) is not true
    assert matches({"x": {"is_null": True}}, {})
    assert matches({"x": {"is_null": True}}, {"x": None})
    assert not matches({"x": {"is_null": True}}, {"x": 0})
    assert matches({"x": {"is_null": False}}, {"x": ""})


def test_numbers_compare_as_numbers_and_text_as_text():
    assert matches({"delay": {"gt": 15}}, {"delay": 15.5})
    assert matches({"delay": {"gt": 15}}, {"delay": "16"})  # numeric text, as metrics read it
    assert not matches({"delay": {"gt": 15}}, {"delay": "late"})
    assert matches({"delay": 15}, {"delay": 15.0})
    assert matches({"code": "15"}, {"code": 15})  # text of a number, as dimensions read it
    assert not matches({"delay": {"ne": 15}}, {"delay": "late"})  # no number: null to a number
    assert not matches({"delay": {"not_in": [15]}}, {"delay": "late"})
    assert matches({"delay": {"ne": 15}}, {"delay": "16"})
    assert matches({"name": {"lt": "b"}}, {"name": "abc"})  # code point order
    assert not matches({"name": {"lt": "B"}}, {"name": "abc"})


def test_booleans_compare_by_their_text():
    assert matches({"cancelled": False}, {"cancelled": False})
    assert not matches({"cancelled": False}, {"cancelled": True})
    assert not matches({"cancelled": False}, {})
    assert matches({"cancelled": {"ne": True}}, {"cancelled": False})


def test_the_canonical_form_ignores_the_order_conditions_are_written_in():
    a = where_of({"b": {"lt": 5, "gt": 1}, "a": "x"})
    b = where_of({"a": {"eq": "x"}, "b": {"gt": 1, "lt": 5}})
    assert a == b and a.spec() == b.spec()


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"x": {"like": "a%"}}, "field 'where.x': unknown operator 'like'"),
        ({"x": {"lt": True}}, "field 'where.x.lt': a boolean has no order"),
        ({"x": None}, "field 'where.x': null never compares equal"),
        ({"x": []}, "field 'where.x': the list of values is empty"),
        ({"x": {"in": "NL"}}, "field 'where.x.in': expected a list"),
        ({"x": {"is_null": "yes"}}, "field 'where.x.is_null': expected true or false"),
        ({"x": {}}, "field 'where.x': expected at least one of"),
        ({"x": {"eq": {"a": 1}}}, "field 'where.x.eq': expected a text, number or boolean"),
        ({"x": float("nan")}, "expected a finite number"),
        ({"x": {"gt": 10**400}}, "field 'where.x.gt': an integer beyond ±2^53"),
        ({"ts": 1}, "'ts' is not a usable property name"),
        ({"bad-name": 1}, "'bad-name' is not a usable property name"),
        ({}, "field 'where': expected a mapping"),
        ([1], "field 'where': expected a mapping"),
    ],
)
def test_an_invalid_where_names_the_view_the_field_and_the_reason(raw, reason):
    message = error_of(raw)
    assert message.startswith("test.yaml: view 'v': ")
    assert reason in message


def test_a_views_file_with_an_invalid_metric_where_names_the_metric():
    view = {
        "name": "v",
        "event_type": "t",
        "granularity": "hour",
        "metrics": {"late": {"kind": "count", "where": {"delay": {"over": 15}}}},
    }
    with pytest.raises(ViewsError, match=r"view 'v': field 'metrics.late.where.delay': unknown"):
        parse_catalog({"views": [view]}, source="views.yaml")


# -- against DuckDB --------------------------------------------------------------------

NUMBERS = st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([0.5, -0.0, 2.25, 1e20]))
TEXTS = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "B", "é", "10", "2", " 2 ", "2.0"]))
EVENTS = st.lists(
    st.fixed_dictionaries({}, optional={"n": NUMBERS, "t": TEXTS}), min_size=1, max_size=30
)


def conditions(values: st.SearchStrategy) -> st.SearchStrategy:
    present = values.filter(lambda v: v is not None)
    lists = st.lists(present, min_size=1, max_size=3)
    single = st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])
    return st.one_of(
        present,
        lists,
        st.dictionaries(single, present, min_size=1, max_size=2),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["in", "not_in"]), lists),
        st.builds(lambda b: {"is_null": b}, st.booleans()),
    )


# Text properties meet text and numbers (read as numbers then, as TRY_CAST reads them).
WHERES = st.fixed_dictionaries(
    {}, optional={"n": conditions(NUMBERS), "t": st.one_of(conditions(TEXTS), conditions(NUMBERS))}
).filter(bool)


@settings(max_examples=200, deadline=None)
@given(events=EVENTS, raw=WHERES)
def test_where_selects_what_sql_selects(events, raw):
    where = where_of(raw)
    predicate = where.predicate()
    table = pa.table(
        {
            "i": pa.array(range(len(events)), pa.int64()),
            "n": pa.array([e.get("n") for e in events], pa.float64()),
            "t": pa.array([e.get("t") for e in events], pa.string()),
        }
    )
    connection = duckdb.connect()
    connection.register("events", table)
    sql = f"SELECT i FROM events WHERE {where_sql(where, {'n'})} ORDER BY i"
    expected = [row[0] for row in connection.execute(sql).fetchall()]
    assert [i for i, e in enumerate(events) if predicate(e)] == expected, sql
