"""The state of one slice (a partition, or the earlier generations) since its batch version."""

from common.model.events import Event
from common.model.views import Catalog
from speed_layer.view_state import ViewState


class SliceState:
    """The events of one slice after a batch version's offsets, each event id counted once.

    Views hold the *open segment*: what was folded in from ``open_first`` on (the sealed
    segments on disk hold the rest; ``SlicePublisher`` seals it once it has grown). ``seen``
    holds every id counted since the batch version, so a duplicate is dropped however long
    ago its first copy came; ``open_ids`` those counted in the open segment.
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
        self.open_first = next_offset
        self.open_ids: list[str] = []
        self.dirty: set[str] = set()  # views folded into since the last snapshot
        self.new_ids = False  # ids counted since the last snapshot

    @property
    def events(self) -> int:
        """How many distinct events the state reflects."""
        return len(self.seen)

    @property
    def changed(self) -> bool:
        """Whether anything was counted since the last snapshot (``written``)."""
        return self.new_ids

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
        self.open_ids.append(event.id)
        self.new_ids = True
        for state in self._by_type.get(event.type, ()):
            state.apply(event)
            self.dirty.add(state.view.name)
        return True

    def skip(self, first: int, end: int) -> None:
        """Offsets ``first`` to ``end`` - 1 are in neither the log nor the archive."""
        self.missing += end - first
        self.next_offset = max(self.next_offset, end)

    def written(self) -> None:
        """A snapshot holds everything so far: nothing is new or dirty any more."""
        self.new_ids = False
        self.dirty = set()

    def seal(self) -> None:
        """The open segment is on disk for good: a new one opens at the next offset."""
        for view in self.views.values():
            view.groups = {}
        self.open_ids = []
        self.open_first = self.next_offset
        self.written()
