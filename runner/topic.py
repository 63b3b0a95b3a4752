"""Prepare the events topic and the data lake's generation: `make run` at start, and the
one-shot `topic-init` service in Compose (`python -m runner.topic`)."""

import logging
import sys

from pydantic import ValidationError

from common.errors import LakeError, LambdaError
from common.model.views import load_catalog
from common.runtime.kafka import EndOffsets, ensure_topic, topic_id
from common.runtime.logs import setup_logging
from common.runtime.settings import CommonSettings
from common.storage.lake import Lake

log = logging.getLogger("topic")


def prepare_topic(settings: CommonSettings, lake: Lake) -> int:
    """Create the topic if it is missing; start a new generation when the topic is new or is
    not the one archived so far. Returns the generation to archive."""
    created = ensure_topic(settings)
    current_id = topic_id(settings)
    if current_id is None:
        log.info(
            "the broker gives no topic id: a recreated topic %s is recognised only while it "
            "ends before the archived offsets",
            settings.topic,
        )
    lake.repair_generation()
    if (
        created
        or not lake.generation_file.exists()
        or _topic_was_replaced(settings, lake, current_id)
    ):
        generation = lake.start_generation(current_id)
        log.info("topic %s is new: archiving generation %d", settings.topic, generation)
        return generation
    generation = lake.read_generation()
    if current_id is not None and _recorded_id(lake, generation) is None:
        lake.record_topic_id(generation, current_id)  # from now on, the id decides
    return generation


def _topic_was_replaced(settings: CommonSettings, lake: Lake, current_id: str | None) -> bool:
    """True when the topic is another than the one archived so far: its id differs from the
    one recorded with the generation or, without both ids, it ends before what was archived
    (a recreated topic that has refilled past that goes unseen then)."""
    recorded = _recorded_id(lake, lake.read_generation())
    if recorded is not None and current_id is not None:
        if recorded != current_id:
            log.warning(
                "topic %s has id %s, the archived one had %s: it was recreated",
                settings.topic,
                current_id,
                recorded,
            )
        return recorded != current_id
    archived = lake.archived_ends(lake.read_generation())
    if not archived:
        return False
    probe = EndOffsets(settings)
    try:
        ends = probe.read()
    finally:
        probe.close()
    replaced = any(ends.get(p, 0) < offset for p, offset in archived.items())
    if replaced:
        log.warning("topic %s ends before the archived offsets %s", settings.topic, archived)
    return replaced


def _recorded_id(lake: Lake, generation: int) -> str | None:
    """The topic id recorded for ``generation``; an unreadable record counts as none (the
    offsets decide, and the id is recorded again)."""
    try:
        return lake.read_topic_id(generation)
    except LakeError as exc:
        log.warning("%s; comparing offsets instead", exc)
        return None


def main() -> int:
    """Check the views file, prepare the topic and the lake; exit 2 with one line on error."""
    setup_logging("topic")
    try:
        settings = CommonSettings()
        load_catalog(settings.views_file)
        lake = Lake(settings.data_dir)
        lake.ensure()
        generation = prepare_topic(settings, lake)
    except (LambdaError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("topic %s ready, archiving generation %d", settings.topic, generation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
