"""Prometheus scrapes every service and has loaded the alert rules.

Against the Compose stack (`make test-containers`) this is its `prometheus` service, with
containers/prometheus/prometheus.yml as it is (the speed replicas found through Docker's DNS).
Against the local processes (`make test`) it is the host's Prometheus (Debian's `prometheus`
package, as promtool) run on the same configuration, jobs and rules, each job's targets
pointed at the local pipeline's ports."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from stacks import Pipeline

from runner.launcher import ROOT, free_port

pytestmark = [pytest.mark.integration, pytest.mark.stack]

CONFIG = ROOT / "containers" / "prometheus" / "prometheus.yml"
RULES = ROOT / "containers" / "prometheus" / "rules.yml"
JOBS = {"ingest", "serving", "archiver", "scheduler", "speed"}
DEADLINE_S = 90

COMPOSE = os.environ.get("LAMBDA_TEST_STACK") == "compose"


def poll(check, timeout_s: float, what: str) -> Any:
    """Call ``check`` until it returns ``(True, value)``; fail with its last ``value``."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, last = check()
        if done:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last: {last}")
        time.sleep(0.5)


def local_config(pipeline: Pipeline, storage: Path) -> Path:
    """prometheus.yml with each job's targets replaced by the local service's port."""
    env = pipeline.env()
    ports = {
        "ingest": env["LAMBDA_INGEST_PORT"],
        "serving": env["LAMBDA_SERVING_PORT"],
        "archiver": env["LAMBDA_ARCHIVER_METRICS_PORT"],
        "scheduler": env["LAMBDA_SCHEDULER_METRICS_PORT"],
        "speed": env["LAMBDA_SPEED_METRICS_PORT"],
    }
    config = yaml.safe_load(CONFIG.read_text())
    config["rule_files"] = [str(RULES)]
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    path = storage / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    # The scrape key, where the config's credentials_file points (beside it), chosen as the
    # image's entrypoint (containers/prometheus/lambda-prometheus) chooses it.
    keys = [env.get(f"LAMBDA_{role}_KEYS", "").split(",")[0].strip() for role in ("READ", "ADMIN")]
    (storage / "keys").mkdir()
    (storage / "keys" / "scrape-key").write_text(next((k for k in keys if k), "no-key-set") + "\n")
    return path


@pytest.fixture(scope="module")
def prometheus(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """The URL of a Prometheus scraping the pipeline under test."""
    if COMPOSE:
        yield os.environ["LAMBDA_TEST_PROMETHEUS_URL"]
        return
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(
            "prometheus is not installed: it comes with Debian's prometheus package "
            "(apt-get install -y --no-install-recommends prometheus)"
        )
    pipeline: Pipeline = request.getfixturevalue("pipeline")
    base = tmp_path_factory.mktemp("prometheus")
    url = f"http://127.0.0.1:{free_port()}"
    log_path = base / "prometheus.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={local_config(pipeline, base)}",
                f"--storage.tsdb.path={base / 'data'}",
                f"--web.listen-address={url.removeprefix('http://')}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def ready() -> tuple[bool, str]:
            assert process.poll() is None, f"prometheus exited:\n{log_path.read_text()[-3000:]}"
            try:
                return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200, "not ready"
            except httpx.HTTPError as exc:
                return False, repr(exc)

        poll(ready, 60, "the local prometheus to be ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def speed_replicas() -> int | None:
    """Running speed containers of the Compose stack; None under local processes (one)."""
    if not COMPOSE:
        return None
    result = subprocess.run(
        ["docker", "compose", "ps", "--status", "running", "-q", "speed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return len(result.stdout.split())


def test_every_service_is_scraped_and_up(prometheus):
    """Every job has targets, every target answers its scrape; in Compose every speed
    replica is a target of its own."""
    replicas = speed_replicas()

    def all_up() -> tuple[bool, Any]:
        response = httpx.get(f"{prometheus}/api/v1/targets", params={"state": "active"}, timeout=10)
        assert response.status_code == 200, response.text
        by_job: dict[str, list[dict[str, str]]] = {}
        for target in response.json()["data"]["activeTargets"]:
            by_job.setdefault(target["labels"]["job"], []).append(
                {
                    "instance": target["labels"]["instance"],
                    "health": target["health"],
                    "error": target["lastError"],
                }
            )
        done = (
            set(by_job) == JOBS
            and all(t["health"] == "up" for targets in by_job.values() for t in targets)
            and (replicas is None or len(by_job["speed"]) == replicas)
        )
        return done, by_job

    by_job = poll(all_up, DEADLINE_S, f"every target of {sorted(JOBS)} up")
    assert len(by_job["speed"]) == (replicas or 1), by_job["speed"]


def test_alert_rules_are_loaded_and_evaluated(prometheus):
    rules = yaml.safe_load(RULES.read_text())
    expected = {
        group["name"]: {rule["alert"] for rule in group["rules"]} for group in rules["groups"]
    }
    assert "lambda" in expected

    def evaluated() -> tuple[bool, Any]:
        response = httpx.get(f"{prometheus}/api/v1/rules", params={"type": "alert"}, timeout=10)
        assert response.status_code == 200, response.text
        loaded = {
            group["name"]: {
                rule["name"]: (rule["health"], rule.get("lastError")) for rule in group["rules"]
            }
            for group in response.json()["data"]["groups"]
        }
        names = {group: set(found) for group, found in loaded.items()}
        healthy = all(health == "ok" for found in loaded.values() for health, _ in found.values())
        return names == expected and healthy, loaded

    poll(evaluated, DEADLINE_S, "every alert rule loaded and evaluated without error")
