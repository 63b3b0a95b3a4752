"""Checking a POST /events request whole: parsed, validated and encoded as Kafka records.

It is CPU work bounded by the request's size (the body is at most ``max_body_bytes``, the
problems listed at most ``MAX_PROBLEMS``), and the route runs it off the event loop
(``ingest.check_pool``), so one large request never delays the others (``GET /health``
among them).
"""

from dataclasses import dataclass
from typing import Any

from common.errors import LambdaError
from common.model.events import MAX_RECORD_BYTES, record_size, validate_events
from ingest.body import BodyError, TooLarge, parse_body

Record = tuple[bytes, bytes]
"""A Kafka record's key and value."""


@dataclass(frozen=True)
class Checked:
    """A request fit to publish: each event's id and its record, in request order."""

    ids: list[str]
    records: list[Record]


class Refused(LambdaError):
    """The request is refused whole: ``status`` and ``body`` are the answer, ``outcome`` and
    ``events`` what the events counter adds (``events`` 0 when the body was not read as
    events)."""

    def __init__(self, status: int, body: dict[str, Any], outcome: str, events: int) -> None:
        super().__init__(str(body["detail"]))
        self.status = status
        self.body = body
        self.outcome = outcome
        self.events = events

    def __reduce__(self) -> tuple[type["Refused"], tuple[int, dict[str, Any], str, int]]:
        """As it was made (it crosses from a worker process)."""
        return Refused, (self.status, self.body, self.outcome, self.events)


def too_large(message: str, index: int | None = None, events: int = 0) -> Refused:
    """413: over a size limit; ``index`` names the first event over the record limit."""
    return Refused(413, {"detail": message, "index": index}, "too_large", events)


def check_request(
    body: bytes,
    content_type: str,
    numeric_fields: dict[str, set[str]],
    max_events: int,
    received_ms: int,
) -> Checked:
    """The request's records, or Refused: 400 (not JSON), 422 (invalid events, at most
    ``MAX_PROBLEMS`` listed and ``problems`` counting all) or 413 (too many events, or an
    event over ``MAX_RECORD_BYTES`` as a record). Nothing is sent before all of it passed."""
    try:
        raw = parse_body(body, content_type, max_events)
    except TooLarge as exc:
        raise too_large(str(exc)) from exc
    except BodyError as exc:
        answer = {"detail": exc.detail, "problems": len(exc.detail)}
        raise Refused(exc.status, answer, "invalid", 0) from exc
    validation = validate_events(raw, numeric_fields, received_ms)
    if validation.total:
        answer = {
            "detail": [p.as_detail() for p in validation.problems],
            "problems": validation.total,
        }
        raise Refused(422, answer, "invalid", len(raw))
    records = [(event.key(), event.encode()) for event in validation.events]
    oversized = [i for i, record in enumerate(records) if record_size(*record) > MAX_RECORD_BYTES]
    if oversized:
        first = oversized[0]
        others = f" (and {len(oversized) - 1:,} more)" if len(oversized) > 1 else ""
        message = (
            f"event {first} is {record_size(*records[first]):,} bytes as a Kafka record{others}; "
            f"an event may be at most {MAX_RECORD_BYTES:,} (Apache Kafka's default limit)"
        )
        raise too_large(message, first, len(records))
    return Checked([event.id for event in validation.events], records)
