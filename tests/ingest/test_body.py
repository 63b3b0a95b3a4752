"""Reading a POST /events body: one event, a JSON array or NDJSON, within the limits."""

import pytest

from ingest.body import BodyError, TooLarge, parse_body

JSON = "application/json"
NDJSON = "application/x-ndjson"


def body_error(body, content_type=JSON, max_events=100) -> BodyError:
    with pytest.raises(BodyError) as info:
        parse_body(body, content_type, max_events)
    return info.value


def test_one_json_object():
    assert parse_body(b'{"type": "page_view", "page": "/"}', JSON, 100) == [
        {"type": "page_view", "page": "/"}
    ]


def test_json_array():
    body = b'[{"type": "a"}, {"type": "b", "n": 1.5}]'
    assert parse_body(body, JSON, 100) == [{"type": "a"}, {"type": "b", "n": 1.5}]


def test_array_items_are_returned_unvalidated():
    # events are validated afterwards, per index; the body reader keeps them as they are
    assert parse_body(b'[{"type": "a"}, 3, "x", null]', JSON, 100) == [{"type": "a"}, 3, "x", None]


@pytest.mark.parametrize(
    "content_type",
    [
        NDJSON,
        "application/x-ndjson; charset=utf-8",
        "Application/X-NDJSON",
        "application/ndjson",
        "application/jsonl",
    ],
)
def test_ndjson(content_type):
    body = b'{"type": "a", "i": 1}\n{"type": "b", "i": 2}\n'
    assert parse_body(body, content_type, 100) == [{"type": "a", "i": 1}, {"type": "b", "i": 2}]


def test_ndjson_skips_blank_lines_and_accepts_crlf():
    body = b'\n{"type": "a"}\r\n\r\n   \n{"type": "b"}\n\n'
    assert parse_body(body, NDJSON, 100) == [{"type": "a"}, {"type": "b"}]


def test_ndjson_without_trailing_newline():
    assert parse_body(b'{"type": "a"}\n{"type": "b"}', NDJSON, 100) == [
        {"type": "a"},
        {"type": "b"},
    ]


def test_json_with_charset_parameter_is_json():
    assert parse_body(b'{"type": "a"}', "application/json; charset=utf-8", 1) == [{"type": "a"}]


def test_unknown_content_type_is_read_as_json():
    assert parse_body(b'[{"type": "a"}]', "text/plain", 10) == [{"type": "a"}]
    assert parse_body(b'{"type": "a"}', "", 10) == [{"type": "a"}]


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2", b'{"type": "a"}\n{"type": "b"}'])
def test_bad_json_is_400(body):
    problem = body_error(body)
    assert problem.status == 400
    assert problem.detail[0]["loc"] == ["body"]
    assert "not valid JSON" in problem.detail[0]["msg"]
    assert str(problem) == problem.detail[0]["msg"]


def test_bad_ndjson_line_is_400_naming_the_line():
    problem = body_error(b'{"type": "a"}\n\n{"type": \n{"type": "c"}\n', NDJSON)
    assert problem.status == 400
    assert problem.detail[0]["loc"] == ["body", 3]
    assert problem.detail[0]["msg"].startswith("line 3 is not valid JSON")


@pytest.mark.parametrize("body", [b"3", b'"event"', b"null", b"true"])
def test_json_scalar_is_422(body):
    problem = body_error(body)
    assert problem.status == 422
    assert "expected an event object or an array of events" in problem.detail[0]["msg"]
    assert problem.detail[0]["type"] == "value_error"


@pytest.mark.parametrize(
    ("body", "content_type"), [(b"[]", JSON), (b"", NDJSON), (b"\n  \n\r\n", NDJSON)]
)
def test_no_events_is_422(body, content_type):
    problem = body_error(body, content_type)
    assert problem.status == 422
    assert problem.detail == [
        {
            "loc": ["body"],
            "index": None,
            "field": None,
            "msg": "the request holds no events",
            "type": "value_error",
        }
    ]


def test_exactly_max_events_is_fine():
    array = b"[" + b",".join([b'{"type": "a"}'] * 5) + b"]"
    assert len(parse_body(array, JSON, 5)) == 5
    lines = b"\n".join([b'{"type": "a"}'] * 5)
    assert len(parse_body(lines, NDJSON, 5)) == 5


def test_over_max_events_json_is_too_large():
    array = b"[" + b",".join([b'{"type": "a"}'] * 6) + b"]"
    with pytest.raises(TooLarge, match="6 events in one request; the limit is 5"):
        parse_body(array, JSON, 5)


def test_over_max_events_ndjson_is_too_large():
    lines = b"\n".join([b'{"type": "a"}'] * 6)
    with pytest.raises(TooLarge, match="more than 5 events"):
        parse_body(lines, NDJSON, 5)
