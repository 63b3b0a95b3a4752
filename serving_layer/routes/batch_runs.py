"""POST /batch/runs, GET /batch/runs and GET /batch/runs/{id}: request a batch run, and the
history of runs. The scheduler runs them; a request is a queued record in the data lake."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from common.storage.batch_runs import RunBusy, RunStore
from serving_layer.openapi import RUN_GET_RESPONSES, RUN_LIST_RESPONSES, RUN_POST_RESPONSES
from serving_layer.state import StateDep

router = APIRouter(tags=["batch runs"])


@router.post("/batch/runs", status_code=202, responses=RUN_POST_RESPONSES)
def request_run(state: StateDep) -> JSONResponse:
    """Queue a batch run: 202 with its id at once; 409 with the id of the run that is queued
    or running already (one run at a time)."""
    try:
        record = RunStore(state.lake).begin("request", state="queued")
    except RunBusy as exc:
        return JSONResponse({"detail": str(exc), "id": exc.run_id}, status_code=409)
    return JSONResponse({"id": record.id}, status_code=202)


@router.get("/batch/runs", responses=RUN_LIST_RESPONSES)
def list_runs(state: StateDep) -> JSONResponse:
    """The recent batch runs, newest first: trigger, state, times, events covered, the version
    published or the error."""
    return JSONResponse({"runs": [r.to_json() for r in RunStore(state.lake).recent()]})


@router.get("/batch/runs/{run_id}", responses=RUN_GET_RESPONSES)
def get_run(run_id: str, state: StateDep) -> JSONResponse:
    """One batch run; 404 for an unknown id."""
    record = RunStore(state.lake).get(run_id)
    if record is None:
        return JSONResponse({"detail": f"no batch run {run_id!r}"}, status_code=404)
    return JSONResponse(record.to_json())
