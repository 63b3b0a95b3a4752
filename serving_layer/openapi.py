"""What the serving API answers, for the OpenAPI document (the routes build their JSON
themselves, for speed; these models only describe it)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    """A JSON object that may hold more fields than those listed."""

    model_config = ConfigDict(extra="allow")


class ViewSummary(BaseModel):
    name: str
    event_type: str
    dimensions: list[str]
    granularity: str
    metrics: dict[str, str] = Field(description="metric name: kind")


class ViewList(BaseModel):
    views: list[ViewSummary]


class BatchMeta(Open):
    version: str | None = Field(description="the batch version served, null before the first")
    events: int = Field(description="distinct events the batch version covers")
    computed_at: str | None
    duration_s: float | None = None


class SpeedMeta(Open):
    events: int = Field(description="distinct events in the speed view")
    lag: int | None = Field(description="events on the topic not reflected yet; null: no broker")
    snapshot: str | None = None
    written_at: str | None = None
    age_s: float | None = None


class AnswerMeta(Open):
    source: str
    batch: BatchMeta
    speed: SpeedMeta
    query_ms: float | None = None


class ViewAnswer(BaseModel):
    view: str
    granularity: str
    rows: list[dict[str, Any]] = Field(
        description="{bucket, <dimensions>, <metrics>}, ordered by bucket, then dimensions"
    )
    meta: AnswerMeta


class Message(BaseModel):
    detail: str


class ParamProblem(Open):
    loc: list[str | int] = Field(description='["query", parameter]')
    msg: str
    type: str


class ParamProblems(BaseModel):
    detail: list[ParamProblem]


class ArchiveStatus(Open):
    generation: int
    files: int
    offsets: int
    newest_file_age_s: float | None
    lag: int | None


class Health(Open):
    status: str
    broker: bool
    batch: BatchMeta
    speed: SpeedMeta
    archive: ArchiveStatus


class Unhealthy(BaseModel):
    status: str
    detail: str


UNREADABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "the data directory cannot be read"}
}

VIEW_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "no view of that name"},
    422: {"model": ParamProblems, "description": "a bad query parameter"},
    **UNREADABLE,
}

HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Unhealthy, "description": "the data directory cannot be read"}
}
