"""Which views the serving layer answers, given the definitions the served batch version and
speed snapshot were computed under: only from data of the current definition."""

import pytest
import yaml

from common.model.views import parse_catalog
from common.storage.lake import BatchVersion
from common.storage.speed_store import SlicePointer
from serving_layer.definitions import pending_reason

VIEWS = """
views:
  - name: orders
    event_type: purchase
    granularity: day
    metrics: {orders: count}
  - name: activity
    event_type: tap
    granularity: hour
    metrics: {events: count}
"""

CATALOG = parse_catalog(yaml.safe_load(VIEWS))
OLD = parse_catalog(yaml.safe_load(VIEWS.replace("event_type: tap", "event_type: click")))
ORDERS, ACTIVITY = CATALOG.get("orders"), CATALOG.get("activity")
SOURCES = ("merged", "batch", "speed")


def batch(fingerprints: dict[str, str]) -> list[BatchVersion]:
    return [BatchVersion("000003", "t", 10, {1: {0: 9}}, tuple(fingerprints), 1.0, fingerprints)]


def speed(fingerprints: dict[str, str]) -> list[SlicePointer]:
    """Two partitions' snapshots, both of the same definitions."""
    return [
        SlicePointer(1, partition, "000003", 10, 0, "t", fingerprints=fingerprints)
        for partition in (0, 1)
    ]  # fmt: skip


def test_everything_of_the_current_definitions_answers():
    current = CATALOG.fingerprints()
    for view in CATALOG.views:
        for source in SOURCES:
            assert pending_reason(view, source, batch(current), speed(current)) is None


def test_before_any_batch_run_and_snapshot_there_is_nothing_to_mix():
    for source in SOURCES:
        assert pending_reason(ACTIVITY, source, [], []) is None
        assert pending_reason(ACTIVITY, source, [], speed(CATALOG.fingerprints())) is None


@pytest.mark.parametrize("source", SOURCES)
def test_a_changed_view_waits_for_a_batch_run_and_the_others_answer(source):
    old_batch = batch(OLD.fingerprints())
    new_speed = speed(CATALOG.fingerprints())
    assert pending_reason(ORDERS, source, old_batch, new_speed) is None
    reason = pending_reason(ACTIVITY, source, old_batch, new_speed)
    if source == "speed":
        assert reason is None  # the speed view alone is all of one definition
    else:
        assert reason is not None
        assert "view 'activity' changed" in reason
        assert "batch version 000003" in reason
        assert "batch run" in reason


@pytest.mark.parametrize("source", ["merged", "speed"])
def test_a_snapshot_of_another_definition_is_not_served(source):
    reason = pending_reason(
        ACTIVITY, source, batch(CATALOG.fingerprints()), speed(OLD.fingerprints())
    )
    assert reason is not None
    assert "view 'activity' changed" in reason
    assert "speed snapshot of partition 0" in reason
    assert pending_reason(ACTIVITY, "batch", batch(CATALOG.fingerprints()), speed({})) is None


def test_a_new_view_waits_too():
    only_orders = {"orders": CATALOG.fingerprints()["orders"]}
    reason = pending_reason(ACTIVITY, "merged", batch(only_orders), speed(only_orders))
    assert reason is not None and "view 'activity' is new" in reason


def test_versions_and_snapshots_written_before_fingerprints_never_match():
    for view in CATALOG.views:
        assert pending_reason(view, "batch", batch({}), []) is not None
        assert pending_reason(view, "speed", [], speed({})) is not None
