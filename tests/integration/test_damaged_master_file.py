"""Issue 16's row "one master-dataset file truncated": /health and queries answered 500, the
next `make batch` failed, and after a restart `make run` could not start. Now the file is
moved to quarantine/, archived again from the log while the log holds it (answers exact
again), and otherwise shown as a loss in /status and meta.batch.lost until `make
accept-loss`, after which batch runs cover what comes after it."""

import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import LocalPipeline

from common.model.timeutil import now_ms
from common.storage.lake import MasterFile
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def assert_exact(pipeline: LocalPipeline, truth: GroundTruth, source: str = "merged") -> None:
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name, source=source))


def truncate_widest(pipeline: LocalPipeline, generation: int) -> tuple[MasterFile, set[str]]:
    """Cut the widest live master file of ``generation`` in half; it and the ids it held."""
    widest = max(pipeline.lake.master_files(generation), key=lambda f: f.last - f.first)
    ids = {i for i in pq.read_table(widest.path, columns=["id"])["id"].to_pylist() if i}
    data = widest.path.read_bytes()
    widest.path.write_bytes(data[: len(data) // 2])
    return widest, ids


def status_damage(pipeline: LocalPipeline) -> dict | None:
    answer = pipeline.client.get(f"{pipeline.serving_url}/status")
    return answer.json().get("damaged") if answer.status_code == 200 else None


def master_offsets_once(pipeline: LocalPipeline, generation: int) -> None:
    rows = pipeline.sql(
        'SELECT partition, count(*), count(DISTINCT "offset"), min("offset"), max("offset") '
        f"FROM read_parquet('{{data}}/master/g={generation:06d}/p=*/*.parquet') "
        "GROUP BY ALL ORDER BY ALL"
    )
    for partition, count, distinct, lowest, highest in rows:
        assert count == distinct, f"partition {partition}: an offset is archived twice"
        assert (lowest, highest) == (0, count - 1), f"partition {partition}: offsets missing"


def test_a_truncated_master_file_is_quarantined_archived_again_or_shown_as_lost(tmp_path):
    data_dir = tmp_path / "data"
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=16, prefix="damaged-master", now_ms=now_ms())

    # -- while the pipeline runs: the log still holds the file's offsets ----------------
    with launch(tmp_path, data_dir) as first:
        ledger.post(first, factory.batch(800))
        first.wait_caught_up()
        wait_for(lambda: first.health()["archive"]["lag"] == 0, 30, "the archive")
        damaged, _ = truncate_widest(first, 1)
        assert first.client.get(f"{first.serving_url}/health").status_code == 200
        version = first.run_batch()  # meets the file: moves it aside, waits for the archiver
        first.wait_caught_up(version=version)
        assert_exact(first, truth)
        assert_exact(first, truth, source="batch")
        moved_to = (
            data_dir / "quarantine" / "master" / damaged.path.relative_to(data_dir / "master")
        )
        assert moved_to.exists()
        moved = wait_for(lambda: (status_damage(first) or {}).get("quarantined"), 30, "/status")
        assert [(q["path"], q["first"], q["last"]) for q in moved] == [
            (str(damaged.path), damaged.first, damaged.last)
        ]
        assert moved[0]["archived_again"] is True
        master_offsets_once(first, 1)
        ledger.post(first, factory.batch(200))  # generation 1 grows on, no batch covers it
        first.wait_caught_up()

    # -- across a restart: generation 1's log is gone with the bundled broker -----------
    damaged, lost_ids = truncate_widest(first, 1)
    with launch(tmp_path, data_dir) as second:  # starts (it could not: rejected.py's ArrowInvalid)
        health = second.client.get(f"{second.serving_url}/health")
        assert health.status_code == 200, health.text

        def lost() -> list[dict]:
            return second.query(second.catalog.views[0].name, limit=1)["meta"]["batch"]["lost"]

        assert wait_for(lost, 60, "meta.batch.lost") == [
            {
                "generation": 1,
                "partition": damaged.partition,
                "first": damaged.first,
                "last": damaged.last,
                "accepted": False,
            }
        ]
        shown = wait_for(lambda: (status_damage(second) or {}).get("lost"), 30, "/status loss")
        assert shown[0]["first"] == damaged.first
        codes = {
            w["code"] for w in second.client.get(f"{second.serving_url}/status").json()["warnings"]
        }
        assert "lost" in codes

        # `make accept-loss`, then a batch run covers everything after the loss
        accepted = second.run_command([sys.executable, "-m", "batch_layer.accept_loss"], 60)
        assert accepted.returncode == 0, accepted.stderr
        assert f"offsets {damaged.first}-{damaged.last}" in accepted.stdout
        version = second.run_batch()
        second.wait_caught_up(version=version)
        assert lost()[0]["accepted"] is True
        kept = Ledger()
        kept.events = [e for e in ledger.events if e["id"] not in lost_ids]
        assert_exact(second, GroundTruth(kept))
        assert_exact(second, GroundTruth(kept), source="batch")
    assert Path(data_dir / "quarantine" / "accepted.json").exists()
