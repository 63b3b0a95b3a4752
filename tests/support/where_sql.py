"""A view's or metric's ``where`` as DuckDB SQL over typed columns: an implementation of the
contract's rules independent of ``common.model.conditions``, for the ground truths to check it
against. It knows only columns typed DOUBLE or VARCHAR, as the tests' events have them."""

from typing import Any

from common.model.conditions import Where

SQL_OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def where_sql(where: Where | None, numeric: set[str]) -> str:
    """The SQL condition (``TRUE`` for none); ``numeric`` names the DOUBLE columns. SQL's
    three-valued logic gives the contract's null rules: a comparison with null is not true."""
    if where is None:
        return "TRUE"
    terms = []
    for prop, tests in where.spec().items():
        for op, operand in tests.items():
            terms.append(_term(prop, op, operand, prop in numeric))
    return " AND ".join(f"({t})" for t in terms)


def _term(prop: str, op: str, operand: Any, numeric: bool) -> str:
    column = f'"{prop}"'
    if op == "is_null":
        return f"{column} IS {'' if operand else 'NOT '}NULL"
    values = operand if isinstance(operand, list) else [operand]
    if any(isinstance(v, bool) for v in values):
        raise NotImplementedError("booleans: the tests' columns hold none")
    numbers = all(isinstance(v, int | float) for v in values)
    if numbers and not numeric:
        column = f"TRY_CAST({column} AS DOUBLE)"
    elif not numbers and numeric:
        raise NotImplementedError(f"text compared with the numeric column {prop}")
    rendered = [repr(float(v)) if numbers else _text(v) for v in values]
    if op in ("in", "not_in"):
        return f"{column} {'NOT ' if op == 'not_in' else ''}IN ({', '.join(rendered)})"
    return f"{column} {SQL_OPERATORS[op]} {rendered[0]}"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
