"""The master dataset's files: their schema, how the archiver writes them, and how every
reader gets events (or rejected records) back. The one module that knows the format.

Each file holds every record of one partition's offset range ``[first, last]``. A record that
is an event has ``id``, ``type``, ``ts`` and ``props`` (its properties as JSON); a record that
is not (another producer's bytes) is kept as data: ``rejected`` says why, ``raw`` holds its
bytes, and the event columns are null. Both layers skip rejected records, so they agree.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from common.errors import DamagedFile, EventError
from common.model.ddl import ddl_of
from common.model.events import RESERVED_TYPE_PREFIX, Event, decode_event, props_of
from common.storage.lake import Lake, MasterFile, publish
from common.storage.lake_files import parquet_schema, read_parquet, reading
from common.storage.quarantine import quarantine

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("ts", pa.int64()),
        ("props", pa.string()),
        ("generation", pa.int32()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("rejected", pa.string()),
        ("raw", pa.binary()),
    ]
)
EVENT_COLUMNS = ("id", "type", "ts", "props")
DDL = ddl_of(SCHEMA)
"""The schema as a SQL column list (what Spark reads the files with)."""

Row = tuple[str | None, str | None, int | None, str | None, int, str | None, bytes | None]


@dataclass(frozen=True)
class Rejected:
    """A record of the topic that is not an event."""

    generation: int
    partition: int
    offset: int
    reason: str


@dataclass
class PartitionBuffer:
    """Records of one partition waiting to be written, from ``first`` (a consumer position)."""

    first: int
    rows: list[Row] = field(default_factory=list)
    rejected: int = 0

    def add(self, offset: int, value: bytes | None) -> None:
        """Decode one record: an event, or a rejected record kept with its reason."""
        try:
            event = decode_event(value)
        except EventError as exc:
            self.rows.append((None, None, None, None, offset, str(exc)[:1000], value))
            self.rejected += 1
            return
        props = orjson.dumps(event.props).decode()
        self.rows.append((event.id, event.type, event.ts, props, offset, None, None))

    @property
    def last(self) -> int:
        return self.rows[-1][4]

    @property
    def end(self) -> int:
        """The offset after the buffer: where the next file starts."""
        return self.last + 1


def write_master_file(
    lake: Lake, generation: int, partition: int, buffer: PartitionBuffer, last: int | None = None
) -> Path:
    """Write one buffer as an immutable file named by its offset range (to ``last``, when
    offsets after its last record belong to it too); publish by rename."""
    path = lake.master_path(
        generation, partition, buffer.first, buffer.last if last is None else last
    )
    ids, types, tss, props, offsets, rejected, raw = zip(*buffer.rows, strict=True)
    count = len(ids)
    columns = [ids, types, tss, props, [generation] * count, [partition] * count, offsets]
    columns += [rejected, raw]
    table = pa.table(
        [pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
    )
    write_table(path, table)
    return path


def write_table(path: Path, table: pa.Table) -> None:
    """Publish a master file whole (by rename: readers never see it half written)."""
    publish(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_table(path: Path) -> pa.Table:
    """A whole master file in the current schema (columns the file predates as nulls)."""
    table = _read(path, SCHEMA.names)
    with reading(path):
        return table.cast(SCHEMA)


def remove_partial_files(lake: Lake, generation: int) -> int:
    """Delete temporary files a killed archiver left behind; return how many."""
    removed = 0
    for tmp in lake.master_dir(generation, 0).parent.glob("p=*/.*.tmp*"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def is_event(record_type: str | None, rejected: str | None) -> bool:
    """Whether a row is an event. Files written before rejected records had columns of their
    own kept them as events of the reserved type ``_invalid``: those are rejected too."""
    return (
        rejected is None
        and record_type is not None
        and not record_type.startswith(RESERVED_TYPE_PREFIX)
    )


def archived_after(lake: Lake, generation: int, partition: int, first: int) -> list[MasterFile]:
    """The files of one partition holding offsets from ``first`` on, by offset."""
    return [f for f in lake.master_files(generation) if f.partition == partition and f.end > first]


def read_events(path: Path, start: int = 0, end: int | None = None) -> Iterator[Event]:
    """The events of one file from offset ``start`` on (up to ``end``, exclusive), in offset
    order."""
    table = _read(path, [*EVENT_COLUMNS, "offset", "rejected"])
    with reading(path):  # a props text that is not JSON is damage too
        events = [
            Event(row["id"], row["type"], row["ts"], props_of(row["props"]))
            for row in table.to_pylist()
            if row["offset"] >= start
            and (end is None or row["offset"] < end)
            and is_event(row["type"], row["rejected"])
        ]
    yield from events


def events_of(f: MasterFile, start: int = 0, end: int | None = None) -> list[Event] | None:
    """The events of a master file from ``start`` (up to ``end``), or None when the file
    cannot be read: it is then quarantined (``common.storage.quarantine``), which every reader of
    master files does, so a damaged file is taken out of every listing at its first read."""
    try:
        return list(read_events(f.path, start, end))
    except DamagedFile as exc:
        quarantine(f, exc)
        return None


def rejected_records(path: Path) -> list[Rejected]:
    """The rejected records of one file (legacy ``_invalid`` rows included)."""
    table = _read(path, ["type", "generation", "partition", "offset", "rejected"])
    return [
        Rejected(r["generation"], r["partition"], r["offset"], r["rejected"] or "not an event")
        for r in table.to_pylist()
        if not is_event(r["type"], r["rejected"])
    ]


def _read(path: Path, columns: list[str]) -> pa.Table:
    """Some columns of a file; a column the file predates reads as nulls. ``DamagedFile``
    when it cannot be read (the caller quarantines it: ``common.storage.quarantine``)."""
    present = set(parquet_schema(path).names)
    table = read_parquet(path, columns=[c for c in columns if c in present])
    missing = [c for c in columns if c not in present]
    with reading(path):
        for name in missing:
            table = table.append_column(name, pa.nulls(table.num_rows, SCHEMA.field(name).type))
        return table.select(columns)
