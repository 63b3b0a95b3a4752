"""Speed-layer slices written for tests, the way a replica writes them."""

from common.model.events import Event
from common.model.views import Catalog
from common.storage.lake import Lake
from common.storage.speed_store import SlicePointer, SliceStore
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher


def publish_slice(
    lake: Lake,
    catalog: Catalog,
    partition: int,
    base_version: str | None,
    next_offset: int,
    events: list[Event] = (),  # type: ignore[assignment]
    generation: int | None = None,
) -> SlicePointer:
    """Publish a slice state holding ``events`` and reflecting offsets before ``next_offset``."""
    state = SliceState(catalog, base_version, next_offset)
    for event in events:
        state.apply(event)
    store = SliceStore(lake, generation or lake.read_generation(), partition)
    return SlicePublisher(store, catalog, "test").publish(state, fresh=True)
