"""Reduced batch sides, kept per (batch version, query): a version never changes."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import pyarrow as pa
from prometheus_client import Counter

from serving_layer.query_spec import QuerySpec

LOOKUPS = Counter(
    "lambda_serving_batch_cache_lookups_total",
    "Lookups of a reduced batch side, by result: hit or miss",
    ["result"],
)


for _result in ("hit", "miss"):
    LOOKUPS.labels(_result)  # present (at 0) from the start


def cache_key(part: Hashable, spec: QuerySpec) -> Hashable:
    """What a reduced batch part depends on: the part (its version and slices) and the query
    (not the limit, not the source)."""
    filters = tuple(sorted(spec.filters.items()))
    return (
        part,
        spec.view.name,
        spec.granularity,
        spec.group_by,
        filters,
        spec.start_ms,
        spec.end_ms,
    )


class BatchCache:
    """A small LRU of reduced batch sides."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, pa.Table] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], pa.Table]) -> pa.Table:
        with self._lock:
            table = self._entries.get(key)
            if table is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                LOOKUPS.labels("hit").inc()
                return table
        table = compute()
        with self._lock:
            self.misses += 1
            LOOKUPS.labels("miss").inc()
            self._entries[key] = table
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return table
