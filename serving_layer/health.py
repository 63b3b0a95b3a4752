"""What /health says of each stage beyond an answer's meta: the archiver's progress, each
slice's pairing and offset, and the live speed-layer replicas."""

import time
from typing import Any

from common.storage.lake import Lake
from common.storage.speed_store import EARLIER, read_members, slice_order
from serving_layer.pairing import Served


def archive_status(lake: Lake, generation: int, ends: dict[int, int] | None) -> dict[str, Any]:
    """How far the archiver has come: files, records, age of the newest file, lag behind."""
    files = lake.master_files(generation)
    written = lake.archived_ends(generation)
    newest = max((f.path.stat().st_mtime for f in files), default=None)
    behind = None if ends is None else sum(max(0, e - written.get(p, 0)) for p, e in ends.items())
    return {
        "generation": generation,
        "files": len(files),
        "offsets": sum(written.values()),
        "newest_file_age_s": None if newest is None else round(time.time() - newest, 3),
        "lag": behind,
    }


def partitions_status(served: Served) -> dict[str, dict[str, Any]]:
    """Per slice: the batch version it is paired with, its offset and owner."""
    found: dict[str, dict[str, Any]] = {}
    for partition, pointer in sorted(served.slices.items(), key=lambda s: slice_order(s[0])):
        found["earlier" if partition == EARLIER else str(partition)] = {
            "batch_version": pointer.base_version,
            "next_offset": pointer.next_offset,
            "events": pointer.events,
            "written_at": pointer.written_at,
            "replica": pointer.owner,
        }
    return found


def replicas_status(lake: Lake) -> list[dict[str, Any]]:
    """The live speed-layer replicas and the partitions each owns; a replica without any
    (more replicas than partitions) is idle."""
    return [{**member, "idle": not member.get("partitions")} for member in read_members(lake)]
