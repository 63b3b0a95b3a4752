"""The reduced-sides cache: computed once per key, least recently used first out, and a speed
file written again under its name (after a reset) is another part."""

import os

import pyarrow as pa

from serving_layer.reduced_cache import ReducedCache, file_part


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
