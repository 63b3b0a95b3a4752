"""Acceptance (issue 7): three speed replicas over four partitions under a stream of events;
one is killed, another joins and leaves, and two batch runs publish meanwhile. Merged answers
sampled all along never count an event twice and never lose one they have shown, and at lag 0
they equal the ground truth."""

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory
from stacks import ROOT, LocalPipeline

from common.model.timeutil import now_ms
from common.runtime.processes import command_line
from tests.support.sampling import Answer, Sampler
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

VIEW = "daily_totals"  # purchases: orders per day, no dimensions


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("replicas")
    env = {
        "LAMBDA_SPEED_REPLICAS": "3",
        "LAMBDA_PARTITIONS": "4",
        "LAMBDA_INGEST_PROCESSES": "2",
        "LAMBDA_SERVING_PROCESSES": "2",
    }
    with launch(base, base / "data", extra_env=env) as handle:
        yield handle


class OrdersSampler:
    """Queries the merged total of orders in a loop, each answer judged by the shared
    sampler: never more than the purchases posted, never fewer than the answer before."""

    def __init__(self, pipeline: LocalPipeline, sent: set[str]) -> None:
        self.pipeline = pipeline
        self.checks = Sampler(lambda: (len(sent),))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _ask(self) -> Answer:
        answer = self.pipeline.query(VIEW)
        return (sum(row["orders"] for row in answer["rows"]),), str(answer["meta"])

    def _run(self) -> None:
        while not self.stop.is_set():
            self.checks.sample(self._ask)


def test_replicas_join_leave_and_die_under_batch_switches_exactly(replicated):
    pipeline = replicated
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=17, prefix="replicas", now_ms=now_ms())
    sent: set[str] = set()
    stop = threading.Event()
    posts: list[int] = []

    def stream() -> None:
        while not stop.is_set():
            events = factory.batch(100)
            sent.update(e["id"] for e in events if e["type"] == "purchase")
            ledger.post(pipeline, events)
            posts.append(len(events))
            stop.wait(0.1)  # a steady stream, not a flood: the batch runs share the 2 cores

    streamer = threading.Thread(target=stream)
    sampler = OrdersSampler(pipeline, sent)
    streamer.start()
    sampler.thread.start()
    extra = None
    try:
        wait_for(lambda: len(posts) >= 5, 30, "the stream to start")
        first = pipeline.run_batch()
        pipeline.kill9("speed-2")
        with open(pipeline.log_path.with_suffix(".extra-speed.log"), "wb") as extra_log:
            extra = subprocess.Popen(
                [sys.executable, "-m", "speed_layer"],
                env={**pipeline.env(), "LAMBDA_METRICS_PORT": "0"},
                cwd=ROOT,
                stdout=extra_log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: len(pipeline.health()["replicas"]) == 4, 30, "a fourth replica")
        second = pipeline.run_batch()
        assert second > first
        extra.send_signal(signal.SIGTERM)
        assert extra.wait(timeout=30) == 0
        wait_for(lambda: len(pipeline.health()["replicas"]) == 3, 30, "the fourth to leave")
        during = len(posts)
        wait_for(lambda: len(posts) >= during + 10, 60, "more events after the changes")
    finally:
        stop.set()
        streamer.join()
        if extra is not None and extra.poll() is None:
            extra.kill()
    try:
        pipeline.wait_caught_up(timeout_s=90, version=second)
    finally:
        sampler.stop.set()
        sampler.thread.join()

    assert sampler.checks.problems == [], sampler.checks.problems[:5]
    assert sampler.checks.samples >= 20
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))
    health = pipeline.health()
    owned = sorted(p for replica in health["replicas"] for p in replica["partitions"])
    assert owned == [0, 1, 2, 3]
    assert {s["batch_version"] for s in health["partitions"].values()} == {second}
    assert pipeline.restarts("speed-2") >= 1


def workers_of(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_ingest_and_serving_answer_from_two_processes_each(replicated):
    pipeline = replicated
    for service in ("ingest", "serving"):
        pid = pipeline.pid(service)
        assert pid is not None
        workers = [p for p in workers_of(pid) if "spawn_main" in " ".join(command_line(p))]
        assert len(workers) == 2, (service, workers)
    # every service logged its effective configuration when it started
    started = [
        line for line in pipeline.log_path.read_text().splitlines() if "starting with" in line
    ]
    assert any("LAMBDA_SPEED_REPLICAS=3" in line for line in started), started
    assert any(" ingest " in line and "LAMBDA_INGEST_PROCESSES=2" in line for line in started)
    for service in ("archiver", "speed", "scheduler", "serving"):
        assert any(f" {service} " in line for line in started), (service, started)
    # both workers' requests are counted in the one /metrics
    for _ in range(6):
        pipeline.query(VIEW)
    text = pipeline.client.get(f"{pipeline.serving_url}/metrics").text
    served = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lambda_http_requests_total{") and 'route="/views/{name}"' in line
    ]
    assert sum(served) >= 6
