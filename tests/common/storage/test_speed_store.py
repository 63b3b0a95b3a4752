"""Slice ids on disk: the typed ``EARLIER`` is written as the layout always had it."""

import orjson

from common.storage.speed_store import (
    EARLIER,
    SlicePointer,
    SliceStore,
    read_pointers,
    slice_order,
)


def test_the_earlier_slice_keeps_its_directory_and_pointer_form(lake):
    store = SliceStore(lake, 1, EARLIER)
    assert store.dir == lake.speed / "g=000001" / "earlier"
    assert SliceStore(lake, 1, 3).dir == lake.speed / "g=000001" / "p=3"
    store.publish(SlicePointer(1, EARLIER, None, 0, 0, "t"))
    assert orjson.loads(store.pointer_path.read_bytes())["partition"] == -1
    assert read_pointers(lake, 1) == {EARLIER: SlicePointer(1, EARLIER, None, 0, 0, "t")}


def test_slices_sort_with_the_earlier_one_first():
    assert sorted([2, EARLIER, 0], key=slice_order) == [EARLIER, 0, 2]
