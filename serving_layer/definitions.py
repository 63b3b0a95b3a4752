"""Whether a view can be answered from a served pair: only from data computed under the view's
current definition (its fingerprint), never from a mix of two definitions."""

from common.lake import BatchVersion, SpeedPointer
from common.views import View

BATCH_SOURCES = ("merged", "batch")
SPEED_SOURCES = ("merged", "speed")
UNTIL_BATCH = (
    "it answers once a batch run recomputing it is published (one starts on its own when "
    "the pipeline starts; `make batch` runs one now)"
)
UNTIL_SPEED = "it answers once the speed layer has rebuilt it (it does when it starts)"


def pending_reason(
    view: View, source: str, batch: BatchVersion | None, speed: SpeedPointer | None
) -> str | None:
    """Why ``view`` cannot be answered from ``source`` of this pair, or None when it can.

    A side that does not exist yet (no batch run, no snapshot) holds nothing to mix; a side
    that exists must hold the view under its current fingerprint.
    """
    sides: list[tuple[tuple[str, ...], dict[str, str], str, str]] = []
    if source in BATCH_SOURCES and batch is not None:
        sides.append(
            (batch.views, batch.fingerprints, f"batch version {batch.version}", UNTIL_BATCH)
        )
    if source in SPEED_SOURCES and speed is not None:
        sides.append(
            (speed.views, speed.fingerprints, f"speed snapshot {speed.snapshot}", UNTIL_SPEED)
        )
    for names, fingerprints, side, until in sides:
        reason = _mismatch(view, names, fingerprints, side)
        if reason:
            return f"{reason}; {until}"
    return None


def _mismatch(
    view: View, names: tuple[str, ...], fingerprints: dict[str, str], side: str
) -> str | None:
    if fingerprints.get(view.name) == view.fingerprint():
        return None
    if view.name not in names and view.name not in fingerprints:
        return f"view '{view.name}' is new in views.yaml: {side} does not hold it"
    return f"view '{view.name}' changed in views.yaml: {side} was computed under another definition"
