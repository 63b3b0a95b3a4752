"""A partition a replica owns: the state it serves, the one it builds, and its publisher."""

import logging
import time
from dataclasses import dataclass, field

from common.storage.lake import BatchVersion
from speed_layer.slice_state import SliceState
from speed_layer.snapshots import SlicePublisher

log = logging.getLogger("speed")


@dataclass
class Rebuild:
    """A sealed segment read again from a new batch version's offset ``first`` to its end."""

    version: BatchVersion
    first: int
    end: int
    state: SliceState


@dataclass
class OwnedSlice:
    """A partition this replica owns: the state served (``current``), or one built from a
    batch version's offsets that is served once it has read as far as the snapshot already
    served (``pending``); and while it switches to a newer version, the segment read again."""

    partition: int
    publisher: SlicePublisher
    lock_fd: int
    current: SliceState | None = None
    pending: SliceState | None = None
    rebuild: Rebuild | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def fed_by_main(self) -> SliceState:
        """The state the main consumer's records of this partition go to."""
        state = self.current or self.pending
        assert state is not None
        return state

    def publish_if_moved(self) -> None:
        """Publish the served state if it moved since its last snapshot."""
        state, pointer = self.current, self.publisher.pointer
        if state is None:
            return
        if (
            state.changed
            or pointer is None
            or pointer.next_offset != state.next_offset
            or pointer.missing != state.missing
        ):
            self.publisher.publish(state)

    def publish_pending_if_caught_up(self) -> None:
        """A slice with nothing of its own to continue is served once its new state has read
        as far as the pointer already served (never going back on what answers showed)."""
        pending = self.pending
        if pending is not None and pending.next_offset >= self.publisher.published_offset:
            self.publisher.publish(pending, fresh=True)
            self.current, self.pending = pending, None
            log.info(
                "partition %d served from offset %d on batch version %s",
                self.partition,
                pending.next_offset,
                pending.base_version,
            )
