"""What the serving API answers, for the OpenAPI document (the routes build their JSON
themselves, for speed; these models only describe it)."""

from typing import Any, Literal

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
    where: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="the events that feed the view, when not all of its type: "
        "{property: {operator: operand}}",
    )


class ViewList(BaseModel):
    views: list[ViewSummary]


class LostRange(BaseModel):
    generation: int
    partition: int
    first: int = Field(description="the first offset lost")
    last: int = Field(description="the last offset lost (inclusive)")
    accepted: bool


class BatchMeta(Open):
    version: str | None = Field(
        description="the batch version served (while partitions switch one by one, the oldest "
        "one still served), null before the first"
    )
    events: int = Field(description="distinct events the batch side covers")
    computed_at: str | None
    duration_s: float | None = None
    lost: list[LostRange] = Field(
        default_factory=list,
        description="offset ranges neither the log nor the archive holds (a damaged master "
        "file the log no longer had, or retention ahead of the archiver): no answer counts "
        "them; `accepted` once `make accept-loss` acknowledged them",
    )


class SpeedMeta(Open):
    events: int = Field(description="distinct events in the speed view")
    lag: int | None = Field(
        description="events on the topic not reflected yet; null: the broker did not answer "
        "in time (LAMBDA_SERVING_LAG_WAIT_MS)"
    )
    snapshot: str | None = Field(
        default=None, description="the newest partition snapshot: p=<partition>/<sequence>"
    )
    written_at: str | None = None
    age_s: float | None = None


class AnswerWarning(Open):
    code: Literal["overflow"] = Field(
        description="overflow: a sum (or the sum behind an average) beyond the range of a "
        "64-bit float, answered as null"
    )
    metric: str
    rows: int = Field(description="rows of this answer where the metric is null for it")
    message: str


class AnswerMeta(Open):
    source: str
    batch: BatchMeta
    speed: SpeedMeta
    warnings: list[AnswerWarning] = Field(
        default_factory=list, description="what the answer could not give, by metric"
    )
    truncated: bool = Field(
        description="the query had more rows than the answer holds (cut at limit, or at "
        "LAMBDA_SERVING_MAX_ROWS without one)"
    )
    query_ms: float | None = None


class ViewAnswer(BaseModel):
    view: str
    granularity: str
    rows: list[dict[str, Any]] = Field(
        description="{bucket, <dimensions>, <metrics>}, ordered by order_by (if given), then "
        "bucket, then dimensions"
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


class PartitionStatus(Open):
    batch_version: str | None = Field(description="the batch version its speed state continues")
    next_offset: int = Field(description="the first offset its speed state does not reflect")
    events: int
    written_at: str
    replica: str = Field(description="the speed-layer replica that wrote it")


class Replica(Open):
    id: str
    pid: int
    partitions: list[int]
    idle: bool = Field(description="owns no partition: more replicas than partitions")


class Health(Open):
    status: str
    broker: bool
    batch: BatchMeta
    speed: SpeedMeta
    archive: ArchiveStatus
    partitions: dict[str, PartitionStatus] = Field(
        description="per partition (and 'earlier': earlier topic generations), its speed state"
    )
    replicas: list[Replica] = Field(description="the live speed-layer replicas")


class Unhealthy(BaseModel):
    status: str
    detail: str


UNREADABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Message, "description": "the data directory cannot be read"}
}

VIEW_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": Message, "description": "no view of that name"},
    422: {
        "model": ParamProblems,
        "description": "a bad query parameter (a limit over LAMBDA_SERVING_MAX_ROWS among "
        "them, or an order by a distinct metric over more rows than it can estimate)",
    },
    503: {
        "model": Message,
        "description": "the data directory cannot be read; or, with Retry-After, the view is "
        "being recomputed under a new definition, or the query ran longer than "
        "LAMBDA_SERVING_QUERY_TIMEOUT_S",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before retrying (a recomputed view, a timeout)",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
    },
}

HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": Unhealthy, "description": "the data directory cannot be read"}
}


class BatchRun(BaseModel):
    id: str
    trigger: Literal["interval", "size", "request", "views-changed", "startup-backlog", "manual"]
    state: Literal["queued", "running", "succeeded", "failed"]
    requested_at: str = Field(description="when the run was recorded (RFC 3339)")
    started_at: str | None = Field(description="null while queued")
    duration_s: float | None = Field(description="null until it ends")
    events: int | None = Field(description="distinct events the published version covers")
    version: str | None = Field(description="the batch version it published")
    error: str | None = Field(description="why it failed, one line")


class BatchRuns(BaseModel):
    runs: list[BatchRun] = Field(description="the recent runs, newest first")


class RunAccepted(BaseModel):
    id: str = Field(description="the queued run's id")


class RunBusy(BaseModel):
    detail: str
    id: str = Field(description="the id of the run queued or running")


RUN_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": RunAccepted, "description": "the run is queued"},
    409: {"model": RunBusy, "description": "a run is queued or running already"},
    **UNREADABLE,
}

RUN_LIST_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": BatchRuns}, **UNREADABLE}

RUN_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": BatchRun},
    404: {"model": Message, "description": "no run of that id"},
    **UNREADABLE,
}
