"""Event validation: what ingest accepts, what it refuses, and the Kafka record format."""

import math
import uuid

import orjson
import pytest

from common.errors import EventError
from common.model.events import (
    MAX_ID_LENGTH,
    MAX_PROPERTIES,
    MAX_PROPERTY_NAME_LENGTH,
    Event,
    decode_event,
    validate_events,
)
from common.model.timeutil import MAX_TS_MS
from common.model.views import parse_catalog

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z
RECEIVED = 1_770_000_000_123

CATALOG = parse_catalog(
    {
        "views": [
            {
                "name": "revenue",
                "event_type": "purchase",
                "dimensions": ["country"],
                "granularity": "hour",
                "metrics": {"orders": "count", "revenue": {"sum": "amount"}},
            },
            {
                "name": "sizes",
                "event_type": "purchase",
                "granularity": "day",
                "metrics": {"largest": {"max": "items"}, "buyers": {"distinct": "user_id"}},
            },
            {
                "name": "pages",
                "event_type": "page_view",
                "dimensions": ["page"],
                "granularity": "minute",
                "metrics": {"views": "count", "visitors": {"distinct": "user_id"}},
            },
        ]
    }
)
NUMERIC = CATALOG.numeric_fields_by_type()


def validate(raw_events):
    validation = validate_events(raw_events, NUMERIC, RECEIVED)
    assert validation.total == len(validation.problems)  # under the cap, all are listed
    return validation.events, validation.problems


def one_problem(raw_event):
    events, problems = validate([raw_event])
    assert events == []
    assert len(problems) == 1, problems
    return problems[0]


def test_numeric_fields_come_from_the_catalog():
    assert {"purchase": {"amount", "items"}, "page_view": set()} == NUMERIC


def test_valid_single_event():
    events, problems = validate(
        [
            {
                "id": "e-1",
                "type": "purchase",
                "ts": "2026-01-31T17:00:00Z",
                "amount": 12.5,
                "items": 3,
                "country": "DE",
                "member": True,
                "coupon": None,
            }
        ]
    )
    assert problems == []
    assert events == [
        Event(
            id="e-1",
            type="purchase",
            ts=T0,
            props={"amount": 12.5, "items": 3, "country": "DE", "member": True, "coupon": None},
        )
    ]


def test_ids_are_assigned_as_uuids_when_absent():
    events, problems = validate([{"type": "page_view"}, {"type": "page_view"}])
    assert problems == []
    ids = [e.id for e in events]
    assert len(set(ids)) == 2
    for value in ids:
        assert str(uuid.UUID(value)) == value
    assert all("id" not in e.props for e in events)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-01-31T17:00:00Z", T0),
        ("2026-01-31T17:00:00z", T0),
        ("2026-01-31T17:00:00.250Z", T0 + 250),
        ("2026-01-31T18:00:00+01:00", T0),
        ("2026-01-31T12:30:00-04:30", T0),
        ("2026-01-31T17:00:00+00:00", T0),
        ("2026-01-31 17:00:00Z", T0),
        ("1970-01-01T00:00:00Z", 0),
        ("9999-12-31T23:59:59.999Z", MAX_TS_MS),
    ],
)
def test_ts_as_rfc3339(ts, expected):
    events, problems = validate([{"type": "page_view", "ts": ts}])
    assert problems == []
    assert events[0].ts == expected
    assert "ts" not in events[0].props


@pytest.mark.parametrize("ts", [0, T0, MAX_TS_MS])
def test_ts_as_epoch_ms(ts):
    events, problems = validate([{"type": "page_view", "ts": ts}])
    assert problems == []
    assert events[0].ts == ts


@pytest.mark.parametrize("ts", [996.0, 1.7e12, float(MAX_TS_MS)])
def test_ts_as_a_whole_number_written_with_a_fraction(ts):
    # JSON has one number type: 1.7e12 is an integer (JSON Schema's `integer` includes it)
    events, problems = validate([{"type": "page_view", "ts": ts}])
    assert problems == []
    assert events[0].ts == int(ts)
    assert type(events[0].ts) is int
    assert decode_event(events[0].encode()).ts == int(ts)


def test_ts_absent_or_null_is_the_received_time():
    events, problems = validate([{"type": "page_view"}, {"type": "page_view", "ts": None}])
    assert problems == []
    assert [e.ts for e in events] == [RECEIVED, RECEIVED]


@pytest.mark.parametrize(
    "ts",
    [
        "2026-01-31T17:00:00",  # no offset
        "2026-01-31",  # no time
        "yesterday",
        "",
        1.7e12 + 0.5,  # not whole milliseconds
        1e300,
        True,
        -1,
        MAX_TS_MS + 1,
        "1969-12-31T23:59:59Z",
        ["2026-01-31T17:00:00Z"],
    ],
)
def test_bad_ts_is_refused(ts):
    problem = one_problem({"type": "page_view", "ts": ts})
    assert problem.index == 0
    assert problem.field == "ts"


def test_ts_without_offset_says_so():
    problem = one_problem({"type": "page_view", "ts": "2026-01-31T17:00:00"})
    assert "time zone offset is missing" in problem.msg


def test_id_limits():
    longest = "x" * MAX_ID_LENGTH
    events, problems = validate([{"type": "page_view", "id": longest}])
    assert problems == []
    assert events[0].id == longest
    for bad in ("x" * (MAX_ID_LENGTH + 1), "", 42, True):
        problem = one_problem({"type": "page_view", "id": bad})
        assert problem.field == "id"
        assert f"1-{MAX_ID_LENGTH} characters" in problem.msg


def test_a_null_id_is_an_absent_id():
    events, problems = validate([{"type": "page_view", "id": None}])
    assert problems == []
    assert len(events[0].id) == 36  # an assigned UUID


@pytest.mark.parametrize("text", ["purchase\n", "x" * 100 + "\n"])
def test_a_trailing_newline_is_not_part_of_a_valid_type(text):
    assert one_problem({"type": text}).field == "type"


def test_missing_type():
    problem = one_problem({"id": "a", "amount": 3})
    assert problem.field == "type"
    assert "field required" in problem.msg


@pytest.mark.parametrize("event_type", ["page view", "page/view", "", "a" * 101, 5, None, "ü"])
def test_bad_type_characters(event_type):
    problem = one_problem({"type": event_type})
    assert problem.field == "type"
    assert "[A-Za-z0-9_.-]" in problem.msg


@pytest.mark.parametrize("event_type", ["_batch", "_"])
def test_types_beginning_with_an_underscore_are_reserved(event_type):
    problem = one_problem({"type": event_type})
    assert problem.field == "type"
    assert "reserved" in problem.msg


def test_property_names_are_1_to_256_characters():
    longest = "p" * MAX_PROPERTY_NAME_LENGTH
    events, problems = validate([{"type": "page_view", longest: 1}])
    assert problems == []
    assert events[0].props == {longest: 1}
    for bad in ("", "p" * (MAX_PROPERTY_NAME_LENGTH + 1)):
        problem = one_problem({"type": "page_view", bad: 1})
        assert problem.field == bad
        assert f"1-{MAX_PROPERTY_NAME_LENGTH} characters" in problem.msg


def test_an_event_has_at_most_1000_properties():
    most = {f"p{i}": i for i in range(MAX_PROPERTIES)}
    full = {"type": "page_view", "id": "a", "ts": T0, **most}
    events, problems = validate([full])
    assert problems == []
    assert len(events[0].props) == MAX_PROPERTIES
    problem = one_problem({**full, "one_more": 1})
    assert problem.field is None
    assert f"at most {MAX_PROPERTIES:,} properties" in problem.msg


def test_longest_type_is_accepted():
    events, problems = validate([{"type": "A.b-c_" + "z" * 94}])
    assert problems == []
    assert len(events[0].type) == 100


@pytest.mark.parametrize(("value", "kind"), [({"a": 1}, "object"), ([1, 2], "array")])
def test_nested_properties_are_refused(value, kind):
    problem = one_problem({"type": "page_view", "meta": value})
    assert problem.field == "meta"
    assert f"nested {kind}s are not allowed" in problem.msg


def test_non_numeric_value_for_a_summed_field_is_refused_naming_the_field():
    problem = one_problem({"type": "purchase", "amount": "12.50"})
    assert problem.field == "amount"
    assert "must be a number or null" in problem.msg
    assert '"12.50"' in problem.msg
    # a field read by max in another view of the same type is numeric too
    problem = one_problem({"type": "purchase", "items": "three"})
    assert problem.field == "items"


def test_bool_for_a_numeric_field_is_refused():
    problem = one_problem({"type": "purchase", "amount": True})
    assert problem.field == "amount"
    assert "true" in problem.msg


def test_numeric_fields_accept_numbers_and_null():
    events, problems = validate(
        [
            {"type": "purchase", "amount": 1},
            {"type": "purchase", "amount": -2.5},
            {"type": "purchase", "amount": None},
            {"type": "purchase"},
        ]
    )
    assert problems == []
    assert [e.props.get("amount") for e in events] == [1, -2.5, None, None]


def test_a_field_is_numeric_only_for_the_types_whose_views_aggregate_it():
    events, problems = validate(
        [
            {"type": "page_view", "amount": "free", "user_id": 7},
            {"type": "refund", "amount": "twelve"},
            {"type": "purchase", "user_id": "u1", "country": False},
        ]
    )
    assert problems == []
    assert len(events) == 3


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["amount", "other"])
def test_non_finite_floats_are_refused(value, field):
    problem = one_problem({"type": "purchase", field: value})
    assert problem.field == field
    assert "finite" in problem.msg


def test_non_object_event():
    events, problems = validate([{"type": "page_view"}, "page_view"])
    assert events == []
    assert [(p.index, p.field) for p in problems] == [(1, None)]
    assert "must be a JSON object, got string" in problems[0].msg
    assert problems[0].as_detail()["loc"] == ["body", 1]


def test_one_bad_event_refuses_the_whole_request():
    raw = [
        {"type": "purchase", "amount": 1},
        {"type": "purchase", "amount": 2},
        {"type": "purchase", "amount": "x"},
        {"type": "purchase", "amount": 4},
    ]
    events, problems = validate(raw)
    assert events == []
    assert len(problems) == 1
    assert problems[0].index == 2
    assert problems[0].as_detail() == {
        "loc": ["body", 2, "amount"],
        "index": 2,
        "field": "amount",
        "msg": problems[0].msg,
    }


def test_every_problem_is_reported_with_its_index():
    raw = [
        {"type": "bad type", "amount": 1},
        {"type": "purchase"},
        {"type": "purchase", "amount": "x", "id": "", "nested": [1]},
        7,
    ]
    _, problems = validate(raw)
    assert [(p.index, p.field) for p in problems] == [
        (0, "type"),
        (2, "id"),
        (2, "amount"),
        (2, "nested"),
        (3, None),
    ]


def test_a_bad_first_event_does_not_let_later_ones_through():
    events, problems = validate([{"ts": 1}, {"type": "page_view"}])
    assert events == []
    assert [p.index for p in problems] == [0]


def test_events_keep_request_order():
    raw = [{"type": "page_view", "id": f"id-{i}", "ts": T0 + i} for i in range(5)]
    events, problems = validate(raw)
    assert problems == []
    assert [e.id for e in events] == [f"id-{i}" for i in range(5)]
    assert [e.ts for e in events] == [T0 + i for i in range(5)]


def test_encode_decode_round_trip():
    event = Event(
        id="é-1",
        type="purchase",
        ts=T0,
        props={"amount": 1.5, "n": 2, "ok": False, "none": None, "text": "日本"},
    )
    assert decode_event(event.encode()) == event
    assert event.key() == "é-1".encode()


def test_validated_events_round_trip():
    events, _ = validate([{"type": "purchase", "amount": 3, "country": "FR"}])
    assert decode_event(events[0].encode()) == events[0]


def _record(**fields) -> bytes:
    record = {"id": "a", "type": "purchase", "ts": T0, "props": {}}
    record.update(fields)
    return orjson.dumps(record)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no value"),
        (b"\xff\xfe{", "not JSON"),
        (b"null", "a JSON object"),
        (b"[1, 2]", "a JSON object"),
        (b"not json", "not JSON"),
        (b"{}", "props"),
        (b'{"id": "a", "type": "t", "ts": "soon", "props": {}}', "ts"),
        (_record(id=5), "id"),
        (_record(props={"basket": {"items": 2}}), "nested"),
        (_record(props={"tags": [1]}), "nested"),
        (b'{"id": "a", "type": "purchase", "ts": 1e30, "props": {}}', "ts"),
        (_record(ts=-1), "ts"),
        (_record(ts=True), "ts"),
        (_record(type="_invalid"), "reserved"),
        (_record(props={"id": "x"}), "props"),
        (_record(props={"x" * 257: 1}), "1-256 characters"),
        (_record(props={f"p{i}": i for i in range(1001)}), "1,000"),
        (_record(extra=1), "extra"),
        (b'{"id": "a", "type": "purchase", "ts": 1}', "props"),
    ],
)
def test_decode_refuses_foreign_records_with_a_reason(value, reason):
    with pytest.raises(EventError, match=reason):
        decode_event(value)


def test_every_accepted_event_decodes_back_to_itself():
    raw = {"type": "t", "big": 18446744073709551615, "neg": -0.0, "tiny": 5e-324, "s": "١٢"}
    events, _ = validate([raw])
    assert decode_event(events[0].encode()) == events[0]
