"""The state of one slice (a partition, or the earlier generations) since its batch version."""

import pyarrow as pa

from common.events import Event
from common.views import Catalog
from speed_layer.view_state import ViewState


class SliceState:
    """The events of one slice after a batch version's offsets, each event id counted once.

    Views hold only what changed since the last snapshot (``take_delta``): the files already
    written hold the rest, and their rows add up. ``seen`` holds every id counted since the
    batch version, so a duplicate is dropped however long ago its first copy came.
    """

    def __init__(
        self,
        catalog: Catalog,
        base_version: str | None,
        next_offset: int = 0,
        seen: set[str] | None = None,
        missing: int = 0,
    ) -> None:
        self.base_version = base_version
        self.next_offset = next_offset
        self.missing = missing
        self.fingerprints = catalog.fingerprints()  # the definitions the state is built under
        self.views = {view.name: ViewState(view) for view in catalog.views}
        self._by_type: dict[str, list[ViewState]] = {}
        for state in self.views.values():
            self._by_type.setdefault(state.view.event_type, []).append(state)
        self.seen = set() if seen is None else seen
        self.new_ids: list[str] = []

    @property
    def events(self) -> int:
        """How many distinct events the state reflects."""
        return len(self.seen)

    @property
    def changed(self) -> bool:
        """Whether anything was counted since the last ``take_delta``."""
        return bool(self.new_ids)

    def apply_record(self, offset: int, event: Event | None) -> None:
        """Fold in the record at ``offset`` (None: not an event) unless already past it."""
        if offset < self.next_offset:
            return
        self.next_offset = offset + 1
        if event is not None:
            self.apply(event)

    def apply(self, event: Event) -> bool:
        """Fold an event into every view it feeds; False (and no change) for a duplicate id."""
        if event.id in self.seen:
            return False
        self.seen.add(event.id)
        self.new_ids.append(event.id)
        for state in self._by_type.get(event.type, ()):
            state.apply(event)
        return True

    def skip(self, first: int, end: int) -> None:
        """Offsets ``first`` to ``end`` - 1 are in neither the log nor the archive."""
        self.missing += end - first
        self.next_offset = max(self.next_offset, end)

    def take_delta(self) -> tuple[dict[str, pa.Table], list[str]]:
        """The changed views' rows and the ids counted since the last call; resets both."""
        tables = {name: view.to_table() for name, view in self.views.items() if view.groups}
        for name in tables:
            self.views[name].groups = {}
        ids, self.new_ids = self.new_ids, []
        return tables, ids
