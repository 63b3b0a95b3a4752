"""Acceptance of the batch triggers, on a pipeline of its own (no interval, a data-size
trigger of MIN_EVENTS): `POST /batch/runs` answers 202, then 409 with that run's id while it
runs, and the run ends `succeeded` with its version; a run that fails (the directory Spark
writes the new version into cannot be created) is listed `failed` with its error while merged
answers stay exact from the previous version; MIN_EVENTS posted events start a run on their own.

Three Spark runs in all (about 30-60 s each here)."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import LocalPipeline

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

MIN_EVENTS = 400
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("batch-runs")
    extra = {"LAMBDA_BATCH_MIN_EVENTS": str(MIN_EVENTS)}
    with launch(base, base / "data", extra_env=extra) as handle:
        yield handle


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
def factory() -> EventFactory:
    return EventFactory(seed=20261126, prefix="runs", now_ms=now_ms())


def runs_url(pipeline: LocalPipeline, run_id: str = "") -> str:
    return f"{pipeline.serving_url}/batch/runs" + (f"/{run_id}" if run_id else "")


def ended(pipeline: LocalPipeline, run_id: str) -> dict[str, Any]:
    """The run's record once it has ended (polled, with a deadline)."""

    def record() -> dict[str, Any] | None:
        response = pipeline.client.get(runs_url(pipeline, run_id))
        assert response.status_code == 200, response.text
        body = response.json()
        return body if body["state"] in ("succeeded", "failed") else None

    return wait_for(record, RUN_TIMEOUT_S, f"batch run {run_id} to end", interval_s=0.5)


def assert_exact(pipeline: LocalPipeline, ledger: Ledger, version: str | None) -> None:
    pipeline.wait_caught_up(version=version)
    truth = GroundTruth(ledger)
    for view in pipeline.catalog.views:
        answer = pipeline.query(view.name)
        assert answer["meta"]["batch"]["version"] == version
        truth.assert_matches(view, answer)


def test_a_request_runs_once_and_is_listed_with_its_version(own_pipeline, ledger, factory):
    ledger.post(own_pipeline, factory.batch(100))
    own_pipeline.wait_caught_up()
    accepted = own_pipeline.client.post(runs_url(own_pipeline))
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["id"]
    busy = own_pipeline.client.post(runs_url(own_pipeline))
    assert busy.status_code == 409, busy.text
    assert busy.json()["id"] == run_id
    record = ended(own_pipeline, run_id)
    assert (record["state"], record["trigger"], record["error"]) == ("succeeded", "request", None)
    manifest = own_pipeline.lake.read_manifest()
    assert manifest is not None and record["version"] == manifest.version
    assert record["events"] == len(ledger.distinct_ids()) == 100
    listed = own_pipeline.client.get(runs_url(own_pipeline)).json()["runs"]
    assert [r["id"] for r in listed] == [run_id]
    assert_exact(own_pipeline, ledger, manifest.version)


def test_a_failed_run_is_listed_with_its_error_and_answers_stay_exact(
    own_pipeline, ledger, factory
):
    lake = own_pipeline.lake
    served = lake.read_manifest()
    assert served is not None
    ledger.post(own_pipeline, factory.batch(50))  # fewer than MIN_EVENTS: no size trigger
    # A file where the run writes its new version's directory: Spark cannot create it.
    blocker = lake.versions / f"{int(served.version) + 1:06d}.tmp"
    blocker.write_text("not a directory")
    try:
        accepted = own_pipeline.client.post(runs_url(own_pipeline))
        assert accepted.status_code == 202, accepted.text
        record = ended(own_pipeline, accepted.json()["id"])
    finally:
        blocker.unlink()
    assert (record["state"], record["trigger"], record["version"]) == ("failed", "request", None)
    assert record["error"].startswith("Spark failed: ") and "\n" not in record["error"], record
    print(f"the failed run's error: {record['error']}")
    assert record["duration_s"] is not None
    manifest = lake.read_manifest()
    assert manifest is not None and manifest.version == served.version
    listed = own_pipeline.client.get(runs_url(own_pipeline)).json()["runs"]
    assert [r["state"] for r in listed] == ["failed", "succeeded"]
    assert listed[0]["error"] == record["error"]
    assert_exact(own_pipeline, ledger, served.version)


def test_the_data_size_trigger_starts_a_run_on_its_own(own_pipeline, ledger, factory):
    before = {r["id"] for r in own_pipeline.client.get(runs_url(own_pipeline)).json()["runs"]}
    started = time.monotonic()
    ledger.post(own_pipeline, factory.batch(MIN_EVENTS))

    def size_run() -> str | None:
        runs = own_pipeline.client.get(runs_url(own_pipeline)).json()["runs"]
        new = [r for r in runs if r["id"] not in before]
        return new[0]["id"] if new else None

    run_id = wait_for(size_run, 60, "a run the data-size trigger started", interval_s=0.5)
    record = ended(own_pipeline, run_id)
    took = time.monotonic() - started
    assert (record["state"], record["trigger"], record["error"]) == ("succeeded", "size", None)
    assert record["events"] == len(ledger.distinct_ids()) == 100 + 50 + MIN_EVENTS
    manifest = own_pipeline.lake.read_manifest()
    assert manifest is not None and manifest.version == record["version"]
    assert_exact(own_pipeline, ledger, record["version"])
    print(f"size-triggered run ended {took:.1f}s after the post")


def test_no_other_run_started(own_pipeline):
    runs = own_pipeline.client.get(runs_url(own_pipeline)).json()["runs"]
    assert [r["trigger"] for r in runs] == ["size", "request", "request"]
