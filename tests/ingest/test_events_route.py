"""POST /events and GET /health of the ingest app, with the publisher replaced: what is
refused never reaches the broker, and /health answers from the broker watch."""

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from common.model.views import parse_catalog
from ingest.broker_watch import BrokerWatch
from ingest.checking import Record
from ingest.main import create_app
from ingest.settings import IngestSettings
from tests.support.waiting import wait_for

CATALOG = parse_catalog(
    {
        "views": [
            {
                "name": "revenue",
                "event_type": "purchase",
                "granularity": "hour",
                "metrics": {"revenue": {"sum": "amount"}},
            }
        ]
    }
)


class Recorder:
    """Stands in for the publisher: keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[list[Record]] = []

    def publish(self, records: list[Record]) -> None:
        self.sent.append(records)

    def close(self) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    """A bootstrap address something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def client(listener: str) -> Iterator[tuple[TestClient, Recorder]]:
    settings = IngestSettings(kafka_bootstrap=listener)
    with TestClient(create_app(settings, CATALOG)) as test_client:
        recorder = Recorder()
        test_client.app.state.ingest.publisher = recorder
        yield test_client, recorder


def test_a_request_with_one_oversized_event_sends_nothing(client):
    http, recorder = client
    events = [{"type": "purchase", "amount": 1}, {"type": "purchase", "blob": "x" * 2_000_000}]
    response = http.post("/events", json=events)
    assert response.status_code == 413, response.text
    assert response.json()["index"] == 1
    assert recorder.sent == []


def test_an_invalid_request_says_how_many_problems(client):
    http, recorder = client
    response = http.post("/events", json=[{"type": "purchase", "amount": "x"}] * 250)
    assert response.status_code == 422
    assert response.json()["problems"] == 250
    assert len(response.json()["detail"]) == 100
    assert recorder.sent == []


def test_a_valid_request_is_sent_as_its_records(client):
    http, recorder = client
    response = http.post("/events", json=[{"type": "purchase", "id": "a", "amount": 2}])
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "ids": ["a"]}
    assert [key for key, _ in recorder.sent[0]] == [b"a"]


def test_health_answers_from_the_watch(client):
    http, _ = client
    assert http.get("/health").status_code == 200
    http.app.state.ingest.broker.reachable = False
    response = http.get("/health")
    assert response.status_code == 503
    assert "cannot reach" in response.json()["detail"]


def test_the_watch_sees_the_broker_go_in_the_background():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    watch = BrokerWatch(f"127.0.0.1:{sock.getsockname()[1]}", interval_s=0.05).start()
    try:
        assert watch.reachable is True
        sock.close()
        wait_for(lambda: watch.reachable is False, 5, "the broker gone", interval_s=0.01)
    finally:
        watch.stop()
