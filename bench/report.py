"""The benchmark table: printed by `make bench`, and copied into docs/performance.md by
`make bench-readme` (between its two markers) from ``bench/results/latest.json``."""

import json
import sys
from typing import Any

from runner.launcher import ROOT

RESULTS = ROOT / "bench" / "results" / "latest.json"
PERFORMANCE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def table(rows: list[dict[str, Any]]) -> str:
    """One markdown row per benchmark: its figures, its target, whether it was met."""
    lines = ["| benchmark | figures | target | met |", "| --- | --- | --- | --- |"]
    for row in rows:
        figures = ", ".join(f"{name} {_figure(value)}" for name, value in row["figures"].items())
        met = "yes" if row["met"] else "**no**"
        lines.append(f"| {row['name']} | {figures} | {row['target']} | {met} |")
    return "\n".join(lines)


def _figure(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def with_table(page: str, results: dict[str, Any]) -> str:
    """``page`` with the text between the markers replaced by the results' table."""
    if START not in page or END not in page:
        raise ValueError(f"{PERFORMANCE.name} has no {START} ... {END} markers")
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    machine = results["machine"]
    where = (
        f"Measured {machine['date']} on {machine['cores']} cores ({machine['platform']}, "
        f"Python {machine['python']}) by `make bench`:"
    )
    return f"{head}{START}\n{where}\n\n{table(results['rows'])}\n{END}{tail}"


def main() -> int:
    """`make bench-readme`."""
    try:
        results = json.loads(RESULTS.read_text())
        PERFORMANCE.write_text(with_table(PERFORMANCE.read_text(), results))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied the table of {RESULTS.relative_to(ROOT)} into {PERFORMANCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
