"""A slice's snapshots: each writes only what changed, chains stay short, nothing is lost."""

import duckdb

from common.events import Event
from common.speed_store import EARLIER, SlicePointer, SliceStore, read_pointers
from common.views import parse_catalog
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import MAX_CHAIN, SlicePublisher

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
    """Count, rows after combining, and max over the chain of ``taps``."""
    files = [str(p) for p in store.view_files(pointer, "taps")]
    return duckdb.sql(
        "SELECT sum(n__count)::BIGINT, count(DISTINCT screen), max(top__max) "
        "FROM read_parquet(?)", params=[files]
    ).fetchall()[0]  # fmt: skip


def test_the_pointer_names_the_definitions_and_the_chain(lake):
    store = SliceStore(lake, 1, 0)
    written = SlicePublisher(store, CATALOG, "r1").publish(SliceState(CATALOG, None), fresh=True)
    assert written.fingerprints == CATALOG.fingerprints()
    assert written.files == {"taps": (), "buys": ()}
    assert read_pointers(lake, 1) == {0: written}
    assert store.read() == written


def test_a_snapshot_writes_only_the_views_that_changed(lake):
    store = SliceStore(lake, 1, 3)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, None)
    state.apply(tap(1))
    first = publisher.publish(state)
    state.apply(tap(2))
    second = publisher.publish(state)
    assert len(second.files["taps"]) == 2 and second.files["buys"] == ()
    assert second.files["taps"][0] == first.files["taps"][0]  # not rewritten
    assert len(second.ids) == 2


def test_compaction_keeps_chains_short_and_the_state_whole(lake):
    store = SliceStore(lake, 1, 0)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, "000001", 0)
    longest = 0
    for number in range(200):
        state.apply_record(number, tap(number))
        pointer = publisher.publish(state)
        longest = max(longest, len(pointer.files["taps"]), len(pointer.ids))
    assert longest <= MAX_CHAIN + 1
    assert totals(store, pointer) == (200, 3, 199.0)
    assert store.read_ids(pointer) == {f"t{n}" for n in range(200)}
    assert (pointer.events, pointer.next_offset) == (200, 200)


def test_a_fresh_state_starts_a_chain_of_its_own_and_old_files_go_after_a_grace(lake):
    store = SliceStore(lake, 1, EARLIER)
    publisher = SlicePublisher(store, CATALOG, "r1")
    state = SliceState(CATALOG, "000001")
    state.apply(tap(1))
    old = publisher.publish(state)
    fresh = SliceState(CATALOG, "000002")
    fresh.apply(tap(2))
    new = publisher.publish(fresh, fresh=True)
    assert set(new.files["taps"]).isdisjoint(old.files["taps"])
    assert totals(store, new)[0] == 1
    assert store.path(old.files["taps"][0]).exists()  # a reader may still hold the old pointer
    store.collect(grace_s=0)
    assert not store.path(old.files["taps"][0]).exists()
    assert store.path(new.files["taps"][0]).exists()
