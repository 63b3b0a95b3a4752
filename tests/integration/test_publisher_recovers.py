"""Ingest's publisher on the real bundled broker: frozen (SIGSTOP) while requests wait for their
acknowledgements, each answers BrokerError in time; once the broker runs again, so does the
publisher, without a restart.

kafka-python (3.0.x) leaves an idempotent producer without a producer id for good once a batch
it had already sent expires: every later send times out. The publisher retires such a producer."""

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import BrokerError
from common.runtime.kafka import ensure_topic
from common.runtime.settings import CommonSettings
from ingest.publisher import Publisher
from runner.broker import start_broker
from runner.launcher import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = 2.0


@pytest.fixture
def broker_and_settings(tmp_path: Path) -> Iterator[tuple[int, CommonSettings]]:
    """A broker of its own (frozen here, so it spares the pipeline) and a four-partition topic."""
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_broker(bootstrap, tmp_path / "broker.log")
    try:
        settings = CommonSettings(kafka_bootstrap=bootstrap, topic="frozen", partitions=4)
        ensure_topic(settings)
        yield broker.pid, settings
    finally:
        os.kill(broker.pid, signal.SIGCONT)
        broker.kill()
        broker.wait()


def test_the_publisher_recovers_from_a_frozen_broker(broker_and_settings) -> None:
    pid, settings = broker_and_settings
    publisher = Publisher(settings, ACK_TIMEOUT_S)
    stop = threading.Event()
    outcomes: dict[str, int] = {"acknowledged": 0, "refused": 0}
    lock = threading.Lock()

    def keep_publishing(worker: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            records = [(f"{worker}-{sent}-{i}".encode(), b"{}") for i in range(5)]
            try:
                publisher.publish(records)
                outcome = "acknowledged"
            except BrokerError:
                outcome = "refused"
            with lock:
                outcomes[outcome] += 1

    def count(outcome: str) -> int:
        with lock:
            return outcomes[outcome]

    workers = [threading.Thread(target=keep_publishing, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: count("acknowledged") > 20, 30, "the first acknowledgements")
        os.kill(pid, signal.SIGSTOP)  # batches sent and unacknowledged expire meanwhile
        try:
            wait_for(lambda: count("refused") >= 4, 30, "every request to time out")
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = count("acknowledged")
        wait_for(
            lambda: count("acknowledged") > resumed + 20,
            30,
            "the publisher to be acknowledged again",
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join(30)
        publisher.close()
    # Every producer it retired was closed, its network thread with it.
    wait_for(lambda: not producer_threads(), 30, "the retired producers' threads to end")


def producer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kafka-python-producer")]
