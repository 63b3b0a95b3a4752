"""What POST /events takes and answers, for the OpenAPI document.

The route reads its raw body itself (one event, a JSON array of events, or NDJSON), so FastAPI
cannot infer the request body: it is described here as JSON Schema, from the same rules that
``common.model.events`` enforces, including the numeric fields of the views file.
"""

from typing import Any

from pydantic import BaseModel, Field

from common.model.events import (
    MAX_ID_LENGTH,
    MAX_PROBLEMS,
    MAX_PROPERTIES,
    MAX_PROPERTY_NAME_LENGTH,
    MAX_RECORD_BYTES,
)
from common.model.jsonschema import rfc3339
from common.model.timeutil import MAX_TS_MS
from ingest.body import NDJSON_TYPES


class Accepted(BaseModel):
    """Every event of the request was acknowledged by the broker."""

    accepted: int = Field(description="events in the request")
    ids: list[str] = Field(description="the id of each event, in request order")


class Problem(BaseModel):
    """One reason a request was refused: ``index`` and ``field`` name the event and field."""

    loc: list[str | int] = Field(description='where: ["body", index, field]')
    index: int | None = Field(description="the event's position in the request, if one")
    field: str | None = Field(description="the field at fault, if one")
    msg: str
    type: str | None = None


class Problems(BaseModel):
    """The body is not JSON (400), or an event is invalid (422): nothing was written."""

    detail: list[Problem] = Field(description=f"the first {MAX_PROBLEMS} problems at most")
    problems: int = Field(description="how many problems there were, listed or not")


class TooLargeAnswer(BaseModel):
    """Over the size limits (events per request, bytes per body, or one event over the
    record limit): nothing was written."""

    detail: str
    index: int | None = Field(
        description=f"the first event over {MAX_RECORD_BYTES} bytes as a Kafka record, if one"
    )


class Unavailable(BaseModel):
    """The broker did not acknowledge in time; retry with these ids to avoid double counting."""

    detail: str
    ids: list[str]


class Health(BaseModel):
    """Whether the broker can be reached (200) or not (503, with ``detail``)."""

    status: str
    broker: str = Field(description="the bootstrap address")
    detail: str | None = None


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Health, "description": "the broker can be reached"},
    503: {"model": Health, "description": "the broker cannot be reached"},
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}

RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": Accepted, "description": "all events acknowledged by the broker"},
    400: {"model": Problems, "description": "the body (or an NDJSON line) is not JSON"},
    413: {
        "model": TooLargeAnswer,
        "description": "over the events or bytes limit of a request, or of one event",
    },
    422: {"model": Problems, "description": "an event is invalid, or there is none"},
    503: {"model": Unavailable, "description": "broker timeout", "headers": _RETRY_AFTER},
}

_TYPE_PATTERN = r"^[A-Za-z0-9.-][A-Za-z0-9_.-]{0,99}$"
_SCALAR = {"type": ["string", "number", "boolean", "null"]}


def event_schema(numeric_fields: dict[str, set[str]]) -> dict[str, Any]:
    """JSON Schema of one event, with the numeric fields each event type's views aggregate."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "pattern": _TYPE_PATTERN, "description": "the event type"},
            "id": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_ID_LENGTH,
                "description": "the same id counts once; a UUID when absent",
            },
            "ts": {
                "description": "event time: RFC 3339 or epoch milliseconds; default: receipt",
                "anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": MAX_TS_MS},
                    rfc3339("from 1970 on", from_1970=True),
                    {"type": "null"},
                ],
            },
        },
        "description": (
            f"a flat object: type, id, ts and at most {MAX_PROPERTIES} properties of scalar "
            "values; a field that a view of the type sums, averages or takes the min/max of "
            "must be a number or null"
        ),
        "propertyNames": {"minLength": 1, "maxLength": MAX_PROPERTY_NAME_LENGTH},
        "maxProperties": MAX_PROPERTIES + 3,
        "additionalProperties": _SCALAR,
    }
    rules = [_numeric_rule(t, fields) for t, fields in sorted(numeric_fields.items()) if fields]
    if rules:
        schema["allOf"] = rules
    return schema


def _numeric_rule(event_type: str, fields: set[str]) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": event_type}}, "required": ["type"]},
        "then": {"properties": {f: {"type": ["number", "null"]} for f in sorted(fields)}},
    }


def request_body(
    numeric_fields: dict[str, set[str]], max_events: int, max_body_bytes: int
) -> dict[str, Any]:
    """``openapi_extra`` for POST /events: the body as JSON (one event or an array) or NDJSON."""
    event = event_schema(numeric_fields)
    # The limits (events and bytes per request) are answered with 413, not 422: they are size
    # limits, not part of the schema.
    events = {"type": "array", "items": event, "minItems": 1}
    ndjson = {
        "schema": events,
        "description": "one event per line (an array here: its items are the lines)",
    }
    return {
        "requestBody": {
            "required": True,
            "description": (
                f"one event, or up to {max_events} of them in at most {max_body_bytes} bytes, "
                f"each at most {MAX_RECORD_BYTES} bytes as a Kafka record (413 over that)"
            ),
            "content": {
                "application/json": {"schema": {"anyOf": [event, events]}},
                **{media_type: ndjson for media_type in NDJSON_TYPES},
            },
        }
    }
