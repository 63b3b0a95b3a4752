"""A slice's snapshots: segments that add up, the open one rewritten where it changed, sealed
ones kept, merged when there are too many; old files go only after a grace period."""

import itertools

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from common.model.events import Event
from common.model.views import parse_catalog
from common.storage.speed_store import EARLIER, SlicePointer, SliceStore, read_pointers
from speed_layer import snapshots
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher

CATALOG = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour",
             "dimensions": ["screen"], "metrics": {"n": "count", "users": {"distinct": "user"},
                                                   "top": {"max": "size"}}},
            {"name": "buys", "event_type": "buy", "granularity": "hour", "metrics": {"n": "count"}},
        ]
    }
)  # fmt: skip


def tap(number: int) -> Event:
    return Event(f"t{number}", "tap", 0, {"screen": f"s{number % 3}", "user": number % 50,
                                          "size": number})  # fmt: skip


def totals(store: SliceStore, pointer: SlicePointer) -> tuple[int, int, float]:
    """Count, groups after combining, and max over every segment of ``taps``."""
    files = [str(p) for p in store.view_files(pointer, "taps")]
    return duckdb.sql(
        "SELECT sum(n__count)::BIGINT, count(DISTINCT screen), max(top__max) "
        "FROM read_parquet(?)", params=[files]
    ).fetchall()[0]  # fmt: skip


def test_the_pointer_names_the_definitions_and_no_segment_for_an_empty_state(lake):
    store = SliceStore(lake, 1, 0)
    written = SlicePublisher(store, CATALOG, "r1").publish(SliceState(CATALOG, None), fresh=True)
    assert written.fingerprints == CATALOG.fingerprints()
    assert written.views == ("taps", "buys")
    assert written.segments == ()
    assert read_pointers(lake, 1) == {0: written}
    assert store.read() == written


def test_a_snapshot_rewrites_only_the_open_segments_views_that_changed(lake):
    store = SliceStore(lake, 1, 3)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, None)
    state.apply_record(0, tap(1))
    state.apply_record(1, Event("b1", "buy", 0, {}))
    (first,) = publisher.publish(state).segments
    state.apply_record(2, tap(2))
    (second,) = publisher.publish(state).segments
    assert second.files["buys"] == first.files["buys"]  # not rewritten
    assert second.files["taps"] != first.files["taps"]
    assert (second.first, second.end, second.events) == (0, 3, 3)
    assert totals(store, store.read())[0] == 2


def test_segments_are_sealed_when_full_and_the_oldest_merged_past_the_limit(lake, monkeypatch):
    monkeypatch.setattr(snapshots, "SEGMENT_EVENTS", 5)
    monkeypatch.setattr(snapshots, "MAX_SEGMENTS", 4)
    store = SliceStore(lake, 1, 0)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, "000001", 0)
    for number in range(200):
        state.apply_record(number, tap(number))
        pointer = publisher.publish(state)
        assert len(pointer.segments) <= 4 + 1
    assert totals(store, pointer) == (200, 3, 199.0)
    assert store.read_ids(pointer.segments) == {f"t{n}" for n in range(200)}
    assert (pointer.events, pointer.next_offset) == (200, 200)
    bounds = [(s.first, s.end) for s in pointer.segments]
    assert bounds[0][0] == 0 and bounds[-1][1] == 200
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # contiguous
    assert pointer.segments[0].events > pointer.segments[-1].events  # the oldest are merged


def test_a_restored_state_keeps_its_segments_and_opens_a_new_one(lake):
    store = SliceStore(lake, 1, 0)
    state = SliceState(CATALOG, None)
    state.apply_record(0, tap(1))
    SlicePublisher(store, CATALOG, "r1").publish(state)
    written = store.read()
    restored = SliceState(CATALOG, None, 1, seen=store.read_ids(written.segments))
    restored.apply_record(1, tap(1))  # a duplicate
    restored.apply_record(2, tap(2))
    pointer = SlicePublisher(store, CATALOG, "r2").publish(restored)
    assert [(s.first, s.end, s.events) for s in pointer.segments] == [(0, 1, 1), (1, 3, 1)]
    assert totals(store, pointer)[0] == 2
    assert pointer.events == 2


def test_a_fresh_state_starts_segments_of_its_own_and_old_files_go_after_a_grace(lake):
    store = SliceStore(lake, 1, EARLIER)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, "000001")
    state.apply(tap(1))
    old = publisher.publish(state)
    fresh = SliceState(CATALOG, "000002")
    fresh.apply(tap(2))
    new = publisher.publish(fresh, fresh=True)
    assert old.names().isdisjoint(new.names())
    assert totals(store, new)[0] == 1
    (old_file,) = old.view_files("taps")
    assert store.path(old_file).exists()  # a reader may still hold the old pointer
    store.collect(new.names(), grace_s=0)
    assert not store.path(old_file).exists()
    assert all(store.path(name).exists() for name in new.names())


def test_a_new_owner_never_writes_a_name_a_killed_one_left_on_disk(lake):
    store = SliceStore(lake, 1, 0)
    state = SliceState(CATALOG, None)
    state.apply_record(0, tap(1))
    written = SlicePublisher(store, CATALOG, "r1").publish(state)
    leftover = store.write_table(written.sequence + 5, "taps", store_table(store, written))
    publisher = SlicePublisher(store, CATALOG, "r2")  # r1 was killed after writing that file
    assert publisher.sequence >= written.sequence + 5
    restored = SliceState(CATALOG, None, 1, seen=store.read_ids(written.segments))
    restored.apply_record(1, tap(2))
    pointer = publisher.publish(restored)
    assert leftover not in pointer.names()


def test_publishing_new_sealed_segments_writes_the_open_one_as_it_is_now(lake):
    store = SliceStore(lake, 1, 0)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, None)
    state.apply_record(0, tap(0))
    publisher.publish(state, seal=True)
    state.apply_record(1, tap(1))  # folded after the last snapshot
    pointer = publisher.replace_sealed(state, publisher.sealed)
    assert pointer.next_offset == 2
    assert totals(store, pointer)[0] == 2  # the files hold what the pointer claims


def store_table(store: SliceStore, pointer: SlicePointer) -> pa.Table:
    return pq.read_table(store.path(pointer.view_files("taps")[0]))
