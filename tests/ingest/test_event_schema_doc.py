"""The documented event schema says what common.model.events accepts."""

import re

import pytest

from common.model.events import validate_events
from ingest.openapi import event_schema

NUMERIC = {"purchase": {"amount"}, "page_view": set()}
SCHEMA = event_schema(NUMERIC)


def accepted(event) -> bool:
    return validate_events([event], NUMERIC, 0).total == 0


@pytest.mark.parametrize(
    "event_type", ["purchase", "a", "A.b-c_9", "x" * 100, "x" * 101, "_reserved", "a b", "", "ü"]
)
def test_type_pattern_agrees_with_validation(event_type):
    pattern = re.compile(SCHEMA["properties"]["type"]["pattern"])
    assert bool(pattern.match(event_type)) == accepted({"type": event_type})


@pytest.mark.parametrize(
    "ts",
    [
        "2026-01-31T17:00:00Z",
        "2026-01-31t17:00:00.123456789+14:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-01-31T17:00:00",
        "2026-01-31",
        "9999-12-31T23:59:59z",
    ],
)
def test_ts_pattern_agrees_with_validation(ts):
    rfc3339 = next(s for s in SCHEMA["properties"]["ts"]["anyOf"] if s["type"] == "string")
    assert bool(re.match(rfc3339["pattern"], ts)) == accepted({"type": "a", "ts": ts})


def test_numeric_fields_are_numbers_for_their_type_only():
    (rule,) = SCHEMA["allOf"]
    assert rule["if"]["properties"]["type"] == {"const": "purchase"}
    assert rule["then"]["properties"] == {"amount": {"type": ["number", "null"]}}
    assert not accepted({"type": "purchase", "amount": "x"})
    assert accepted({"type": "page_view", "amount": "x"})
