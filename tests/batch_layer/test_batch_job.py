"""The batch job on real Spark: the same views as the speed layer's Python, from master files."""

import random

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from batch_layer.job import run_batch
from batch_layer.settings import BatchSettings
from common.model.events import Event
from common.model.views import parse_catalog
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from serving_layer.merge import merge
from speed_layer.slice_state import SliceState
from tests.support.shop_views import purchase_view, spec_of

pytestmark = pytest.mark.integration

CATALOG = parse_catalog(
    {
        "views": [
            purchase_view("by_country", "minute", ["country", "vip"]),
            purchase_view(
                "totals", "day", None, {"orders": "count", "buyers": {"distinct": "user"}}
            ),
            {
                **purchase_view(
                    "filtered",
                    "hour",
                    ["country"],
                    {
                        "orders": "count",
                        "big": {"kind": "count", "where": {"amount": {"gt": 1000}}},
                        "big_revenue": {"sum": "amount", "where": {"amount": {"ge": 1000}}},
                        "vip_low": {"min": "amount", "where": {"vip": True}},
                        "named": {"distinct": "user_id", "where": {"user_id": {"lt": "u2"}}},
                        "unpriced": {"kind": "count", "where": {"amount": {"is_null": True}}},
                        "amounts": {"quantiles": "amount"},
                    },
                ),
                "where": {"country": {"not_in": ["DE"]}, "user": {"ne": "v7"}},
            },
        ]
    }
)


def random_events(count: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        props = {
            "country": rng.choice(["NL", "DE", None, 7, 2.5, True]),
            "vip": rng.choice([True, False]),
            "amount": rng.choice([None, rng.randrange(1, 10_000) / 4, rng.randrange(100)]),
            "user_id": rng.choice([f"u{rng.randrange(300)}", rng.randrange(300), None, 1.5e20]),
            "user": f"v{rng.randrange(50)}",
        }
        if rng.random() < 0.2:
            props.update(odd_props(rng))
        kind = "purchase" if rng.random() < 0.9 else "page_view"
        events.append(
            Event(f"e{i % (count - 40)}", kind, 1_700_000_000_000 + rng.randrange(10**9), props)
        )
    return events


ODD_VALUES = ["1_000", " 7 ", "١٢", "1e3", "0x10", ".5", 5e-324, -0.0, 1e-7, 18446744073709551615]


def odd_props(rng: random.Random) -> dict:
    """Valid but unusual: numbers as text, subnormal and negative-zero doubles, the largest
    integer, a property name of the longest length ingest accepts."""
    return {
        "amount": rng.choice(ODD_VALUES),
        "country": rng.choice(ODD_VALUES),
        "user": rng.choice(ODD_VALUES),
        "n" * 256: rng.choice(ODD_VALUES),
    }


def write_master(lake: Lake, events: list[Event], partitions: int = 3) -> None:
    by_partition: dict[int, list[Event]] = {}
    for event in events:
        by_partition.setdefault(hash(event.id) % partitions, []).append(event)
    for partition, part_events in by_partition.items():
        for start in range(0, len(part_events), 100):
            buffer = PartitionBuffer(first=start)
            for offset, event in enumerate(part_events[start : start + 100], start=start):
                buffer.add(offset, event.encode())
            write_master_file(lake, 1, partition, buffer)


def test_spark_views_equal_the_speed_layers_views(tmp_path):
    lake = Lake(tmp_path / "data")
    lake.ensure()
    lake.start_generation()
    events = random_events(3_000, seed=3)
    write_master(lake, events)
    settings = BatchSettings(data_dir=lake.root, archive_wait_seconds=0)
    version = run_batch(settings, lake, CATALOG)

    speed = SliceState(CATALOG, None)
    for event in events:
        speed.apply(event)
    assert version.events == speed.events
    assert version.offsets == {
        1: {p: max(f.last for f in lake.master_files() if f.partition == p) for p in range(3)}
    }

    connection = duckdb.connect()
    for view in CATALOG.views:
        spark_files = sorted(lake.view_dir(version.version, view.name).glob("*.parquet"))
        python_file = tmp_path / f"{view.name}.parquet"
        pq.write_table(speed.views[view.name].to_table(), python_file)
        spec = spec_of(view, max_rows=10**6)
        from_spark = merge(connection, spec, spark_files).rows
        from_python = merge(connection, spec, [python_file]).rows
        assert len(from_spark) == len(from_python) > 10
        for a, b in zip(from_spark, from_python, strict=True):
            for key, value in a.items():
                if isinstance(value, float):
                    assert value == pytest.approx(b[key], rel=1e-12), (view.name, key, a, b)
                else:
                    assert value == b[key], (view.name, key, a, b)
    assert (
        orjson.loads((lake.versions / version.version / "version.json").read_bytes())["events"]
        == version.events
    )


def test_a_sum_beyond_float64_is_infinity_in_spark_as_in_the_speed_fold(tmp_path):
    """Spark's double sum overflows to infinity (not an error, not null), as Python's does,
    so serving answers it the same way from either layer: null, with a warning."""
    lake = Lake(tmp_path / "data")
    lake.ensure()
    lake.start_generation()
    catalog = parse_catalog({"views": [purchase_view("totals", "day", None)]})
    events = [Event(f"e{i}", "purchase", 1_700_000_000_000, {"amount": 1.5e308}) for i in range(2)]
    write_master(lake, events, partitions=1)
    settings = BatchSettings(data_dir=lake.root, archive_wait_seconds=0)
    version = run_batch(settings, lake, catalog)

    view = catalog.get("totals")
    speed = SliceState(catalog, None)
    for event in events:
        speed.apply(event)
    python_file = tmp_path / "totals.parquet"
    pq.write_table(speed.views["totals"].to_table(), python_file)
    spark_files = sorted(lake.view_dir(version.version, "totals").glob("*.parquet"))
    connection = duckdb.connect()
    for files in (spark_files, [python_file]):
        stored = duckdb.sql(
            "SELECT revenue__sum, revenue__n FROM read_parquet(?)", params=[[str(f) for f in files]]
        ).fetchall()
        assert stored == [(float("inf"), 2)], files
        merged = merge(connection, spec_of(view), files)
        assert merged.overflowed == {"revenue": 1, "average": 1}
        assert merged.rows[0]["revenue"] is None and merged.rows[0]["largest"] == 1.5e308
