"""The laws every metric kind's state keeps, for any events (Hypothesis): what makes the merge of
a batch view and a speed view exact at every moment.

- Folding A then B is the merge of fold(A) with fold(B).
- The order of events does not matter.
- Any split of one event list between "batch" and "speed" merges to the answer over all of it.

States are folded by the speed layer's ``ViewState`` and merged by serving's DuckDB merge, the
paths the services use. Amounts are multiples of 1/4 and small, so float sums are exact in any
order, distinct counts stay below the HLL sketch's exact (list) range, and quantiles below the
KLL sketch's k, where it keeps every value: every law holds exactly, with no tolerance to hide
a broken one. (Beyond k a KLL sketch compacts at random, and the answers agree within its rank
error: ``tests/common/model/test_sketches.py``.) (Spark's path, the fourth law, is checked on
real Spark in ``tests/batch_layer/test_batch_job.py``.)
"""

import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from common.model.events import Event
from common.model.views import View, parse_catalog
from serving_layer.merge import merge
from speed_layer.view_state import ViewState
from tests.support.shop_views import EVERY_KIND, purchase_view, spec_of

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z
FILTERED_KINDS = {
    "big_orders": {"kind": "count", "where": {"amount": {"gt": 10}}},
    "big_revenue": {"sum": "amount", "where": {"amount": {"gt": 10}}},
    "dutch_low": {"min": "amount", "where": {"country": "NL"}},
    "dutch_high": {"max": "amount", "where": {"country": ["NL"]}},
    "mean_known": {"avg": "amount", "where": {"country": {"is_null": False}}},
    "known_buyers": {"distinct": "user_id", "where": {"country": {"ne": "DE"}}},
    "amounts": {"quantiles": "amount"},
    "big_amounts": {"quantiles": "amount", "k": 100, "where": {"amount": {"gt": 10}}},
}
CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("by_country", "hour", ["country"]),
            purchase_view("totals", "day", None, {**EVERY_KIND, **FILTERED_KINDS}),
            {
                **purchase_view("filtered", "minute", ["country"], FILTERED_KINDS),
                "where": {"amount": {"is_null": False}, "country": {"not_in": ["FR"]}},
            },
        ]
    }
)

AMOUNTS = st.one_of(st.none(), st.integers(-40, 400).map(lambda q: q / 4), st.just("7.5"))
EVENT = st.builds(
    lambda i, minute, country, amount, user: Event(
        f"e{i}",
        "purchase",
        T0 + minute * 60_000,
        {
            k: v
            for k, v in {"country": country, "amount": amount, "user_id": user}.items()
            if v is not ...
        },
    ),
    st.integers(0, 10**6),
    st.integers(0, 3 * 24 * 60),
    st.sampled_from(["NL", "DE", "FR", None, ...]),  # ...: the property is missing
    st.one_of(AMOUNTS, st.just(...)),
    st.one_of(st.sampled_from([f"u{i}" for i in range(12)]), st.integers(0, 3), st.none()),
)
EVENTS = st.lists(EVENT, max_size=40)
CONNECTION = duckdb.connect()


def fold(view: View, events: list[Event]) -> ViewState:
    state = ViewState(view)
    for event in events:
        state.apply(event)
    return state


def answer(view: View, *states: ViewState) -> list[dict[str, Any]]:
    """The merged answer of the states (as serving merges a batch and a speed view)."""
    with tempfile.TemporaryDirectory() as directory:
        files = []
        for index, state in enumerate(states):
            path = Path(directory) / f"{index}.parquet"
            pq.write_table(state.to_table(), path)
            files.append(path)
        return merge(CONNECTION, spec_of(view), files).rows


@settings(max_examples=40, deadline=None)
@given(first=EVENTS, second=EVENTS)
def test_fold_then_fold_is_the_merge_of_the_folds(first, second):
    for view in CATALOG.views:
        assert answer(view, fold(view, first + second)) == answer(
            view, fold(view, first), fold(view, second)
        ), view.name


@settings(max_examples=40, deadline=None)
@given(events=EVENTS, data=st.data())
def test_the_order_of_events_does_not_matter(events, data):
    shuffled = data.draw(st.permutations(events))
    for view in CATALOG.views:
        assert answer(view, fold(view, events)) == answer(view, fold(view, shuffled)), view.name


@settings(max_examples=40, deadline=None)
@given(events=EVENTS, data=st.data())
def test_any_split_between_batch_and_speed_merges_to_the_whole(events, data):
    in_batch = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    batch = [e for e, b in zip(events, in_batch, strict=True) if b]
    speed = [e for e, b in zip(events, in_batch, strict=True) if not b]
    for view in CATALOG.views:
        whole = answer(view, fold(view, events))
        assert answer(view, fold(view, batch), fold(view, speed)) == whole, view.name
        # An empty side (no batch yet, or a speed view the switch emptied) changes nothing.
        assert answer(view, fold(view, events), fold(view, [])) == whole, view.name
