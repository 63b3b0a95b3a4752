"""Prepare the events topic and the data lake's generation: `make run` at start, and the
one-shot `topic-init` service in Compose (`python -m runner.topic`)."""

import logging
import sys

from pydantic import ValidationError

from common.errors import LambdaError
from common.kafka import EndOffsets, ensure_topic
from common.lake import Lake
from common.logs import setup_logging
from common.settings import CommonSettings
from common.views import load_catalog

log = logging.getLogger("topic")


def prepare_topic(settings: CommonSettings, lake: Lake) -> int:
    """Create the topic if it is missing; start a new generation when the topic is new or is
    not the one archived so far. Returns the generation to archive."""
    created = ensure_topic(settings)
    if created or not lake.generation_file.exists() or _topic_was_replaced(settings, lake):
        generation = lake.start_generation()
        log.info("topic %s is new: archiving generation %d", settings.topic, generation)
        return generation
    return lake.read_generation()


def _topic_was_replaced(settings: CommonSettings, lake: Lake) -> bool:
    """True when the topic ends before what was archived from it: it is another topic."""
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
