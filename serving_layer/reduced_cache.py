"""Reduced sides of merged queries, kept per (immutable input, query): a batch version's part,
or a set of speed snapshot files (each named by its sequence, and checked by inode, mtime and
size)."""

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Literal

import pyarrow as pa
from prometheus_client import Counter

from serving_layer.query_spec import QuerySpec

Side = Literal["batch", "speed"]
LOOKUPS = Counter(
    "lambda_serving_cache_lookups_total",
    "Lookups of a reduced side of a merged query, by side (batch or speed) and result (hit or "
    "miss)",
    ["side", "result"],
)


for _side in ("batch", "speed"):
    for _result in ("hit", "miss"):
        LOOKUPS.labels(_side, _result)  # present (at 0) from the start


def cache_key(part: Hashable, spec: QuerySpec) -> Hashable:
    """What a reduced part depends on: the part (a batch version and its slices, or a speed
    file) and the query: its buckets (granularity and zone), groups, filters, time range and
    the metrics reduced. Not what only finishes or cuts the merged rows: the order, the limit,
    the quantiles' fractions; nor the source."""
    filters = tuple(sorted(spec.filters.items()))
    return (
        part,
        spec.view.name,
        spec.granularity,
        spec.tz,
        spec.group_by,
        filters,
        tuple(m.name for m in spec.metrics),
        spec.start_ms,
        spec.end_ms,
    )


def file_part(path: Path) -> Hashable:
    """A speed snapshot file as a cache part: its name, and what would tell a file written
    again under the same name (after a reset) apart. FileNotFoundError once it is collected."""
    stat = os.stat(path)
    return ("file", str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


class ReducedCache:
    """A small LRU of reduced sides."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, side: Side, key: Hashable, compute: Callable[[], pa.Table]) -> pa.Table:
        with self._lock:
            table = self._entries.get(key)
            if table is not None:
                self._entries.move_to_end(key)
                LOOKUPS.labels(side, "hit").inc()
                return table
        table = compute()
        with self._lock:
            LOOKUPS.labels(side, "miss").inc()
            self._entries[key] = table
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return table
