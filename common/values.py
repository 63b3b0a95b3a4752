"""How property values read as text, identically in the speed layer (Python) and Spark.

Dimensions and distinct-count fields are compared as text. Spark's ``get_json_object``
renders JSON scalars the Java way; this module renders them the same way in Python.
"""

import math
from decimal import Decimal

Scalar = str | int | float | bool | None


def text_of(value: Scalar) -> str | None:
    """The text Spark's get_json_object gives for a JSON scalar (None for null)."""
    if value is None:
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
    power = exponent + len(mantissa) - 1
    fraction = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{fraction}E{power}"


def number_of(value: Scalar) -> float | None:
    """A metric input as a float, or None where Spark's ``try_cast(... as double)`` gives null.

    Ingest admits only numbers and null for the fields a view aggregates; this also covers
    events archived before a view began to aggregate the field.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
