"""Publishing speed-layer snapshots: view tables in a new directory, then an atomic pointer."""

import os
from pathlib import Path

import pyarrow.parquet as pq

from common.lake import Lake, SpeedPointer, fsync_dir, fsync_tree, remove_tree
from common.timeutil import utc_now_text
from speed_layer.speed_state import SpeedState


class SnapshotWriter:
    """Writes numbered snapshot directories and repoints ``speed/current.json`` at the newest."""

    def __init__(self, lake: Lake, keep: int) -> None:
        self.lake = lake
        self.keep = keep
        existing = [int(p.name) for p in lake.snapshots.glob("*") if p.name.isdigit()]
        self.sequence = max(existing, default=0)
        for leftover in lake.snapshots.glob("*.tmp"):
            remove_tree(leftover)
        self._last_files: dict[str, Path] = {}

    def write(
        self,
        state: SpeedState,
        base_version: str | None,
        generation: int,
        offsets: dict[int, int],
    ) -> SpeedPointer:
        """Publish the state as reflecting every event before ``offsets``."""
        self.sequence += 1
        name = f"{self.sequence:012d}"
        tmp = self.lake.snapshots / f"{name}.tmp"
        tmp.mkdir(parents=True)
        for view_name, view_state in state.views.items():
            target = tmp / f"{view_name}.parquet"
            previous = self._last_files.get(view_name)
            if not view_state.changed and previous is not None and previous.exists():
                os.link(previous, target)
            else:
                pq.write_table(view_state.to_table(), target, compression="none")
                view_state.changed = False
        final = self.lake.snapshot_dir(name)
        fsync_tree(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        self._last_files = {v: final / f"{v}.parquet" for v in state.views}
        pointer = SpeedPointer(
            snapshot=name,
            base_version=base_version,
            generation=generation,
            offsets=dict(offsets),
            events=state.events,
            written_at=utc_now_text(),
            views=tuple(state.views),
            fingerprints=dict(state.fingerprints),
            missing=dict(state.missing),
        )
        self.lake.publish_speed_pointer(pointer)
        self._collect_garbage()
        return pointer

    def forget_previous(self) -> None:
        """After a rebuild every view must be written anew."""
        self._last_files = {}

    def _collect_garbage(self) -> None:
        names = sorted(p.name for p in self.lake.snapshots.iterdir() if p.name.isdigit())
        for old in names[: -self.keep]:
            remove_tree(self.lake.snapshot_dir(old))
