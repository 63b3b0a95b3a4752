"""Turns consumed Kafka records into master-dataset Parquet files."""

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import EventError
from common.events import decode_event
from common.lake import Lake, fsync_dir

MASTER_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("ts", pa.int64()),
        ("props", pa.string()),
        ("generation", pa.int32()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
    ]
)
INVALID_TYPE = "_invalid"
"""The type given to records that are not events, archived as data rather than dropped."""


@dataclass
class PartitionBuffer:
    """Records of one partition waiting to be written, from ``first`` (a consumer position)."""

    first: int
    rows: list[tuple[str, str, int, str, int]] = field(default_factory=list)

    def add(self, offset: int, value: bytes) -> None:
        try:
            event = decode_event(value)
            self.rows.append(
                (event.id, event.type, event.ts, orjson.dumps(event.props).decode(), offset)
            )
        except EventError:
            raw = value.decode("utf-8", errors="replace")
            self.rows.append((f"_invalid:{offset}", INVALID_TYPE, 0, raw, offset))

    @property
    def last(self) -> int:
        return self.rows[-1][4]


def write_master_file(lake: Lake, generation: int, partition: int, buffer: PartitionBuffer) -> Path:
    """Write one buffer as an immutable file named by its offset range; publish by rename."""
    path = lake.master_path(generation, partition, buffer.first, buffer.last)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids, types, tss, props, offsets = zip(*buffer.rows, strict=True)
    count = len(ids)
    table = pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array(types, pa.string()),
            pa.array(tss, pa.int64()),
            pa.array(props, pa.string()),
            pa.array([generation] * count, pa.int32()),
            pa.array([partition] * count, pa.int32()),
            pa.array(offsets, pa.int64()),
        ],
        schema=MASTER_SCHEMA,
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def remove_partial_files(lake: Lake, generation: int) -> int:
    """Delete temporary files a killed archiver left behind; return how many."""
    removed = 0
    gen_dir = lake.master_dir(generation, 0).parent
    for tmp in gen_dir.glob("p=*/.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
