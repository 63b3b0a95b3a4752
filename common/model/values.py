"""How property values read, as text (dimensions, distinct counts) and as numbers (metrics).

One definition for both layers: the speed layer calls these functions per event, and the batch
layer calls the same functions inside Spark (``mapInArrow``), so the layers cannot disagree.
Numbers render as text the Java way (``1.0E20``), as earlier batch versions computed by Spark's
``get_json_object`` did.
"""

import math
import re
from decimal import Decimal
from typing import cast

Scalar = str | int | float | bool | None


def text_of(value: Scalar) -> str | None:
    """The text of a JSON scalar (None for null, and for the nested values that files archived
    before records were checked strictly may hold)."""
    if type(value) is str:  # the commonest case, first
        return value
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return java_double_text(value)


def java_double_text(value: float) -> str:
    """Render a float as Java's Double.toString does (``1.5``, ``3.0``, ``1.0E20``)."""
    if not math.isfinite(value):
        return repr(value)
    magnitude = abs(value)
    if value == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    power = cast(int, exponent) + len(mantissa) - 1  # a finite value's: never n, N or F
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


NUMBER_TEXT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""The only text a metric reads as a number: ASCII decimal notation, nothing else (no
``1_000``, no other scripts' digits, no hex, no ``inf``)."""


def number_of(value: Scalar) -> float | None:
    """A metric input as a finite float, or None (which the metric ignores, as SQL does).

    Both layers read metric inputs with this one function (the batch layer through Spark's
    ``mapInArrow``), so they agree on every input. Ingest admits only numbers and null for the
    fields a view aggregates; text is read too, for events archived before a view began to
    aggregate the field: surrounding whitespace aside, it must match ``NUMBER_TEXT_RE``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif not isinstance(value, str):
        return None
    else:
        text = value.strip(" \t\n\r")
        if not NUMBER_TEXT_RE.fullmatch(text):
            return None
        number = float(text)
    return number if math.isfinite(number) else None
