"""Both services keep to their OpenAPI documents: Schemathesis, 50 examples per operation, with
its default checks (server errors, status codes, content types, headers, response schemas,
acceptance of schema-valid and refusal of schema-invalid requests), finds nothing.

It runs against a pipeline of its own, not the session's `pipeline`: Schemathesis posts
schema-valid events to `POST /events`, which the pipeline accepts and counts, and the other
tests compare merged answers with a ledger of exactly the events they posted themselves. Events
of the same types as theirs (`purchase`, ...) would make those comparisons wrong, so they go to
another broker and data directory, which this module's fixture starts and stops.

`schemathesis_hooks.py` adds what the CLI lacks for these documents: an NDJSON serializer, and
OpenAPI's rule that a concrete path (`/views/revenue_by_country`) is matched before a template
(`/views/{name}`). Each run is bounded (RUN_TIMEOUT_S); both together take about a minute.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import launch
from stacks import LocalPipeline

pytestmark = pytest.mark.integration

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 50
RUN_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("openapi")
    with launch(base, base / "data") as handle:
        yield handle


def schemathesis_run(base_url: str, report: Path) -> tuple[dict, str]:
    """`schemathesis run` on a service's /openapi.json; its JSON report and its output."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        f"--max-examples={EXAMPLES}",
        "--request-timeout=10",
        "--report=json",
        f"--report-json-path={report}",
    ]
    # Run in the report's directory: Schemathesis keeps its example database there.
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        command,
        cwd=report.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = _excerpt(result.stdout + result.stderr)
    assert report.exists(), output
    return json.loads(report.read_text()), output


def _excerpt(output: str) -> str:
    """Schemathesis's findings, each line cut short (request bodies can be megabytes)."""
    start = output.find("=== ERRORS ===")
    start = output.find("=== FAILURES ===") if start < 0 else start
    lines = output[max(start, 0) :].splitlines()
    return "\n".join(line[:300] for line in lines[:200])


@pytest.mark.timeout(RUN_TIMEOUT_S + 120)
@pytest.mark.parametrize("service", ["ingest", "serving"])
def test_service_keeps_to_its_openapi(own_pipeline, tmp_path, service):
    started = time.monotonic()
    url = own_pipeline.ingest_url if service == "ingest" else own_pipeline.serving_url
    report, output = schemathesis_run(url, tmp_path / "report.json")
    took = time.monotonic() - started
    sys.stderr.write(f"schemathesis on {service}: {took:.1f}s\n")
    assert report["failures"] == [], output
    assert report["errors"] == [], output
    assert report["complete"] and report["exit_code"] == 0, output
    operations = report["operations"]
    assert operations["tested"] == operations["total"] > 0, operations
    assert report["test_cases"]["generated"] >= operations["total"], report["test_cases"]
