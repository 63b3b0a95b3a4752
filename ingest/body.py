"""Reading a POST /events body: one event, a JSON array, or NDJSON, within the size limits."""

from typing import Any

import orjson

from common.errors import LambdaError

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class BodyError(LambdaError):
    """The body is not JSON (400) or not events (422); ``detail`` is the answer's detail."""

    def __init__(self, status: int, detail: list[dict[str, Any]]) -> None:
        super().__init__(detail[0]["msg"])
        self.status = status
        self.detail = detail


class TooLarge(LambdaError):
    """The request is over the size limits (413)."""


def parse_body(body: bytes, content_type: str, max_events: int) -> list[Any]:
    """The raw events of a body, not yet validated."""
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    events = _ndjson(body, max_events) if media_type in NDJSON_TYPES else _json(body)
    if not events:
        raise BodyError(422, [_problem([], "the request holds no events")])
    if len(events) > max_events:
        raise TooLarge(f"{len(events)} events in one request; the limit is {max_events}")
    return events


def _json(body: bytes) -> list[Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, [_problem([], f"the body is not valid JSON: {exc}")]) from exc
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        return document
    raise BodyError(422, [_problem([], "expected an event object or an array of events")])


def _ndjson(body: bytes, max_events: int) -> list[Any]:
    events: list[Any] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        if len(events) >= max_events:
            raise TooLarge(f"more than {max_events} events in one request")
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            message = f"line {number} is not valid JSON: {exc}"
            raise BodyError(400, [_problem([number], message)]) from exc
    return events


def _problem(loc: list[Any], msg: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "index": None, "field": None, "msg": msg, "type": "value_error"}
