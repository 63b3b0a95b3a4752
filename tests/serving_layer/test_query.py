"""The query path through GET /views/{name}: after views.yaml changed, 503 with a reason for
a view of another definition (never a 500) and the unchanged views answer as before; an
answer does not wait long for the end offsets; each side is reduced once and cached."""

import json
import threading
import time

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.model.events import Event
from common.model.views import Catalog, parse_catalog
from common.storage.lake import BatchVersion, Lake, write_atomic
from serving_layer.main import create_app
from serving_layer.reduced_cache import LOOKUPS
from serving_layer.settings import ServingSettings
from speed_layer.view_state import ViewState
from tests.support.slices import publish_slice

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z


ORDERS = {
    "name": "orders",
    "event_type": "buy",
    "granularity": "day",
    "metrics": {"orders": "count"},
}


def catalog(activity_metric: str | None) -> Catalog:
    """Orders, and an activity view counting into ``activity_metric`` (None: no such view)."""
    activity = {
        "name": "activity",
        "event_type": "tap",
        "granularity": "hour",
        "metrics": {activity_metric: "count"},
    }
    return parse_catalog({"views": [ORDERS, activity] if activity_metric else [ORDERS]})


def publish_batch(lake: Lake, computed_under: Catalog) -> None:
    """Batch version 000001 of one event per view, computed under ``computed_under``."""
    for view in computed_under.views:
        state = ViewState(view)
        state.apply(Event(f"e-{view.name}", view.event_type, T0, {}))
        directory = lake.view_dir("000001", view.name)
        directory.mkdir(parents=True)
        pq.write_table(state.to_table(), directory / "part-0.parquet")
    fingerprints = computed_under.fingerprints()
    version = BatchVersion("000001", "t", 2, {1: {0: 1}}, tuple(fingerprints), 1.0, fingerprints)
    write_atomic(lake.versions / "000001" / "version.json", json.dumps(version.to_json()).encode())
    lake.publish_manifest(version)


@pytest.fixture
def settings(tmp_path) -> ServingSettings:
    """A data directory whose batch version 000001 was computed with an ``events`` metric."""
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    publish_batch(lake, catalog("events"))
    return ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")


def client_of(settings: ServingSettings, views: Catalog) -> TestClient:
    return TestClient(create_app(settings, views), raise_server_exceptions=False)


def test_a_renamed_metric_answers_503_with_retry_after_and_the_others_200(settings):
    with client_of(settings, catalog("hits")) as client:
        changed = client.get("/views/activity")
        assert changed.status_code == 503, changed.text
        assert int(changed.headers["Retry-After"]) >= 1
        assert "view 'activity' changed" in changed.json()["detail"]
        unchanged = client.get("/views/orders")
        assert unchanged.status_code == 200, unchanged.text
        assert [row["orders"] for row in unchanged.json()["rows"]] == [1]


def test_a_removed_view_is_not_served_though_the_batch_version_still_holds_it(settings):
    with client_of(settings, catalog(None)) as client:
        assert client.get("/views/activity").status_code == 404
        assert [v["name"] for v in client.get("/views").json()["views"]] == ["orders"]
        assert client.get("/views/orders").status_code == 200


class BlockedBroker:
    """A lag probe whose end-offset read does not come back until released."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def ends(self) -> dict[int, int] | None:
        self.released.wait(30)
        return {0: 1}

    def close(self) -> None:
        self.released.set()


def test_an_answer_does_not_wait_long_for_the_end_offsets(settings):
    settings = settings.model_copy(update={"serving_lag_wait_ms": 200})
    with TestClient(create_app(settings, catalog("events"))) as client:
        broker = BlockedBroker()
        client.app.state.serving.lag_probe = broker
        started = time.monotonic()
        answer = client.get("/views/orders")
        took = time.monotonic() - started
        broker.released.set()
        assert answer.status_code == 200
        assert answer.json()["meta"]["speed"]["lag"] is None  # unknown, never understated
        assert answer.json()["rows"][0]["orders"] == 1
        assert took < 5
        # once the broker answers, so do the lags
        assert client.get("/views/orders").json()["meta"]["speed"]["lag"] == 0


def lookups(result: str) -> float:
    return LOOKUPS.labels("speed", result)._value.get()


def test_a_speed_side_is_reduced_once_and_a_new_snapshot_is_read(settings):
    lake = Lake(settings.data_dir)
    views = catalog("events")
    orders = [Event(f"o{i}", "buy", T0 + i, {}) for i in range(3)]
    publish_slice(lake, views, 0, "000001", 5, orders[:2])
    with client_of(settings, views) as client:
        first = client.get("/views/orders").json()["rows"]
        hits = lookups("hit")
        assert client.get("/views/orders").json()["rows"] == first
        assert lookups("hit") > hits  # the same snapshot: reduced once
        assert [row["orders"] for row in first] == [3]  # 1 from the batch, 2 from the speed
        publish_slice(lake, views, 0, "000001", 6, orders)  # a new snapshot of the slice
        misses = lookups("miss")
        assert [row["orders"] for row in client.get("/views/orders").json()["rows"]] == [4]
        assert lookups("miss") > misses
