"""The whole speed-layer state: every view's state and the ids already counted."""

from common.events import Event
from common.views import Catalog
from speed_layer.view_state import ViewState


class SpeedState:
    """Views of the events after a batch version's offsets, each event id counted once."""

    def __init__(self, catalog: Catalog) -> None:
        self.views = {view.name: ViewState(view) for view in catalog.views}
        self.fingerprints = catalog.fingerprints()  # the definitions the state is built under
        self._by_type: dict[str, list[ViewState]] = {}
        for state in self.views.values():
            self._by_type.setdefault(state.view.event_type, []).append(state)
        self._seen: set[str] = set()
        # Per partition, offsets after the base version that neither the log (retention
        # deleted them) nor the archive holds: never read, so always counted as lag.
        self.missing: dict[int, int] = {}

    @property
    def events(self) -> int:
        """How many distinct events the state reflects."""
        return len(self._seen)

    def apply(self, event: Event) -> bool:
        """Fold an event into every view it feeds; False (and no change) for a duplicate id."""
        if event.id in self._seen:
            return False
        self._seen.add(event.id)
        for state in self._by_type.get(event.type, ()):
            state.apply(event)
        return True
