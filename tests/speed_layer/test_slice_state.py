"""A slice's state: every view fed once per event id, offsets applied once."""

from common.model.events import Event
from common.model.metric_kinds import view_columns
from common.model.views import parse_catalog
from speed_layer.slice_state import SliceState

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z

CATALOG = parse_catalog(
    {
        "views": [
            {
                "name": "pages",
                "event_type": "page_view",
                "dimensions": ["page"],
                "granularity": "minute",
                "metrics": {"views": "count", "visitors": {"distinct": "user_id"}},
            },
            {
                "name": "revenue",
                "event_type": "purchase",
                "dimensions": ["country"],
                "granularity": "hour",
                "metrics": {"orders": "count", "revenue": {"sum": "amount"}},
            },
            {
                "name": "purchases_per_day",
                "event_type": "purchase",
                "granularity": "day",
                "metrics": {"orders": "count", "top": {"max": "amount"}},
            },
        ]
    }
)


def event(event_id, event_type, ts=T0, **props):
    return Event(id=event_id, type=event_type, ts=ts, props=props)


def rows(state, view):
    return sorted(
        state.views[view].to_table().to_pylist(), key=lambda r: tuple(map(str, r.values()))
    )


def test_one_state_per_view_in_catalog_order():
    state = SliceState(CATALOG, None)
    assert list(state.views) == ["pages", "revenue", "purchases_per_day"]
    assert state.events == 0
    for name, view_state in state.views.items():
        assert view_state.view is CATALOG.get(name)
        assert view_state.to_table().column_names == view_columns(CATALOG.get(name))


def test_an_event_feeds_every_view_of_its_type():
    state = SliceState(CATALOG, None)
    assert state.apply(event("a", "purchase", country="DE", amount=5))
    assert state.apply(event("b", "purchase", country="FR", amount=7))
    assert state.events == 2
    assert rows(state, "revenue") == [
        {"bucket": T0, "country": "DE", "orders__count": 1, "revenue__sum": 5.0, "revenue__n": 1},
        {"bucket": T0, "country": "FR", "orders__count": 1, "revenue__sum": 7.0, "revenue__n": 1},
    ]
    day = T0 - 17 * 3_600_000
    assert rows(state, "purchases_per_day") == [
        {"bucket": day, "orders__count": 2, "top__max": 7.0}
    ]
    assert state.views["pages"].to_table().num_rows == 0


def test_duplicate_ids_count_once_and_the_first_wins():
    state = SliceState(CATALOG, None)
    assert state.apply(event("dup", "purchase", country="DE", amount=5)) is True
    assert state.apply(event("dup", "purchase", country="FR", amount=500)) is False
    assert state.apply(event("dup", "page_view", page="/")) is False
    assert state.events == 1
    assert rows(state, "revenue") == [
        {"bucket": T0, "country": "DE", "orders__count": 1, "revenue__sum": 5.0, "revenue__n": 1}
    ]
    assert state.views["pages"].to_table().num_rows == 0


def test_a_duplicate_does_not_mark_the_state_changed():
    state = SliceState(CATALOG, None)
    state.apply(event("a", "purchase", amount=1))
    state.written()
    assert state.apply(event("a", "purchase", amount=1)) is False
    assert not state.changed and not state.dirty


def test_events_of_other_types_are_ignored_but_remembered():
    state = SliceState(CATALOG, None)
    assert state.apply(event("x", "refund", amount=3, country="DE"))
    assert state.apply(event("y", "Purchase", amount=3, country="DE"))
    assert all(v.to_table().num_rows == 0 for v in state.views.values())
    assert state.events == 2
    assert state.apply(event("x", "purchase", amount=3)) is False


def test_page_views_count_per_page_and_minute():
    state = SliceState(CATALOG, None)
    for i in range(10):
        state.apply(event(f"p{i}", "page_view", ts=T0 + i * 30_000, page="/home", user_id="u"))
    state.apply(event("q", "page_view", ts=T0, user_id="v"))
    table = state.views["pages"].to_table().to_pylist()
    counts = {(r["bucket"], r["page"]): r["views__count"] for r in table}
    assert counts == {
        **{(T0 + m * 60_000, "/home"): 2 for m in range(5)},
        (T0, None): 1,
    }


def test_a_record_before_the_next_offset_is_not_applied_again():
    state = SliceState(CATALOG, "000001", next_offset=5)
    state.apply_record(4, event("a", "purchase", amount=1))
    assert (state.events, state.next_offset) == (0, 5)
    state.apply_record(5, event("a", "purchase", amount=1))
    state.apply_record(6, None)  # not an event: its offset is passed all the same
    assert (state.events, state.next_offset) == (1, 7)


def test_a_snapshot_clears_what_changed_and_sealing_opens_a_new_segment():
    state = SliceState(CATALOG, None, next_offset=3)
    state.apply_record(3, event("a", "purchase", country="DE", amount=5))
    assert state.dirty == {"revenue", "purchases_per_day"} and state.changed
    state.written()
    assert not state.changed and not state.dirty
    assert state.open_ids == ["a"] and state.views["revenue"].groups  # still the open segment
    state.apply_record(4, event("a", "purchase", country="DE", amount=5))  # a duplicate
    state.apply_record(5, event("b", "page_view", page="/"))
    assert state.dirty == {"pages"} and state.open_ids == ["a", "b"]
    state.seal()
    assert (state.open_first, state.open_ids, state.events) == (6, [], 2)
    assert not any(view.groups for view in state.views.values())
