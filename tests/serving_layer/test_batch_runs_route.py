"""POST /batch/runs queues a run or answers 409 with the active run's id; GET /batch/runs lists
the runs newest first; GET /batch/runs/{id} one, 404 for an unknown id. As documented."""

from fastapi.testclient import TestClient

from common.model.views import parse_catalog
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake
from serving_layer.main import create_app
from serving_layer.settings import ServingSettings

VIEWS = parse_catalog(
    {
        "views": [
            {"name": "taps", "event_type": "tap", "granularity": "hour", "metrics": {"n": "count"}}
        ]
    }
)


def test_requests_queue_one_run_at_a_time_and_the_history_lists_them(tmp_path):
    settings = ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    runs = RunStore(Lake(tmp_path))
    with TestClient(create_app(settings, VIEWS)) as client:
        assert client.get("/batch/runs").json() == {"runs": []}
        accepted = client.post("/batch/runs")
        assert accepted.status_code == 202
        run_id = accepted.json()["id"]
        busy = client.post("/batch/runs")
        assert busy.status_code == 409
        assert busy.json()["id"] == run_id
        record = runs.claim_queued()
        assert record is not None
        assert client.post("/batch/runs").json()["id"] == run_id  # running now: still 409
        runs.write(record.failed("Spark failed: no space left", 2.5))
        one = client.get(f"/batch/runs/{run_id}").json()
        assert (one["state"], one["trigger"]) == ("failed", "request")
        assert (one["error"], one["duration_s"]) == ("Spark failed: no space left", 2.5)
        again = client.post("/batch/runs")
        assert again.status_code == 202
        listed = [r["id"] for r in client.get("/batch/runs").json()["runs"]]
        assert listed == [again.json()["id"], run_id]
        assert client.get("/batch/runs/nope").status_code == 404
        paths = client.get("/openapi.json").json()["paths"]
        assert set(paths["/batch/runs"]["post"]["responses"]) >= {"202", "409"}
        assert "404" in paths["/batch/runs/{run_id}"]["get"]["responses"]


def test_a_method_not_allowed_names_every_method_of_the_path(tmp_path):
    settings = ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    with TestClient(create_app(settings, VIEWS)) as client:
        refused = client.request("OPTIONS", "/batch/runs")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, POST"
        assert client.put("/views").headers["allow"] == "GET"
        assert client.get("/nowhere").status_code == 404
