"""Acceptance: records another producer writes to the topic never stop the pipeline; they are
kept aside as rejected, counted with their offsets, and counted by neither layer."""

import orjson
import pytest
from events_factory import EventFactory
from kafka import KafkaProducer

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

# Local only: the Compose stack's bundled broker has no listener for the host.
pytestmark = pytest.mark.integration

SERVICES = ("archiver", "speed", "serving", "ingest", "scheduler")


def foreign_records(ts: int) -> list[bytes | None]:
    def record(**fields) -> bytes:
        return orjson.dumps({"id": "f", "type": "purchase", "ts": ts, "props": {}, **fields})

    return [
        None,
        b"\xff\xfe not JSON",
        record(id=5),
        record(props={"basket": {"items": 2}}),
        b'{"id": "f-ts", "type": "purchase", "ts": 1e30, "props": {}}',
        # The reserved type with the id of a valid purchase posted after it: a record that
        # neither layer may count, nor let take the id from the purchase.
        record(id="foreign-dup", type="_invalid"),
    ]


def test_foreign_records_are_rejected_and_the_answers_stay_exact(pipeline, ledger, truth):
    factory = EventFactory(seed=31, prefix="foreign", now_ms=now_ms())
    restarts = {s: pipeline.restarts(s) for s in SERVICES}
    rejected_before = pipeline.health()["rejected"]["count"]
    producer = KafkaProducer(
        bootstrap_servers=pipeline.env()["LAMBDA_KAFKA_BOOTSTRAP"], api_version=(2, 5)
    )
    foreign = foreign_records(now_ms())
    try:
        ledger.post(pipeline, factory.batch(500))
        for index, value in enumerate(foreign):
            producer.send("events", key=f"foreign-{index}".encode(), value=value)
        producer.flush(timeout=10)
    finally:
        producer.close()
    purchase = {**factory.batch(1)[0], "type": "purchase", "id": "foreign-dup", "amount": 5}
    ledger.post(pipeline, [purchase, *factory.batch(500)])

    def all_rejected_archived() -> dict | None:
        health = pipeline.health()
        done = health["archive"]["lag"] == 0 and health["speed"]["lag"] == 0
        return health if done and health["rejected"]["count"] >= rejected_before + 6 else None

    health = wait_for(all_rejected_archived, 60, "the foreign records to be archived")
    assert health["rejected"]["count"] == rejected_before + len(foreign)
    assert all(r["offset"] >= 0 and r["reason"] for r in health["rejected"]["recent"][-6:])
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))
    version = pipeline.run_batch()
    pipeline.wait_caught_up(version=version)
    for view in pipeline.catalog.views:
        truth.assert_matches(view, pipeline.query(view.name))
        truth.assert_matches(view, pipeline.query(view.name, source="batch"))
    assert {s: pipeline.restarts(s) for s in SERVICES} == restarts
