"""JSON Schema fragments that the OpenAPI documents of both services share."""

from typing import Any

_DATE_TIME_REST = (
    r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
# Years as `parse_rfc3339` reads them: any from 0001 (Python has no year 0), or from 1970 on
# (a positive offset can still put 1970-01-01T00:xx before the epoch: that one is refused).
_ANY_YEAR = r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_FROM_1970 = r"^(19[7-9][0-9]|[2-9][0-9]{3})"


def rfc3339(description: str, *, from_1970: bool = False) -> dict[str, Any]:
    """An RFC 3339 date-time with its offset (no leap second), as ``parse_rfc3339`` accepts it."""
    year = _FROM_1970 if from_1970 else _ANY_YEAR
    return {
        "type": "string",
        "format": "date-time",
        "pattern": year + _DATE_TIME_REST,
        "description": description,
    }
