"""`make bench-readme` replaces only the text between the markers of docs/performance.md with
the table."""

import pytest

from bench.report import END, START, table, with_table

RESULTS = {
    "machine": {"date": "2026-11-26", "cores": 2, "platform": "Linux", "python": "3.11.2"},
    "rows": [
        {
            "name": "ingest",
            "figures": {"ratio": 0.81, "events": 12500},
            "target": "≥ 0.7",
            "met": True,
        },
        {"name": "query", "figures": {"p99_ms": 85.0}, "target": "p99 < 50 ms", "met": False},
    ],
}


def test_the_table_names_every_figure_and_whether_its_target_was_met():
    lines = table(RESULTS["rows"]).splitlines()
    assert lines[2] == "| ingest | ratio 0.81, events 12,500 | ≥ 0.7 | yes |"
    assert lines[3] == "| query | p99_ms 85.0 | p99 < 50 ms | **no** |"


def test_only_the_text_between_the_markers_changes():
    page = f"# Performance\n\nHow.\n{START}\nold table\n{END}\n\nafter\n"
    updated = with_table(page, RESULTS)
    assert updated.startswith("# Performance\n\nHow.\n" + START + "\nMeasured 2026-11-26")
    assert "old table" not in updated and updated.endswith(f"{END}\n\nafter\n")
    assert with_table(updated, RESULTS) == updated  # again: the same
    with pytest.raises(ValueError, match="markers"):
        with_table("# no markers\n", RESULTS)
