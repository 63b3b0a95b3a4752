"""The reduced-sides cache: computed once per key, least recently used first out, and a speed
file written again under its name (after a reset) is another part."""

import os

import pyarrow as pa

from common.model.views import parse_catalog
from serving_layer.reduced_cache import ReducedCache, cache_key, file_part
from tests.support.shop_views import purchase_view, spec_of

SHOP = parse_catalog({"views": [purchase_view("shop", "minute", ["country"])]}).views[0]


def test_a_key_is_computed_once_and_the_least_recently_used_goes_first():
    cache = ReducedCache(max_entries=2)
    computed: list[str] = []

    def table(key: str):
        return lambda: computed.append(key) or pa.table({"k": [key]})

    assert cache.get("batch", "a", table("a")).column("k").to_pylist() == ["a"]
    cache.get("speed", "b", table("b"))
    cache.get("batch", "a", table("a"))  # a hit: a is now the most recently used
    cache.get("speed", "c", table("c"))  # evicts b
    cache.get("batch", "a", table("a"))
    cache.get("speed", "b", table("b"))
    assert computed == ["a", "b", "c", "b"]


def test_a_file_published_again_under_its_name_is_another_part(tmp_path):
    path = tmp_path / "000000000007.view.parquet"
    path.write_bytes(b"first")
    first = file_part(path)
    assert file_part(path) == first
    replacement = tmp_path / "tmp"
    replacement.write_bytes(b"second")
    os.replace(replacement, path)
    assert file_part(path) != first


def test_the_key_holds_what_changes_a_reduction_and_nothing_else():
    base = cache_key("part", spec_of(SHOP, granularity="day"))
    changed = [
        {"granularity": "week"},
        {"granularity": "day", "tz": "Europe/Amsterdam"},
        {"granularity": "day", "metrics": "orders"},
        {"granularity": "day", "group_by": ""},
        {"granularity": "day", "start": "2026-01-31T00:00:00Z"},
    ]
    assert len({base, *(cache_key("part", spec_of(SHOP, **p)) for p in changed)}) == 6
    same = [
        {"order_by": "-orders", "limit": 3},
        {"quantiles": "0.25"},
        {"source": "batch"},
        {"tz": "Etc/UTC"},  # answers exactly as UTC
        {"metrics": "buyers,orders,revenue,smallest,largest,average"},  # all, in another order
    ]
    assert {cache_key("part", spec_of(SHOP, granularity="day", **p)) for p in same} == {base}
