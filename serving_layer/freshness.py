"""How fresh an answer is: the ``meta`` block that every answer and /health carry, built from
the pairing that answered and its lag."""

from typing import Any

from common.model.timeutil import now_ms, parse_rfc3339
from common.storage.quarantine import lost_ranges
from common.storage.speed_store import SlicePointer, slice_name
from serving_layer.pairing import Served


def meta(served: Served, lag: int | None, source: str) -> dict[str, Any]:
    """The ``meta`` block of an answer."""
    batch = served.oldest_version()
    newest = max(served.slices.values(), key=lambda p: p.written_at, default=None)
    speed_age = None
    if newest is not None:
        speed_age = round((now_ms() - parse_rfc3339(newest.written_at)) / 1000, 3)
    return {
        "source": source,
        "batch": {
            "version": batch.version if batch else None,
            "events": served.batch_events(),
            "computed_at": batch.computed_at if batch else None,
            "duration_s": batch.duration_s if batch else None,
            "lost": lost_ranges(served.lake),
        },
        "speed": {
            "events": sum(p.events for p in served.slices.values()),
            "lag": lag,
            "snapshot": _snapshot_name(newest),
            "written_at": newest.written_at if newest else None,
            "age_s": speed_age,
        },
    }


def _snapshot_name(pointer: SlicePointer | None) -> str | None:
    """The newest slice snapshot, as ``p=<partition>/<sequence>``."""
    if pointer is None:
        return None
    return f"{slice_name(pointer.slice_id)}/{pointer.sequence}"
