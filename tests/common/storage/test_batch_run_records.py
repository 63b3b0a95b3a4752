"""Batch run records: their format, one run at a time, the history's length, and the count
of archived events no batch version covers (the data-size trigger)."""

from datetime import UTC, datetime

import pytest

from common.model.events import Event
from common.storage.batch_runs import RunBusy, RunRecord, RunStore, uncovered_events
from common.storage.lake import BatchVersion, Lake
from common.storage.master import PartitionBuffer, write_master_file


def archive(lake: Lake, generation: int, partition: int, first: int, last: int) -> None:
    buffer = PartitionBuffer(first=first)
    for offset in range(first, last + 1):
        buffer.add(offset, Event(f"e{generation}-{partition}-{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, partition, buffer)


def test_a_record_round_trips_through_its_file(tmp_path):
    runs = RunStore(Lake(tmp_path))
    record = RunRecord("20261126T000000000000Z-abcd", "size", "queued", "t0").started()
    runs.write(record.succeeded("000007", 1234, 41.5))
    assert runs.get(record.id) == RunRecord(
        record.id, "size", "succeeded", "t0", record.started_at, 41.5, 1234, "000007", None
    )
    assert record.started_at is not None
    failed = record.failed("Spark failed: disk full", 3.0)
    runs.write(failed)
    assert runs.get(record.id) == failed


@pytest.mark.parametrize("run_id", ["nope", "", "../manifest", "a/b", "x.json"])
def test_an_unknown_or_malformed_id_is_no_run(tmp_path, run_id):
    lake = Lake(tmp_path)
    lake.batch.mkdir(parents=True)
    (lake.batch / "manifest.json").write_text("{}")
    assert RunStore(lake).get(run_id) is None


def test_a_request_is_queued_and_refused_while_a_run_is_queued_or_running(tmp_path):
    runs = RunStore(Lake(tmp_path))
    queued = runs.begin("request", state="queued")
    assert queued.state == "queued" and queued.started_at is None
    with pytest.raises(RunBusy) as busy:
        runs.begin("request", state="queued")
    assert busy.value.run_id == queued.id
    with pytest.raises(RunBusy):
        runs.begin("interval")  # the scheduler's own triggers wait too
    claimed = runs.claim_queued()
    assert claimed is not None and claimed.id == queued.id and claimed.state == "running"
    assert runs.claim_queued() is None
    with pytest.raises(RunBusy) as busy:
        runs.begin("request", state="queued")
    assert busy.value.run_id == queued.id
    runs.write(claimed.failed("boom", 1.0))
    assert runs.active() is None
    assert runs.begin("request", state="queued").id != queued.id


def test_a_manual_run_records_itself_even_beside_another(tmp_path):
    runs = RunStore(Lake(tmp_path))
    running = runs.begin("interval")
    manual = runs.begin("manual", alone=False)
    assert manual.state == "running"
    assert [r.id for r in runs.recent()] == [manual.id, running.id]  # newest first


def test_the_history_keeps_the_newest_finished_runs(tmp_path):
    runs = RunStore(Lake(tmp_path))
    ids = []
    for index in range(6):
        record = runs.begin("interval")
        ids.append(record.id)
        runs.write(record.succeeded(f"{index:06d}", index, 1.0))
    runs.prune(keep=4)
    assert [r.id for r in runs.recent()] == ids[::-1][:4]
    assert [r.version for r in runs.recent(limit=2)] == ["000005", "000004"]


def test_uncovered_events_count_every_generation_beyond_the_newest_version(tmp_path):
    lake = Lake(tmp_path)
    assert uncovered_events(lake) == 0
    archive(lake, 1, 0, 0, 9)
    archive(lake, 1, 1, 0, 4)
    archive(lake, 2, 0, 0, 2)
    assert uncovered_events(lake) == 10 + 5 + 3
    lake.publish_manifest(BatchVersion("000001", "t", 12, {1: {0: 9, 1: 1}}, ()))
    assert uncovered_events(lake) == 3 + 3  # p1 offsets 2-4, generation 2's three


def test_offsets_after_a_gap_are_not_counted_since_no_batch_can_cover_them(tmp_path):
    lake = Lake(tmp_path)
    archive(lake, 1, 0, 0, 4)
    archive(lake, 1, 0, 10, 19)  # 5-9 were lost to retention
    assert uncovered_events(lake) == 5
    lake.publish_manifest(BatchVersion("000001", "t", 5, {1: {0: 4}}, ()))
    assert uncovered_events(lake) == 0


def test_run_ids_keep_their_order_when_the_clock_steps_back(tmp_path):
    moments = iter(
        [
            datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 26, 12, 0, tzinfo=UTC),  # the same microsecond again
            datetime(2026, 11, 26, 11, 0, tzinfo=UTC),  # NTP stepped the clock back an hour
        ]
    )
    runs = RunStore(Lake(tmp_path), clock=lambda: next(moments))
    first = runs.begin("interval")
    runs.write(first.succeeded("000001", 1, 1.0))
    second = runs.begin("interval")
    runs.write(second.succeeded("000002", 1, 1.0))
    queued = runs.begin("request", state="queued")
    assert first.id < second.id < queued.id
    assert [r.id for r in runs.recent()] == [queued.id, second.id, first.id]
    assert runs.active() == queued
    claimed = runs.claim_queued()
    assert claimed is not None and claimed.id == queued.id
    assert queued.requested_at.startswith("2026-11-26T11:00:00")  # the record says when


def test_the_newest_run_is_found_after_the_clock_stepped_back_past_the_history(tmp_path):
    runs = RunStore(Lake(tmp_path), clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    for index in range(3):
        record = runs.begin("interval")
        runs.write(record.succeeded(f"{index:06d}", index, 1.0))
    back = RunStore(Lake(tmp_path), clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    queued = back.begin("request", state="queued")
    back.prune(keep=2)
    assert [r.id for r in back.recent(limit=1)] == [queued.id]
    assert back.active() == queued


@pytest.mark.parametrize("content", [b"", b'{"id": "x", "sta', b"\x00\x01\x02", b"[1]", b"{}"])
def test_a_record_that_cannot_be_read_is_skipped_with_a_warning(tmp_path, caplog, content):
    runs = RunStore(Lake(tmp_path))
    good = RunRecord("20261126T000000000001Z-abcd", "manual", "queued", "t0")
    runs.write(good)
    runs.path("20261126T000000000002Z-dead").write_bytes(content)
    assert runs.recent() == [good]
    assert runs.active() == good
    assert runs.get("20261126T000000000002Z-dead") is None
    assert "batch run record skipped" in caplog.text
    assert runs.begin("request", state="queued", alone=False).trigger == "request"
