"""What the ingest app holds for its lifetime."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from common.model.views import Catalog
from ingest.broker_watch import BrokerWatch
from ingest.check_pool import CheckPool
from ingest.publisher import Publisher
from ingest.settings import IngestSettings


@dataclass
class IngestState:
    settings: IngestSettings
    catalog: Catalog
    numeric_fields: dict[str, set[str]]
    publisher: Publisher
    broker: BrokerWatch
    checker: CheckPool


async def get_state(request: Request) -> IngestState:
    """Async, so that resolving it never takes a thread (they may all be waiting on the
    broker)."""
    return request.app.state.ingest


StateDep = Annotated[IngestState, Depends(get_state)]
