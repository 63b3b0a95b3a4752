"""A view's fingerprint: stable for the same definition however it is written, different for
every change that changes the stored data. The name is not part of it: views are looked up
by name, so a renamed view is a new view (it has no data under its new name yet)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.model.views import parse_catalog

ROOT = Path(__file__).resolve().parents[3]

BLOCK = """
views:
  - name: revenue
    event_type: purchase
    dimensions: [country, device]
    granularity: hour
    metrics:
      orders: count
      revenue: {sum: amount}
      buyers: {distinct: user_id}
"""

# The same view: other key order, flow style, quoting, comments, metrics and dimensions in
# another order (the stored columns are read by name, so order changes nothing stored).
REWRITTEN = """
views:
- metrics: {buyers: {"distinct": user_id}, revenue: {sum: "amount"}, orders: 'count'}
  granularity: "hour"   # a comment
  dimensions:
    - device
    - country
  event_type: 'purchase'
  name: revenue
"""


def view_of(text: str, name: str = "revenue"):
    view = parse_catalog(yaml.safe_load(text)).get(name)
    assert view is not None
    return view


def changed(**changes) -> str:
    """The fingerprint of BLOCK's view with some of its fields replaced."""
    raw = yaml.safe_load(BLOCK)
    raw["views"][0].update(changes)
    return parse_catalog(raw).views[0].fingerprint()


def test_the_same_definition_written_differently_has_the_same_fingerprint():
    assert view_of(BLOCK).fingerprint() == view_of(REWRITTEN).fingerprint()


def test_the_fingerprint_is_a_sha256_hex_digest():
    fingerprint = view_of(BLOCK).fingerprint()
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0


def test_the_fingerprint_is_pinned():
    # Changing how definitions are normalised changes every fingerprint, so every view is
    # recomputed (and answers 503 until then) after an upgrade: only ever on purpose (last:
    # storage format 2, batch views with the partition columns).
    expected = "ef52892e6d289d63bc626bdc9f13a925015605d7a2146296e0cf1cc0415b2a3c"
    assert view_of(BLOCK).fingerprint() == expected


def test_the_fingerprint_is_the_same_in_another_process():
    script = (
        "import sys, yaml; from common.model.views import parse_catalog; "
        "print(parse_catalog(yaml.safe_load(sys.stdin.read())).views[0].fingerprint())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        input=BLOCK,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert other.stdout.strip() == view_of(BLOCK).fingerprint()


METRICS = {"orders": "count", "revenue": {"sum": "amount"}, "buyers": {"distinct": "user_id"}}

CHANGES = {
    "event_type": {"event_type": "tap"},
    "granularity": {"granularity": "day"},
    "a dimension added": {"dimensions": ["country", "device", "page"]},
    "a dimension removed": {"dimensions": ["country"]},
    "a dimension renamed": {"dimensions": ["country", "platform"]},
    "a metric's field": {"metrics": {**METRICS, "revenue": {"sum": "price"}}},
    "a metric's kind": {"metrics": {**METRICS, "revenue": {"avg": "amount"}}},
    "a metric renamed": {"metrics": {**{k: v for k, v in METRICS.items() if k != "orders"},
                                     "purchases": "count"}},
    "a metric added": {"metrics": {**METRICS, "largest": {"max": "amount"}}},
    "a metric removed": {"metrics": {"orders": "count", "revenue": {"sum": "amount"}}},
}  # fmt: skip


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_every_change_of_the_stored_data_changes_the_fingerprint(change):
    assert changed(**change) != view_of(BLOCK).fingerprint()


def test_all_those_changes_have_distinct_fingerprints():
    fingerprints = {changed(**change) for change in CHANGES.values()}
    assert len(fingerprints) == len(CHANGES)


def test_a_rename_keeps_the_fingerprint_but_is_a_new_view():
    renamed = parse_catalog(yaml.safe_load(BLOCK.replace("name: revenue", "name: income")))
    original = parse_catalog(yaml.safe_load(BLOCK))
    assert renamed.views[0].fingerprint() == original.views[0].fingerprint()
    assert renamed.changed(original.fingerprints()) == ["income"]


def test_catalog_fingerprints_and_which_views_changed():
    two = BLOCK + BLOCK.split("views:")[1].replace("name: revenue", "name: totals")
    catalog = parse_catalog(yaml.safe_load(two))
    recorded = catalog.fingerprints()
    assert list(recorded) == ["revenue", "totals"]
    assert catalog.changed(recorded) == []
    assert catalog.changed({}) == ["revenue", "totals"]  # a version written before fingerprints
    assert catalog.changed({**recorded, "totals": changed(event_type="tap")}) == ["totals"]
    assert catalog.changed({**recorded, "removed_view": "0" * 64}) == []
