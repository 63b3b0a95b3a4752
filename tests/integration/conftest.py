"""Session fixtures: the real pipeline (local processes on free ports, or the Compose stack),
a ledger of every accepted event, and a DuckDB ground truth to compare merged answers with."""

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from stacks import ComposePipeline, LocalPipeline, Pipeline, local_pipeline

from common.model.timeutil import GRANULARITY_MS, format_bucket, parse_rfc3339
from common.model.views import View, load_catalog
from tests.support.where_sql import where_sql

VIEWS_FILE = Path(__file__).with_name("views.yaml")
START_TIMEOUT_S = 120


@contextmanager
def launch(
    base: Path,
    data_dir: Path,
    views_file: Path = VIEWS_FILE,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LocalPipeline]:
    """Run `python -m runner` (what `make run` runs) on free ports until the block ends."""
    with local_pipeline(
        base, data_dir, views_file, load_catalog(views_file), START_TIMEOUT_S, extra_env
    ) as handle:
        yield handle


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The pipeline the tests of a session share: local processes, or with
    LAMBDA_TEST_STACK=compose the Compose stack `make test-containers` started."""
    if os.environ.get("LAMBDA_TEST_STACK") == "compose":
        handle = ComposePipeline(
            ingest_url=os.environ["LAMBDA_TEST_INGEST_URL"],
            serving_url=os.environ["LAMBDA_TEST_SERVING_URL"],
            catalog=load_catalog(VIEWS_FILE),
        )
        try:
            yield handle
        finally:
            handle.close()
        return
    base = tmp_path_factory.mktemp("pipeline")
    with launch(base, base / "data") as handle:
        yield handle


@pytest.fixture(autouse=True)
def _dump_pipeline_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "pipeline" in request.fixturenames:
        handle: Pipeline = request.getfixturevalue("pipeline")
        sys.stderr.write(f"\n--- pipeline log (tail) ---\n{handle.log_tail()}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class Ledger:
    """Every event the pipeline accepted (202), in order, with the same id counted once."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, events: list[dict[str, Any]], ids: list[str]) -> None:
        with self._lock:
            for event, assigned in zip(events, ids, strict=True):
                self.events.append({**event, "id": assigned})

    def post(self, pipeline: Pipeline, events: list[dict[str, Any]]) -> None:
        """Post events that must be accepted, and remember them."""
        response = pipeline.post(events)
        assert response.status_code == 202, response.text
        self.record(events, response.json()["ids"])

    def distinct_ids(self, event_type: str | None = None) -> set[str]:
        with self._lock:
            return {e["id"] for e in self.events if event_type in (None, e["type"])}


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return Ledger()


class GroundTruth:
    """The answer a view must give, computed by DuckDB straight from the ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._cached: tuple[int, pa.Table] | None = None

    def _table(self) -> pa.Table:
        """The ledger as an Arrow table (seq, id, type, ts, then every property)."""
        with self.ledger._lock:
            events = list(self.ledger.events)
        if self._cached is not None and self._cached[0] == len(events):
            return self._cached[1]
        fields = sorted({f for e in events for f in e} - {"id", "type", "ts"})
        columns = {
            "seq": pa.array(range(len(events)), pa.int64()),
            "id": pa.array([e["id"] for e in events], pa.string()),
            "type": pa.array([e["type"] for e in events], pa.string()),
            "ts": pa.array([_ts_ms(e["ts"]) for e in events], pa.int64()),
        }
        for name in fields:
            kind = pa.float64() if name in NUMERIC_FIELDS else pa.string()
            columns[name] = pa.array([e.get(name) for e in events], kind)
        table = pa.table(columns)
        self._cached = (len(events), table)
        return table

    def rows(self, view: View, granularity: str | None = None) -> list[dict[str, Any]]:
        size = GRANULARITY_MS[granularity or view.granularity]
        connection = duckdb.connect()
        table = self._table()
        connection.register("raw", table)
        numeric = {f.name for f in table.schema if pa.types.is_floating(f.type)}
        dims = [f'"{d}"' for d in view.dimensions]
        metrics = [
            f"{_truth_metric(m.kind, m.field)} FILTER (WHERE {where_sql(m.where, numeric)}) "
            f"AS {m.name}"
            for m in view.metrics
        ]
        sql = (
            "WITH events AS (SELECT * FROM raw "
            "QUALIFY row_number() OVER (PARTITION BY id ORDER BY seq) = 1) "
            f"SELECT ts - ts % {size} AS bucket{''.join(', ' + d for d in dims)}, "
            f"{', '.join(metrics)} "
            f"FROM events WHERE type = ? AND {where_sql(view.where, numeric)} "
            "GROUP BY ALL ORDER BY ALL"
        )
        result = connection.execute(sql, [view.event_type])
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
        for row in rows:
            row["bucket"] = format_bucket(row["bucket"])
        return rows

    def assert_matches(
        self, view: View, answer: dict[str, Any], granularity: str | None = None
    ) -> None:
        """The served rows equal the truth: exactly, but within 3% for distinct counts."""
        expected = self.rows(view, granularity)
        served = answer["rows"]
        key = lambda row: (row["bucket"], *(row[d] for d in view.dimensions))  # noqa: E731
        assert [key(r) for r in served] == [key(r) for r in expected], (
            f"{view.name}: groups differ: served {len(served)} rows, truth {len(expected)}; "
            f"only served: {sorted(set(map(key, served)) - set(map(key, expected)), key=str)[:5]}, "
            f"only truth: {sorted(set(map(key, expected)) - set(map(key, served)), key=str)[:5]}"
            + f"; meta: {answer['meta']}"
        )
        for got, want in zip(served, expected, strict=True):
            for metric in view.metrics:
                _assert_metric(
                    view.name, metric.kind, key(want), got[metric.name], want[metric.name]
                )


def _assert_metric(view: str, kind: str, key: tuple, got: Any, want: Any) -> None:
    where = f"{view} {key} {kind}"
    if kind == "quantiles":
        _assert_quantiles(where, got, want)
    elif want is None or got is None:
        assert got == want, f"{where}: served {got}, truth {want}"
    elif kind == "distinct":
        assert abs(got - want) <= 0.03 * want, f"{where}: served {got}, truth {want} (over 3%)"
    elif kind == "count":
        assert got == want, f"{where}: served {got}, truth {want}"
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (
            f"{where}: served {got}, truth {want}"
        )


QUANTILE_RANK_ERROR = 0.025
"""The KLL sketch's normalized rank error at k 200 is about 1.65% (99% confidence)."""


def _assert_quantiles(where: str, got: Any, values: list[float | None] | None) -> None:
    """Each served quantile's rank among the group's values is within the sketch's bound of
    its fraction (the default fractions: p50, p90, p99)."""
    values = [v for v in values or () if v is not None]
    if not values:
        assert got is None, f"{where}: served {got} for a group without values"
        return
    assert got is not None and set(got) == {"p50", "p90", "p99"}, f"{where}: served {got}"
    n = len(values)
    for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        value = got[name]
        below = sum(v < value for v in values) / n
        at_most = sum(v <= value for v in values) / n
        assert below - QUANTILE_RANK_ERROR <= fraction <= at_most + QUANTILE_RANK_ERROR, (
            f"{where}: served {name} {value}, whose rank is {below:.3f}..{at_most:.3f} "
            f"among {n} values"
        )


def _truth_metric(kind: str, field_name: str | None) -> str:
    column = f'"{field_name}"'
    return {
        "count": "count(*)",
        "sum": f"sum({column})",
        "min": f"min({column})",
        "max": f"max({column})",
        "avg": f"avg({column})",
        "distinct": f"count(DISTINCT {column})",
        "quantiles": f"list({column})",  # the values, nulls dropped by _assert_quantiles
    }[kind]


NUMERIC_FIELDS = {"amount", "load_ms"}


def _duck_type(field_name: str) -> str:
    return "DOUBLE" if field_name in NUMERIC_FIELDS else "VARCHAR"


def _ts_ms(ts: Any) -> int:
    if isinstance(ts, int):
        return ts
    return parse_rfc3339(ts)


@pytest.fixture(scope="session")
def truth(ledger: Ledger) -> GroundTruth:
    return GroundTruth(ledger)
