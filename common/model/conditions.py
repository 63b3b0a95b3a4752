"""A view's or a metric's ``where``: which events feed it, parsed once, evaluated by both layers.

A ``where`` maps property names to conditions, all of which must hold: a scalar (equal to it),
a list (one of them), or a mapping of operators. SQL's rules for nulls: a missing property is
null, and every comparison with null is false, except ``is_null: true``.

How a property compares depends on the operand, read with the functions the metrics use
(``common.model.values``): against a number, the property's number (a JSON number, or numeric
text); against text or a boolean, its text (``true``/``false`` for booleans, numbers the Java
way). ``ne`` and ``not_in`` hold when the property reads as the operands' type (a number, against
numbers; else text) and equals none of them, as SQL's ``TRY_CAST(x AS DOUBLE) <> 5`` would; the
order operators hold when the property reads as the operand's type and compares so.
"""

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.errors import ViewsError
from common.model.values import Scalar, number_of, text_of

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null")
ORDERED = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
Operand = str | int | float | bool
EXACT_INTEGERS = 2**53
"""Numbers compare as 64-bit floats (as metrics read them), exact for integers up to this."""

Props = dict[str, Any]
Predicate = Callable[[Props], bool]


@dataclass(frozen=True)
class Test:
    """One operator and its operand on one property (``in``/``not_in``: a tuple)."""

    prop: str
    op: str
    operand: Operand | tuple[Operand, ...]


@dataclass(frozen=True)
class Where:
    """Conditions that must all hold, in a canonical order (so equal definitions are equal)."""

    tests: tuple[Test, ...]

    def spec(self) -> dict[str, dict[str, Any]]:
        """The canonical form: ``{property: {operator: operand}}``, for fingerprints and docs."""
        spec: dict[str, dict[str, Any]] = {}
        for test in self.tests:
            operand = list(test.operand) if isinstance(test.operand, tuple) else test.operand
            spec.setdefault(test.prop, {})[test.op] = operand
        return spec

    def predicate(self) -> Predicate:
        """The events that match, as a function of their properties."""
        checks = [_check(test) for test in self.tests]
        if len(checks) == 1:
            return checks[0]
        return lambda props: all(check(props) for check in checks)


class _At:
    """Where in the views file a condition is: the view (``views.yaml: view 'v'``) and the
    field's path (``metrics.late.where.delay``), for errors that name both."""

    def __init__(self, view: str, path: str) -> None:
        self.view, self.path = view, path

    def __truediv__(self, key: str) -> "_At":
        return _At(self.view, f"{self.path}.{key}")

    def error(self, reason: str) -> ViewsError:
        return ViewsError(f"{self.view}: field '{self.path}': {reason}")


def parse_where(raw: Any, view: str, path: str, field_re: Any, reserved: frozenset[str]) -> Where:
    """Validate a ``where`` mapping; raise ViewsError naming the view (``view``), the field
    (``path``, then the property and operator) and the reason."""
    at = _At(view, path)
    if not isinstance(raw, dict) or not raw:
        raise at.error(f"expected a mapping of property: condition, got {raw!r}")
    tests: list[Test] = []
    for prop, condition in raw.items():
        if not isinstance(prop, str) or not field_re.fullmatch(prop) or prop in reserved:
            raise at.error(
                f"{prop!r} is not a usable property name ([A-Za-z_][A-Za-z0-9_]*, "
                f"not one of {', '.join(sorted(reserved))})"
            )
        tests.extend(_parse_condition(prop, condition, at / prop))
    return Where(tuple(sorted(tests, key=lambda t: (t.prop, OPERATORS.index(t.op)))))


def _parse_condition(prop: str, raw: Any, at: _At) -> list[Test]:
    if isinstance(raw, list):
        return [Test(prop, "in", _operands(raw, at))]
    if not isinstance(raw, dict):
        return [Test(prop, "eq", _operand(raw, at))]
    if not raw:
        raise at.error(f"expected at least one of {', '.join(OPERATORS)}")
    tests = []
    for op, operand in raw.items():
        if op not in OPERATORS:
            raise at.error(f"unknown operator {op!r} (operators: {', '.join(OPERATORS)})")
        if op == "is_null":
            if not isinstance(operand, bool):
                raise (at / op).error(f"expected true or false, got {operand!r}")
            tests.append(Test(prop, op, operand))
        elif op in ("in", "not_in"):
            if not isinstance(operand, list):
                raise (at / op).error(f"expected a list of values, got {operand!r}")
            tests.append(Test(prop, op, _operands(operand, at / op)))
        else:
            value = _operand(operand, at / op)
            if op in ORDERED and isinstance(value, bool):
                raise (at / op).error("a boolean has no order; use eq or ne")
            tests.append(Test(prop, op, value))
    return tests


def _operands(raw: list[Any], at: _At) -> tuple[Operand, ...]:
    if not raw:
        raise at.error("the list of values is empty (nothing could match)")
    return tuple(_operand(value, at) for value in raw)


def _operand(raw: Any, at: _At) -> Operand:
    if raw is None:
        raise at.error("null never compares equal (SQL); use {is_null: true}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise at.error(f"expected a finite number, got {raw!r}")
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) > EXACT_INTEGERS:
        raise at.error(f"an integer beyond ±2^53 does not compare exactly, got {raw}")
    if not isinstance(raw, str | int | float | bool):
        raise at.error(f"expected a text, number or boolean, got {raw!r}")
    return raw


def _reader(operand: Operand) -> Callable[[Scalar], Any]:
    """How a property reads against ``operand``: a number against a number, else text."""
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return number_of
    return text_of


def _key(operand: Operand) -> Any:
    """``operand`` as its property reads: floats for numbers, text otherwise."""
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return float(operand)
    return text_of(operand)


def _matches_any(operands: tuple[Operand, ...]) -> Callable[[Any], bool]:
    """Whether a non-null raw value equals one of ``operands``."""
    numbers = {_key(o) for o in operands if _reader(o) is number_of}
    texts = {_key(o) for o in operands if _reader(o) is text_of}

    def matches(value: Any) -> bool:
        return (bool(numbers) and number_of(value) in numbers) or (
            bool(texts) and text_of(value) in texts
        )

    return matches


def _check(test: Test) -> Predicate:
    prop, op, operand = test.prop, test.op, test.operand
    if op == "is_null":
        wanted = bool(operand)
        return lambda props: (text_of(props.get(prop)) is None) is wanted
    operands = operand if isinstance(operand, tuple) else (operand,)
    matches = _matches_any(operands)
    if op in ("eq", "in"):
        return lambda props: (value := props.get(prop)) is not None and matches(value)
    if op in ("ne", "not_in"):
        # Not null as the operands read it: a property that is no number differs from no number.
        known: Callable[[Scalar], Any] = (
            number_of if all(_reader(o) is number_of for o in operands) else text_of
        )
        return lambda props: known(value := props.get(prop)) is not None and not matches(value)
    assert not isinstance(operand, tuple)
    read, key, compare = _reader(operand), _key(operand), ORDERED[op]

    def ordered(props: Props) -> bool:
        value = read(props.get(prop))
        return value is not None and compare(value, key)

    return ordered
