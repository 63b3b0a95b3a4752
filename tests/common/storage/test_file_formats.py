"""Every JSON format of the lake, modelled by pydantic: files written before formats carried a
``format_version`` still read, what is written reads back the same, and content of the wrong
shape is ``DamagedFile`` naming the file and the field at fault."""

import json

import orjson
import pytest
from pydantic import ValidationError

from common.errors import DamagedFile, LakeError
from common.storage.batch_runs import RUN_FILE, RunRecord, RunStore
from common.storage.lake import VERSION_FILE, BatchVersion, Lake
from common.storage.lake_files import FORMAT_VERSION, JsonFormat
from common.storage.quarantine import RANGES_FILE, OffsetRange, Quarantined, QuarantineRecord
from common.storage.speed_store import POINTER_FILE, Segment, SlicePointer, SliceStore

VERSION = BatchVersion(
    "000002",
    "2026-01-31T17:00:00.000000Z",
    12,
    {1: {0: 9, 1: 1}},
    ("orders",),
    1.5,
    {"orders": "f1"},
    {1: {0: 8, 1: 2}},
)
POINTER = SlicePointer(
    1,
    0,
    "000002",
    12,
    3,
    "2026-01-31T17:00:01.000000Z",
    (Segment(10, 12, 3, {"orders": "000000000004.orders.parquet"}, "000000000004.ids.parquet"),),
    {"orders": "f1"},
    missing=1,
    owner="r1",
    sequence=4,
)
RUN = RunRecord("20261126T000000000000Z-abcd", "size", "succeeded", "t0", "t1", 2.5, 12, "000002")
QUARANTINED = Quarantined("/data/master/x.parquet", OffsetRange(1, 0, 0, 9), "truncated", "t2")

# Each as the code before format versions wrote it (its field names and shapes, no version).
OLD_FILES = [
    (
        VERSION_FILE,
        json.dumps(
            {
                "version": "000002",
                "computed_at": "2026-01-31T17:00:00.000000Z",
                "events": 12,
                "offsets": {"1": {"0": 9, "1": 1}},
                "views": ["orders"],
                "duration_s": 1.5,
                "fingerprints": {"orders": "f1"},
                "partition_events": {"1": {"0": 8, "1": 2}},
            },
            indent=2,
        ).encode(),
        VERSION,
    ),
    (
        POINTER_FILE,
        orjson.dumps(
            {
                "generation": 1,
                "partition": 0,
                "base_version": "000002",
                "next_offset": 12,
                "events": 3,
                "written_at": "2026-01-31T17:00:01.000000Z",
                "segments": [
                    {
                        "first": 10,
                        "end": 12,
                        "events": 3,
                        "files": {"orders": "000000000004.orders.parquet"},
                        "ids": "000000000004.ids.parquet",
                    }
                ],
                "fingerprints": {"orders": "f1"},
                "missing": 1,
                "owner": "r1",
                "sequence": 4,
            }
        ),
        POINTER,
    ),
    (
        RUN_FILE,
        json.dumps(
            {
                "id": "20261126T000000000000Z-abcd",
                "trigger": "size",
                "state": "succeeded",
                "requested_at": "t0",
                "started_at": "t1",
                "duration_s": 2.5,
                "events": 12,
                "version": "000002",
                "error": None,
            },
            indent=2,
        ).encode(),
        RUN,
    ),
    (
        RANGES_FILE,
        orjson.dumps([{"generation": 1, "partition": 0, "first": 3, "last": 5}]),
        [OffsetRange(1, 0, 3, 5)],
    ),
]


@pytest.mark.parametrize(("fmt", "old", "value"), OLD_FILES, ids=lambda v: type(v).__name__)
def test_a_file_written_before_format_versions_reads(tmp_path, fmt, old, value):
    path = tmp_path / "f.json"
    path.write_bytes(old)
    assert fmt.read(path) == value


@pytest.mark.parametrize(("fmt", "old", "value"), OLD_FILES, ids=lambda v: type(v).__name__)
def test_what_is_written_reads_back_with_every_field_of_before(tmp_path, fmt, old, value):
    path = tmp_path / "f.json"
    path.write_bytes(fmt.encode(value, indent=2))
    assert fmt.read(path) == value
    written, before = orjson.loads(path.read_bytes()), orjson.loads(old)
    if isinstance(before, dict):
        assert written.pop("format_version") == FORMAT_VERSION
    assert written == before


@pytest.mark.parametrize(
    ("fmt", "content", "field"),
    [
        (VERSION_FILE, b'{"version": "000002"}', "computed_at"),
        (VERSION_FILE, b"[]", "the document"),
        (POINTER_FILE, orjson.dumps({**POINTER_FILE.to_json(POINTER), "events": "x"}), "events"),
        (POINTER_FILE, b'{"a": 1', None),
        (RUN_FILE, orjson.dumps({**RUN_FILE.to_json(RUN), "state": "lost"}), "state"),
        (RANGES_FILE, b'{"generation": 1}', "the document"),
        (RANGES_FILE, b'[{"generation": 1}]', "0.partition"),
    ],
)
def test_content_of_the_wrong_shape_is_damage_naming_the_field(tmp_path, fmt, content, field):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(DamagedFile) as caught:
        fmt.read(path)
    assert caught.value.path == path
    if field is not None:
        assert caught.value.reason.startswith(f"ValidationError: {field}: ")
        assert isinstance(caught.value.__cause__, ValidationError)


def test_fields_a_format_does_not_know_are_ignored():
    raw = {**VERSION_FILE.to_json(VERSION), "format_version": 2, "written_by": "a later one"}
    assert VERSION_FILE.decode(raw) == VERSION
    assert VERSION_FILE.decode(raw).format_version == 2


def test_a_format_of_any_model_reads_its_type(tmp_path):
    fmt = JsonFormat(dict[str, int])
    path = tmp_path / "f.json"
    path.write_bytes(fmt.encode({"a": 1}))
    assert fmt.read(path) == {"a": 1}
    assert fmt.read_or_none(tmp_path / "gone.json") is None


def test_the_lake_writes_its_files_in_their_formats(tmp_path):
    lake = Lake(tmp_path)
    lake.publish_manifest(VERSION)
    assert orjson.loads(lake.manifest_path.read_bytes())["format_version"] == FORMAT_VERSION
    store = SliceStore(lake, 1, 0)
    store.publish(POINTER)
    assert store.read() == POINTER
    assert orjson.loads(store.pointer_path.read_bytes())["format_version"] == FORMAT_VERSION
    runs = RunStore(lake)
    runs.write(RUN)
    assert runs.get(RUN.id) == RUN
    assert orjson.loads(runs.path(RUN.id).read_bytes())["format_version"] == FORMAT_VERSION


def test_a_run_answers_without_its_file_version():
    assert "format_version" not in RUN.to_json()
    assert RUN.to_json() == orjson.loads(OLD_FILES[2][1])


def test_a_quarantine_record_keeps_its_range_inline():
    record = QuarantineRecord.of(QUARANTINED)
    assert record.model_dump(exclude={"format_version"}) == QUARANTINED.to_json()
    assert record.quarantined() == QUARANTINED
    old = {"path": "/data/master/x.parquet", "generation": 1, "partition": 0, "first": 0}
    assert QuarantineRecord.model_validate({**old, "last": 9, "reason": "truncated", "at": "t2"})
    with pytest.raises(ValidationError):
        QuarantineRecord.model_validate(old)


@pytest.mark.parametrize(
    "content",
    [
        b'{"generation": 1, "topic_id": "id-1"}',
        b'{"generation": 1, "topic_id": "id-1", "format_version": 1}',
    ],
)
def test_a_topic_id_written_before_format_versions_reads(tmp_path, content):
    lake = Lake(tmp_path)
    lake.topic_id_file.write_bytes(content)
    assert lake.read_topic_id(1) == "id-1"
    assert lake.read_topic_id(2) is None


@pytest.mark.parametrize(
    "content",
    [b"[]", b'{"generation": "1", "topic_id": "id-1"}', b'{"generation": 1, "topic_id": 7}'],
)
def test_a_topic_id_record_of_another_shape_records_none(tmp_path, content):
    lake = Lake(tmp_path)
    lake.topic_id_file.write_bytes(content)
    assert lake.read_topic_id(1) is None


def test_an_empty_topic_id_file_cannot_be_read(tmp_path):
    lake = Lake(tmp_path)
    lake.topic_id_file.write_bytes(b"")
    with pytest.raises(LakeError, match="cannot read"):
        lake.read_topic_id(1)
