"""The data-lake layout: coverage of master files, atomic writes, generations, pointers."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.errors import DamagedFile, LakeError
from common.storage.lake import (
    BatchVersion,
    Lake,
    MasterFile,
    contiguous_coverage,
    write_atomic,
)
from common.storage.speed_store import SlicePointer


def mf(generation, partition, first, last):
    path = Path(f"/nowhere/g={generation}/p={partition}/{first}-{last}.parquet")
    return MasterFile(generation, partition, first, last, path)


# -- contiguous_coverage ---------------------------------------------------------------


def test_coverage_of_nothing():
    assert contiguous_coverage([]) == ([], {})


def test_coverage_of_an_unbroken_chain():
    files = [mf(1, 0, 0, 9), mf(1, 0, 10, 19), mf(1, 0, 20, 20)]
    chosen, offsets = contiguous_coverage(files)
    assert chosen == files
    assert offsets == {1: {0: 20}}


def test_coverage_stops_at_a_gap():
    files = [mf(1, 0, 0, 9), mf(1, 0, 10, 19), mf(1, 0, 25, 30), mf(1, 0, 31, 40)]
    chosen, offsets = contiguous_coverage(files)
    assert chosen == files[:2]
    assert offsets == {1: {0: 19}}


def test_a_gap_in_one_partition_does_not_affect_others():
    files = [
        mf(1, 0, 0, 4),
        mf(1, 0, 6, 9),
        mf(1, 1, 0, 99),
        mf(1, 1, 100, 199),
        mf(2, 0, 0, 3),
        mf(2, 0, 4, 8),
    ]
    chosen, offsets = contiguous_coverage(files)
    assert chosen == [files[0], files[2], files[3], files[4], files[5]]
    assert offsets == {1: {0: 4, 1: 199}, 2: {0: 8}}


def test_coverage_sorts_its_input():
    files = [mf(2, 0, 5, 9), mf(1, 3, 10, 19), mf(2, 0, 0, 4), mf(1, 3, 0, 9)]
    chosen, offsets = contiguous_coverage(files)
    assert chosen == [files[3], files[1], files[2], files[0]]
    assert offsets == {1: {3: 19}, 2: {0: 9}}


def test_an_overlapping_file_counts_as_a_gap():
    # never produced by the archiver; covering it would count offsets 5-9 twice
    files = [mf(1, 0, 0, 9), mf(1, 0, 5, 14), mf(1, 0, 15, 20)]
    chosen, offsets = contiguous_coverage(files)
    assert chosen == files[:1]
    assert offsets == {1: {0: 9}}


# -- write_atomic ----------------------------------------------------------------------


def test_write_atomic_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "file.json"
    write_atomic(path, b"first")
    assert path.read_bytes() == b"first"
    write_atomic(path, b"second, longer")
    assert path.read_bytes() == b"second, longer"
    write_atomic(path, b"")
    assert path.read_bytes() == b""
    assert sorted(os.listdir(path.parent)) == ["file.json"]  # no temporary file left


# -- generations -----------------------------------------------------------------------


def test_generation_missing_is_an_error(tmp_path):
    lake = Lake(tmp_path / "data")
    with pytest.raises(LakeError, match="is missing"):
        lake.read_generation()


def test_generation_start_and_read(tmp_path):
    lake = Lake(tmp_path / "data")
    assert lake.start_generation() == 1
    assert lake.read_generation() == 1
    assert lake.start_generation() == 2
    assert lake.read_generation() == 2
    assert lake.generation_file.read_text() == "2\n"


def test_a_generation_keeps_the_id_of_its_topic_and_no_other_generation_has_it(tmp_path):
    lake = Lake(tmp_path / "data")
    assert lake.start_generation("id-1") == 1
    assert lake.read_topic_id(1) == "id-1"
    assert lake.start_generation() == 2  # a broker that gives no id
    assert lake.read_topic_id(2) is None and lake.read_topic_id(1) == "id-1"
    lake.record_topic_id(2, "id-2")
    assert lake.read_topic_id(2) == "id-2"
    lake.topic_id_file.write_bytes(b"\x00garbage")
    with pytest.raises(LakeError, match="cannot read"):
        lake.read_topic_id(2)


# -- the master dataset ----------------------------------------------------------------


def test_master_path_layout(tmp_path):
    lake = Lake(tmp_path)
    path = lake.master_path(3, 2, 0, 41)
    assert path == tmp_path / "master" / "g=000003" / "p=2" / (
        "00000000000000000000-00000000000000000041.parquet"
    )


def test_master_files_parses_names_and_sorts(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    wanted = [(1, 0, 0, 9), (1, 0, 10, 19), (1, 1, 0, 4), (1, 10, 0, 0), (2, 0, 0, 99)]
    for g, p, first, last in reversed(wanted):
        path = lake.master_path(g, p, first, last)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    # things that are not master files
    part = lake.master_dir(1, 0)
    (part / ".00000000000000000020-00000000000000000029.parquet.tmp-1").write_bytes(b"")
    (part / "20-29.parquet").write_bytes(b"")
    (part / "00000000000000000020-00000000000000000029.json").write_bytes(b"")
    (lake.master / "g=000001" / "notes").mkdir()
    (lake.master / ".archiver.lock").write_bytes(b"")

    files = lake.master_files()
    assert [(f.generation, f.partition, f.first, f.last) for f in files] == wanted
    assert all(f.path == lake.master_path(*key) for f, key in zip(files, wanted, strict=True))
    only_two = lake.master_files(generation=2)
    assert [(f.generation, f.partition, f.first, f.last) for f in only_two] == [(2, 0, 0, 99)]
    assert lake.master_files(generation=7) == []


def test_master_files_of_an_empty_lake(tmp_path):
    assert Lake(tmp_path / "never-created").master_files() == []


# -- batch versions and the speed pointer ------------------------------------------------


def a_version(version="000003"):
    return BatchVersion(
        version=version,
        computed_at="2026-01-31T17:00:00.000000Z",
        events=1234,
        offsets={1: {0: 99, 1: 5}, 2: {0: 7}},
        views=("page_views_by_page", "revenue_by_country"),
        duration_s=12.5,
    )


def test_batch_version_json_round_trip():
    version = a_version()
    text = json.dumps(version.to_json())
    assert json.loads(text)["offsets"] == {"1": {"0": 99, "1": 5}, "2": {"0": 7}}
    assert BatchVersion.from_json(json.loads(text)) == version


def test_batch_version_without_duration():
    raw = a_version().to_json()
    del raw["duration_s"]
    assert BatchVersion.from_json(raw).duration_s == 0.0


def test_next_offsets():
    version = a_version()
    assert version.next_offsets(1) == {0: 100, 1: 6}
    assert version.next_offsets(2) == {0: 8}
    assert version.next_offsets(3) == {}


def test_manifest_publish_and_read(tmp_path):
    lake = Lake(tmp_path)
    assert lake.read_manifest() is None
    lake.publish_manifest(a_version("000001"))
    lake.publish_manifest(a_version("000002"))
    assert lake.read_manifest() == a_version("000002")


@pytest.mark.parametrize("content", [b"", b"{not json", b"[]", b'{"version": "000002"}'])
def test_a_damaged_manifest_stands_for_the_newest_readable_version(tmp_path, content):
    lake = Lake(tmp_path)
    for name in ("000001", "000002", "000003"):
        (lake.versions / name).mkdir(parents=True)
        write_atomic(
            lake.versions / name / "version.json", json.dumps(a_version(name).to_json()).encode()
        )
    (lake.versions / "000003" / "version.json").write_bytes(b"\x00")
    write_atomic(lake.manifest_path, content)
    assert lake.read_manifest() == a_version("000002")
    with pytest.raises(DamagedFile):
        lake.read_version("000003")


def test_versions_are_numbered_after_the_newest(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    assert lake.next_version() == "000001"
    assert lake.published_versions() == []
    for name in ("000001", "000009", "000010.tmp", "junk"):
        (lake.versions / name).mkdir()
    assert lake.published_versions() == ["000001", "000009"]
    assert lake.next_version() == "000010"
    document = json.dumps(a_version().to_json()).encode()
    write_atomic(lake.versions / "000001" / "version.json", document)
    assert lake.read_version("000001") == a_version()
    assert lake.read_version("000009") is None


def test_fingerprints_round_trip_and_files_written_before_them_have_none():
    fingerprints = {"page_views_by_page": "f1", "revenue_by_country": "f2"}
    version = BatchVersion("000001", "t", 1, {1: {0: 0}}, tuple(fingerprints), 1.0, fingerprints)
    pointer = SlicePointer(1, 0, "000001", 1, 0, "t", fingerprints=fingerprints)
    for kind, written in ((BatchVersion, version), (SlicePointer, pointer)):
        raw = json.loads(json.dumps(written.to_json()))
        assert raw["fingerprints"] == fingerprints
        assert kind.from_json(raw) == written
        del raw["fingerprints"]
        assert kind.from_json(raw).fingerprints == {}


def test_backlog_and_ends_use_next_offsets(tmp_path):
    lake = Lake(tmp_path)
    for g, p, first, last in [(1, 0, 0, 4), (1, 0, 5, 9), (1, 1, 0, 2), (2, 0, 0, 3)]:
        path = lake.master_path(g, p, first, last)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert lake.archived_ends(1) == {0: 10, 1: 3}
    # covered up to (not including) offset 7 of partition 0; nothing of partition 1
    backlog = lake.backlog(2, {1: {0: 7}})
    assert [(f.partition, f.first, start) for f, start in backlog] == [(0, 5, 7), (1, 0, 0)]
    assert sum(f.end - start for f, start in backlog) == 3 + 3
    assert lake.backlog(2, {1: {0: 10, 1: 3}}) == []


@dataclass(frozen=True)
class Span:
    generation: int
    partition: int
    first: int
    last: int


def test_coverage_stops_at_a_blocker_nothing_holds():
    files = [mf(1, 0, 10, 19), mf(1, 0, 20, 29)]
    assert contiguous_coverage(files, blockers=[Span(1, 0, 0, 9)]) == ([], {})
    chosen, offsets = contiguous_coverage(files, blockers=[Span(1, 0, 30, 39)])
    assert (chosen, offsets) == (files, {1: {0: 29}})


def test_a_blocker_that_files_hold_again_is_no_stop():
    files = [mf(1, 0, 0, 9), mf(1, 0, 10, 19), mf(1, 0, 20, 29)]
    chosen, offsets = contiguous_coverage(files, blockers=[Span(1, 0, 12, 15)])
    assert (chosen, offsets) == (files, {1: {0: 29}})


def test_coverage_goes_on_across_a_bridge():
    files = [mf(1, 0, 0, 9), mf(1, 0, 20, 29), mf(1, 1, 5, 9)]
    chosen, offsets = contiguous_coverage(files, bridges=[Span(1, 0, 10, 19)])
    assert (chosen, offsets) == (files, {1: {0: 29, 1: 9}})
    leading = contiguous_coverage([mf(1, 0, 20, 29)], bridges=[Span(1, 0, 0, 19)])
    assert leading == ([mf(1, 0, 20, 29)], {1: {0: 29}})


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"\xff\xfe\x00"])
def test_a_damaged_generation_file_is_taken_from_the_directories_and_repaired(tmp_path, content):
    lake = Lake(tmp_path)
    lake.ensure()
    for generation in (1, 3):
        lake.master_dir(generation, 0).mkdir(parents=True)
    lake.generation_file.write_bytes(content)
    assert lake.read_generation() == 3  # never an error that stops make run
    lake.repair_generation()
    assert lake.generation_file.read_text() == "3\n"
    empty = Lake(tmp_path / "empty")
    empty.ensure()
    empty.generation_file.write_bytes(content)
    assert empty.read_generation() == 1
