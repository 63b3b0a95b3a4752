"""The one reader of lake files: every way a file cannot be read is one typed error."""

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import DamagedFile, LakeError
from common.storage.lake_files import (
    check_parquet,
    duckdb_reading,
    is_damage,
    parquet_schema,
    read_json,
    read_json_or_none,
    read_parquet,
)


def _parquet(path: Path) -> Path:
    pq.write_table(pa.table({"x": list(range(1000)), "y": [str(i) for i in range(1000)]}), path)
    return path


def _truncated(path: Path) -> Path:
    data = _parquet(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _foreign(path: Path) -> Path:
    path.write_bytes(b"\x00\x01 these are not the bytes you are looking for " * 50)
    return path


@pytest.mark.parametrize("damage", [_truncated, _empty, _foreign])
@pytest.mark.parametrize("read", [read_parquet, parquet_schema, check_parquet])
def test_a_damaged_parquet_file_is_one_typed_error(tmp_path, damage, read):
    path = damage(tmp_path / "f.parquet")
    with pytest.raises(DamagedFile) as caught:
        read(path)
    assert caught.value.path == path
    assert caught.value.reason
    assert isinstance(caught.value, LakeError)


def test_a_readable_parquet_file_reads(tmp_path):
    path = _parquet(tmp_path / "f.parquet")
    assert read_parquet(path, columns=["x"]).num_rows == 1000
    check_parquet(path)


def test_a_missing_file_is_not_damage(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_parquet(tmp_path / "gone.parquet")
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "gone.json")
    assert read_json_or_none(tmp_path / "gone.json") is None


@pytest.mark.parametrize(
    "content", [b"", b'{"a": 1', b"\xff\xfe not json", b"[1, 2, 3]", b'{"b": 2}']
)
def test_invalid_json_is_one_typed_error(tmp_path, content):
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(DamagedFile) as caught:
        read_json(path, lambda raw: int(raw["a"]))
    assert caught.value.path == path


def test_valid_json_decodes(tmp_path):
    path = tmp_path / "f.json"
    path.write_bytes(b'{"a": "7"}')
    assert read_json(path, lambda raw: int(raw["a"])) == 7


@pytest.mark.parametrize("damage", [_truncated, _empty, _foreign])
def test_duckdb_reading_names_the_damaged_file(tmp_path, damage):
    good = _parquet(tmp_path / "good.parquet")
    bad = damage(tmp_path / "bad.parquet")
    connection = duckdb.connect()
    with pytest.raises(DamagedFile) as caught, duckdb_reading([good, bad]):
        connection.sql(
            "SELECT count(*) FROM read_parquet(?)", params=[[str(good), str(bad)]]
        ).fetchall()
    assert caught.value.path == bad


def test_duckdb_reading_leaves_a_missing_file_as_it_was(tmp_path):
    good = _parquet(tmp_path / "good.parquet")
    gone = tmp_path / "gone.parquet"
    connection = duckdb.connect()
    with pytest.raises(duckdb.IOException), duckdb_reading([good, gone]):
        connection.sql(
            "SELECT count(*) FROM read_parquet(?)", params=[[str(good), str(gone)]]
        ).fetchall()


def test_memory_pressure_is_not_damage():
    assert not is_damage(pa.ArrowMemoryError("out of memory"))
    assert not is_damage(MemoryError())
    assert is_damage(pa.ArrowInvalid("Parquet magic bytes not found"))


def test_a_query_cut_at_its_deadline_blames_no_file_and_reads_none(tmp_path):
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 and then nothing")  # a probe would name it
    for cut in (duckdb.InterruptException("INTERRUPT"), duckdb.OutOfMemoryException("oom")):
        with pytest.raises(type(cut)), duckdb_reading([damaged]):
            raise cut
