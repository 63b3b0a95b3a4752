"""The event schema: validation of what clients post, and the record written to Kafka."""

import math
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from common.errors import EventError
from common.model.timeutil import MAX_TS_MS, parse_rfc3339
from common.model.views import TYPE_RE

MAX_ID_LENGTH = 128
MAX_PROPERTIES = 1000
MAX_PROPERTY_NAME_LENGTH = 256
RESERVED_FIELDS = ("type", "id", "ts")
RESERVED_TYPE_PREFIX = "_"
"""Types that begin with it are the platform's own; no event may have one."""
MAX_PROBLEMS = 100
"""Problems an answer lists; the others are only counted."""
MAX_RECORD_BYTES = 1024 * 1024
"""Apache Kafka's default limit on a record (the producer's ``max.request.size``; the
broker's ``message.max.bytes`` is 12 bytes more): an event must fit, or a real broker would
refuse it after the request's other events were written."""
RECORD_OVERHEAD_BYTES = 61 + 21 + 5 + 5
"""What Kafka adds to a record's key and value when it sizes it (a batch header, the record's
own header, the key's and value's lengths at their largest), as its producer estimates it."""

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Event:
    """A validated event: id, type, event time in epoch ms, and its flat properties."""

    id: str
    type: str
    ts: int
    props: dict[str, Scalar]

    def key(self) -> bytes:
        """The Kafka record key: the event id, so duplicates land in one partition."""
        return self.id.encode("utf-8")

    def encode(self) -> bytes:
        """The Kafka record value."""
        return orjson.dumps({"id": self.id, "type": self.type, "ts": self.ts, "props": self.props})


def record_size(key: bytes, value: bytes) -> int:
    """The size of a record as Kafka's producer reckons it against ``MAX_RECORD_BYTES``."""
    return RECORD_OVERHEAD_BYTES + len(key) + len(value)


@dataclass(frozen=True)
class Problem:
    """Why one event of a request was refused."""

    index: int
    field: str | None
    msg: str

    def as_detail(self) -> dict[str, Any]:
        loc: list[str | int] = ["body", self.index]
        if self.field:
            loc.append(self.field)
        return {"loc": loc, "index": self.index, "field": self.field, "msg": self.msg}


def decode_event(value: bytes | None) -> Event:
    """Read a Kafka record value back into an Event, by the same rules ingest validates with.

    Any record of the topic goes through here (the archiver and the speed layer decode every
    record with it), so what another producer wrote is either an event ingest would have
    accepted or an EventError whose message says why not.
    """
    if value is None:
        raise EventError("no value (a null record)")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"not JSON: {exc}") from exc
    raw = _flatten_record(record)
    problems = _check_event(0, raw, {})
    if not isinstance(raw.get("id"), str):
        problems.append(Problem(0, "id", "a record needs a string id"))
    if not isinstance(raw.get("ts"), int):
        problems.append(Problem(0, "ts", "a record needs integer epoch milliseconds"))
    if problems:
        raise EventError("; ".join(f"{p.field or 'record'}: {p.msg}" for p in problems))
    return _build_event(raw, 0)


def _flatten_record(record: Any) -> dict[str, Any]:
    """The event a record holds, as ingest received it: id, type, ts and the properties."""
    if not isinstance(record, dict):
        raise EventError(f"a record must be a JSON object, got {_json_kind(record)}")
    extra = sorted(set(record) - {"id", "type", "ts", "props"})
    if extra:
        raise EventError(f"extra fields in the record: {', '.join(extra)[:200]}")
    props = record.get("props")
    if not isinstance(props, dict):
        raise EventError(f"props must be a JSON object, got {_json_kind(props)}")
    reserved = sorted(set(props) & set(RESERVED_FIELDS))
    if reserved:
        raise EventError(f"props may not hold {', '.join(reserved)}")
    return {**props, **{k: record.get(k) for k in RESERVED_FIELDS}}


@dataclass(frozen=True)
class Validation:
    """A request's events, or (when any is invalid) none and its first problems."""

    events: list[Event]
    problems: list[Problem]
    """At most ``max_problems`` of them, in request order."""
    total: int
    """Every problem found, listed or not."""


def validate_events(
    raw_events: list[Any],
    numeric_fields: dict[str, set[str]],
    received_ms: int,
    max_problems: int = MAX_PROBLEMS,
) -> Validation:
    """Validate every event of a request: its events, or its first problems and their count.
    The work is bounded by the request's size: an event with too many properties is one
    problem, its properties are not checked one by one."""
    events: list[Event] = []
    problems: list[Problem] = []
    total = 0
    for index, raw in enumerate(raw_events):
        found = _check_event(index, raw, numeric_fields)
        if found:
            problems.extend(found[: max_problems - len(problems)])
            total += len(found)
        elif not total:
            events.append(_build_event(raw, received_ms))
    return Validation([] if total else events, problems, total)


def _check_event(index: int, raw: Any, numeric_fields: dict[str, set[str]]) -> list[Problem]:
    if not isinstance(raw, dict):
        return [Problem(index, None, f"an event must be a JSON object, got {_json_kind(raw)}")]
    problems = [p for p in (_check_type(index, raw), _check_id(index, raw)) if p]
    problems += _check_ts(index, raw)
    kind = raw.get("type")
    numeric = numeric_fields.get(kind, set()) if isinstance(kind, str) else set()
    properties = [(f, v) for f, v in raw.items() if f not in RESERVED_FIELDS]
    if len(properties) > MAX_PROPERTIES:
        message = f"an event has at most {MAX_PROPERTIES:,} properties, got {len(properties):,}"
        return [*problems, Problem(index, None, message)]
    for field, value in properties:
        problem = _check_property(index, field, value, field in numeric)
        if problem:
            problems.append(problem)
    return problems


def _check_type(index: int, raw: dict[str, Any]) -> Problem | None:
    if "type" not in raw:
        return Problem(index, "type", "field required: every event needs a 'type'")
    value = raw["type"]
    if not isinstance(value, str) or not TYPE_RE.fullmatch(value):
        return Problem(
            index, "type", f"must be 1-100 characters of [A-Za-z0-9_.-], got {_short(value)}"
        )
    if value.startswith(RESERVED_TYPE_PREFIX):
        reserved = f"types beginning with '{RESERVED_TYPE_PREFIX}' are reserved"
        return Problem(index, "type", f"{reserved}, got {_short(value)}")
    return None


def _check_id(index: int, raw: dict[str, Any]) -> Problem | None:
    value = raw.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        return Problem(
            index, "id", f"must be a string of 1-{MAX_ID_LENGTH} characters, got {_short(value)}"
        )
    return None


def _check_ts(index: int, raw: dict[str, Any]) -> list[Problem]:
    value = raw.get("ts")
    if value is None:
        return []
    if isinstance(value, str):
        try:
            ts = parse_rfc3339(value)
        except ValueError as exc:
            return [Problem(index, "ts", f"{exc}, got {_short(value)}")]
    elif (whole := _whole_number(value)) is not None:
        ts = whole
    else:
        return [
            Problem(
                index,
                "ts",
                f"must be an RFC 3339 string or integer epoch milliseconds, got {_short(value)}",
            )
        ]
    if not 0 <= ts <= MAX_TS_MS:
        return [Problem(index, "ts", f"must lie between 1970 and 9999, got {_short(value)}")]
    return []


def _whole_number(value: Any) -> int | None:
    """An integer, also when written with a fraction of zero (JSON has one number type, and
    JSON Schema's ``integer`` includes 1.0); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _check_property(index: int, field: str, value: Any, numeric: bool) -> Problem | None:
    if not 1 <= len(field) <= MAX_PROPERTY_NAME_LENGTH:
        return Problem(
            index,
            field,
            f"property names must be 1-{MAX_PROPERTY_NAME_LENGTH} characters, "
            f"got {len(field)}: {_short(field)}",
        )
    if isinstance(value, dict | list):
        return Problem(
            index, field, f"nested {_json_kind(value)}s are not allowed; properties must be flat"
        )
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(index, field, "must be a finite number")
    if numeric and (isinstance(value, bool) or not isinstance(value, int | float | None)):
        return Problem(
            index, field, f"must be a number or null (a view aggregates it), got {_short(value)}"
        )
    return None


def _build_event(raw: dict[str, Any], received_ms: int) -> Event:
    ts_raw = raw.get("ts")
    ts = parse_rfc3339(ts_raw) if isinstance(ts_raw, str) else _whole_number(ts_raw)
    props = {k: v for k, v in raw.items() if k not in RESERVED_FIELDS}
    return Event(
        id=raw.get("id") or str(uuid.uuid4()),
        type=raw["type"],
        ts=received_ms if ts is None else ts,
        props=props,
    )


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def props_of(raw: str) -> dict[str, Any]:
    """An archived event's properties. Files written before records were checked as strictly
    as ingest checks events may hold any JSON there: a non-object reads as no properties."""
    props = orjson.loads(raw)
    return props if isinstance(props, dict) else {}
