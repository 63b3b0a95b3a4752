"""A sum beyond the range of a 64-bit float: both layers hold it as IEEE infinity, and an
answer gives null for it, with a warning in ``meta.warnings`` naming the metric, whichever
layer answers."""

import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.model.events import Event
from common.model.views import Catalog, parse_catalog
from common.storage.lake import BatchVersion, Lake, write_atomic
from serving_layer.main import create_app
from serving_layer.settings import ServingSettings
from speed_layer.view_state import ViewState
from tests.support.shop_views import purchase_view
from tests.support.slices import publish_slice

T0 = 1_769_878_800_000  # 2026-01-31T17:00:00Z
HUGE = 1.5e308  # two of them overflow a float64 (the largest is about 1.8e308)

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view(
                "amounts",
                "hour",
                ["country"],
                {
                    "orders": "count",
                    "revenue": {"sum": "amount"},
                    "average": {"avg": "amount"},
                    "largest": {"max": "amount"},
                },
            )
        ]
    }
)


def purchase(event_id: str, country: str, amount: float) -> Event:
    return Event(event_id, "purchase", T0, {"country": country, "amount": amount})


def publish_batch(lake: Lake, catalog: Catalog, events: list[Event]) -> None:
    """Batch version 000001 of ``events`` (offsets 0 to len - 1 of partition 0)."""
    for view in catalog.views:
        state = ViewState(view)
        for event in events:
            state.apply(event)
        directory = lake.view_dir("000001", view.name)
        directory.mkdir(parents=True)
        pq.write_table(state.to_table(), directory / "part-0.parquet")
    fingerprints = catalog.fingerprints()
    offsets = {lake.read_generation(): {0: len(events) - 1}}
    version = BatchVersion(
        "000001", "t", len(events), offsets, tuple(fingerprints), 1.0, fingerprints
    )
    write_atomic(lake.versions / "000001" / "version.json", json.dumps(version.to_json()).encode())
    lake.publish_manifest(version)


@pytest.fixture
def client(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    publish_batch(lake, CATALOG, [purchase("b1", "NL", HUGE), purchase("b2", "DE", 2.0)])
    publish_slice(lake, CATALOG, 0, "000001", 6, [purchase("s1", "NL", HUGE)])
    publish_slice(
        lake, CATALOG, 1, "000001", 2, [purchase("s2", "FR", HUGE), purchase("s3", "FR", HUGE)]
    )
    settings = ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    with TestClient(create_app(settings, CATALOG), raise_server_exceptions=False) as client:
        yield client


def answer(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/views/amounts", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_an_overflowing_sum_answers_null_with_a_warning_naming_the_metric(client):
    merged = answer(client)
    rows = {row["country"]: row for row in merged["rows"]}
    assert rows["NL"]["revenue"] is None and rows["NL"]["average"] is None
    assert rows["FR"]["revenue"] is None and rows["FR"]["average"] is None
    assert rows["NL"]["largest"] == HUGE and rows["NL"]["orders"] == 2
    assert rows["DE"]["revenue"] == 2.0 and rows["DE"]["average"] == 2.0
    warnings = merged["meta"]["warnings"]
    assert [(w["code"], w["metric"], w["rows"]) for w in warnings] == [
        ("overflow", "revenue", 2),
        ("overflow", "average", 2),
    ]
    assert all("64-bit" in w["message"] and w["metric"] in w["message"] for w in warnings)


def test_each_layer_alone_answers_the_same_way(client):
    batch = answer(client, source="batch")
    assert {row["country"]: row["revenue"] for row in batch["rows"]} == {"DE": 2.0, "NL": HUGE}
    assert batch["meta"]["warnings"] == []
    speed = answer(client, source="speed")
    assert {row["country"]: row["revenue"] for row in speed["rows"]} == {"FR": None, "NL": HUGE}
    assert [(w["metric"], w["rows"]) for w in speed["meta"]["warnings"]] == [
        ("revenue", 1),
        ("average", 1),
    ]


def test_a_rollup_that_leaves_the_overflowing_groups_out_has_no_warning(client):
    assert answer(client, filter="country:DE")["meta"]["warnings"] == []
    total = answer(client, group_by="")
    assert total["rows"][0]["revenue"] is None and total["rows"][0]["orders"] == 5
    assert [w["rows"] for w in total["meta"]["warnings"]] == [1, 1]
