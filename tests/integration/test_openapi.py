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

Twice: on a pipeline without keys, and on one with keys (issue 16), where Schemathesis sends
an admin key with every request and its checks include that a request without it is refused.
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
RUN_TIMEOUT_S = 300  # a liveness bound: 50 examples an operation took over 150 s at load 30


ADMIN_KEY = "schemathesis-admin-key"
KEYS = {"LAMBDA_ADMIN_KEYS": ADMIN_KEY, "LAMBDA_READ_KEYS": "schemathesis-read-key"}


@pytest.fixture(scope="module", params=["without keys", "with keys"])
def own_pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("openapi")
    extra_env = KEYS if request.param == "with keys" else None
    with launch(base, base / "data", extra_env=extra_env) as handle:
        yield handle


CROSS_PARAMETER_RULES = "positive_data_acceptance"
"""Checks skipped for serving: its view queries refuse (422) some combinations of parameters that
are each schema-valid, by rules an OpenAPI schema cannot state: `order_by` may name only
dimensions of `group_by`, `tz` needs day or coarser buckets the view's own can make up. Every
other check runs, and each parameter's own schema (patterns, enums) is still held to."""


def schemathesis_run(
    base_url: str, report: Path, key: str | None = None, exclude: str | None = None
) -> tuple[dict, str]:
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
        *([f"--header=Authorization: Bearer {key}"] if key else []),
        *([f"--exclude-checks={exclude}"] if exclude else []),
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
    key = ADMIN_KEY if "LAMBDA_ADMIN_KEYS" in own_pipeline.env() else None
    exclude = CROSS_PARAMETER_RULES if service == "serving" else None
    report, output = schemathesis_run(url, tmp_path / "report.json", key, exclude)
    took = time.monotonic() - started
    sys.stderr.write(f"schemathesis on {service}: {took:.1f}s\n")
    assert report["failures"] == [], output
    assert report["errors"] == [], output
    assert report["complete"] and report["exit_code"] == 0, output
    operations = report["operations"]
    assert operations["tested"] == operations["total"] > 0, operations
    assert report["test_cases"]["generated"] >= operations["total"], report["test_cases"]
