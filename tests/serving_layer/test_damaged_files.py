"""A file the serving layer reads that cannot be read: never a 500."""

import pytest

from common.model.events import Event
from common.storage.batch_runs import RunStore
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from common.storage.quarantine import quarantined
from common.storage.speed_store import SliceStore
from serving_layer.settings import ServingSettings
from tests.serving_layer.test_query import T0, catalog, client_of, publish_batch
from tests.support.slices import publish_slice


@pytest.fixture
def settings(tmp_path) -> ServingSettings:
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    publish_batch(lake, catalog("events"))
    return ServingSettings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")


def _truncate(path) -> None:
    path.write_bytes(path.read_bytes()[:20])


def test_a_damaged_batch_file_answers_503_with_the_reason_and_requests_a_run(settings):
    lake = Lake(settings.data_dir)
    _truncate(lake.view_dir("000001", "orders") / "part-0.parquet")
    with client_of(settings, catalog("events")) as client:
        answer = client.get("/views/orders")
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        assert "cannot be read" in answer.json()["detail"]
        assert client.get("/views/activity").status_code == 200  # its files are fine
        assert client.get("/health").status_code == 200
    [run] = RunStore(lake).recent()
    assert (run.trigger, run.state) == ("request", "queued")


def test_a_damaged_speed_file_leaves_its_slice_out_and_the_lag_says_so(settings):
    lake = Lake(settings.data_dir)
    views = catalog("events")
    orders = [Event(f"o{i}", "buy", T0 + i, {}) for i in range(2)]
    pointer = publish_slice(lake, views, 0, "000001", 5, orders)
    store = SliceStore(lake, 1, 0)
    _truncate(store.view_files(pointer, "orders")[0])
    with client_of(settings, views) as client:
        client.app.state.serving.lag_probe.ends = lambda: {0: 5}
        answer = client.get("/views/orders")
        assert answer.status_code == 200, answer.text
        assert [row["orders"] for row in answer.json()["rows"]] == [1]  # the batch side
        assert answer.json()["meta"]["speed"]["lag"] == 3  # offsets 2-4: never understated


@pytest.mark.parametrize("content", [b"", b"{", b"[]"])
def test_a_damaged_speed_pointer_reads_as_no_snapshot(settings, content):
    lake = Lake(settings.data_dir)
    views = catalog("events")
    publish_slice(lake, views, 0, "000001", 5, [Event("o1", "buy", T0, {})])
    SliceStore(lake, 1, 0).pointer_path.write_bytes(content)
    with client_of(settings, views) as client:
        answer = client.get("/views/orders")
        assert answer.status_code == 200, answer.text
        assert [row["orders"] for row in answer.json()["rows"]] == [1]
        assert client.get("/health").status_code == 200


def test_a_damaged_master_file_is_moved_aside_by_health(settings):
    lake = Lake(settings.data_dir)
    buffer = PartitionBuffer(0)
    buffer.add(0, Event("a", "buy", T0, {}).encode())
    path = write_master_file(lake, 1, 0, buffer)
    _truncate(path)
    with client_of(settings, catalog("events")) as client:
        health = client.get("/health")
        assert health.status_code == 200, health.text
        assert client.get("/views/orders").status_code == 200
    assert not path.exists()
    assert [q.path for q in quarantined(lake)] == [str(path)]


def test_a_damaged_record_of_a_base_version_leaves_its_slices_out(settings):
    lake = Lake(settings.data_dir)
    views = catalog("events")
    publish_slice(lake, views, 0, "000000", 5, [Event("o1", "buy", T0, {})])
    (lake.versions / "000000").mkdir()
    (lake.versions / "000000" / "version.json").write_bytes(b"{")
    with client_of(settings, views) as client:
        client.app.state.serving.lag_probe.ends = lambda: {0: 5}
        health = client.get("/health")
        assert health.status_code == 200, health.text
        answer = client.get("/views/orders")
        assert answer.status_code == 200, answer.text
        assert [row["orders"] for row in answer.json()["rows"]] == [1]  # the batch only
        assert answer.json()["meta"]["speed"]["lag"] == 3
