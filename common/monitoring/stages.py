"""The one table of the pipeline's stages: their ids (in the order ``GET /status`` lists
them), the title people read (warnings, the dashboard's boxes) and the services whose
processes run each. Beacons name a service's stage from it, the status computation lists and
titles stages from it, and ``GET /status`` carries it for the dashboard to draw."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline."""

    id: str
    title: str
    services: tuple[str, ...] = ()  # none: the broker, observed from outside


STAGE_TABLE = (
    Stage("ingest", "ingest", ("ingest",)),
    Stage("broker", "broker"),
    Stage("archiver", "archiver", ("archiver",)),
    Stage("speed", "speed layer", ("speed",)),
    Stage("batch", "batch layer", ("scheduler",)),  # the scheduler runs the batch layer
    Stage("serving", "serving layer", ("serving",)),
)
STAGES = tuple(stage.id for stage in STAGE_TABLE)
"""The stages' ids, in the order of the pipeline."""
TITLES = {stage.id: stage.title for stage in STAGE_TABLE}
STAGE_OF_SERVICE = {service: stage.id for stage in STAGE_TABLE for service in stage.services}
"""The stage each service belongs to."""


def stage_names() -> list[dict[str, str]]:
    """The table as ``GET /status`` carries it (``stage_names``): id and title per stage."""
    return [{"stage": stage.id, "title": stage.title} for stage in STAGE_TABLE]
