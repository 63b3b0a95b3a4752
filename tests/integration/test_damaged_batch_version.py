"""Issue 16's row "one file of the served batch version truncated": half the answers were 500
until a new version. Now the views of that file answer 503 with Retry-After and the reason, a
batch run is requested at once, and the version it publishes answers exactly; while the
pipeline runs and across a restart."""

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import LocalPipeline

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
VIEW = "revenue_by_country"


def truncate_view_file(pipeline: LocalPipeline, version: str) -> None:
    [part] = sorted(pipeline.lake.view_dir(version, VIEW).glob("*.parquet"))
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])


def answers_with_a_new_version(pipeline: LocalPipeline, damaged: str) -> str:
    """503 (never 500) with the reason until a version after ``damaged`` answers; that one."""

    def answered() -> str | None:
        response = pipeline.client.get(f"{pipeline.serving_url}/views/{VIEW}")
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) >= 1
            assert "cannot be read" in response.json()["detail"]
            return None
        assert response.status_code == 200, response.text
        version = response.json()["meta"]["batch"]["version"]
        return version if version != damaged else None

    return wait_for(answered, 240, "a new batch version to answer", interval_s=0.5)


def assert_exact(pipeline: LocalPipeline, truth: GroundTruth) -> None:
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))


def test_a_truncated_batch_file_answers_503_until_the_next_run_publishes(tmp_path):
    data_dir = tmp_path / "data"
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=61, prefix="damaged-batch", now_ms=now_ms())

    with launch(tmp_path, data_dir) as first:
        ledger.post(first, factory.batch(500))
        version = first.run_batch()
        first.wait_caught_up(version=version)
        truncate_view_file(first, version)
        other = first.query("page_views_by_page")  # its files are fine: it answers
        assert other["meta"]["batch"]["version"] == version
        assert first.client.get(f"{first.serving_url}/health").status_code == 200
        newer = answers_with_a_new_version(first, version)
        first.wait_caught_up(version=newer)
        assert_exact(first, truth)

    truncate_view_file(first, newer)  # while it is stopped
    with launch(tmp_path, data_dir) as second:
        assert second.client.get(f"{second.serving_url}/health").status_code == 200
        latest = answers_with_a_new_version(second, newer)
        second.wait_caught_up(version=latest)
        assert_exact(second, truth)
