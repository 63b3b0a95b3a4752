"""Whether a view can be answered from a served pair: only from data computed under the view's
current definition (its fingerprint), never from a mix of two definitions."""

from collections.abc import Sequence

from common.model.views import View
from common.storage.lake import BatchVersion
from common.storage.speed_store import EARLIER, SlicePointer

BATCH_SOURCES = ("merged", "batch")
SPEED_SOURCES = ("merged", "speed")
UNTIL_BATCH = (
    "it answers once a batch run recomputing it is published (one starts on its own when "
    "the pipeline starts; `make batch` runs one now)"
)
UNTIL_SPEED = "it answers once the speed layer has rebuilt it (it does when it starts)"


def pending_reason(
    view: View,
    source: str,
    batches: Sequence[BatchVersion],
    speeds: Sequence[SlicePointer],
) -> str | None:
    """Why ``view`` cannot be answered from ``source`` of these batch versions and speed
    snapshots, or None when it can.

    A side that does not exist yet (no batch run, no snapshot) holds nothing to mix; what
    exists must hold the view under its current fingerprint.
    """
    sides: list[tuple[tuple[str, ...], dict[str, str], str, str]] = []
    if source in BATCH_SOURCES:
        sides += [
            (b.views, b.fingerprints, f"batch version {b.version}", UNTIL_BATCH) for b in batches
        ]
    if source in SPEED_SOURCES:
        sides += [
            (s.views, s.fingerprints, f"the speed snapshot of {_slice(s)}", UNTIL_SPEED)
            for s in speeds
        ]
    for names, fingerprints, side, until in sides:
        reason = _mismatch(view, names, fingerprints, side)
        if reason:
            return f"{reason}; {until}"
    return None


def _slice(pointer: SlicePointer) -> str:
    if pointer.slice_id == EARLIER:
        return "earlier topic generations"
    return f"partition {pointer.slice_id}"


def _mismatch(
    view: View, names: tuple[str, ...], fingerprints: dict[str, str], side: str
) -> str | None:
    if fingerprints.get(view.name) == view.fingerprint():
        return None
    if view.name not in names and view.name not in fingerprints:
        return f"view '{view.name}' is new in views.yaml: {side} does not hold it"
    return f"view '{view.name}' changed in views.yaml: {side} was computed under another definition"
