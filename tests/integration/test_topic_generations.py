"""Topic generations on the real bundled broker: a topic deleted and created again is a new
generation, found by its topic id even once it holds more records than were archived; where
the broker gives no id, by its end offsets (which cannot see a refilled topic)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from common.model.events import Event
from common.runtime.kafka import ensure_topic, topic_id
from common.runtime.settings import CommonSettings
from common.storage.lake import Lake
from common.storage.master import PartitionBuffer, write_master_file
from runner import topic
from runner.broker import start_broker
from runner.launcher import free_port
from runner.topic import prepare_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[CommonSettings]:
    """A broker of its own, and settings for a one-partition topic on it."""
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = start_broker(bootstrap, tmp_path / "broker.log")
    try:
        yield CommonSettings(kafka_bootstrap=bootstrap, data_dir=tmp_path / "data", partitions=1)
    finally:
        broker.kill()
        broker.wait()


def fill(settings: CommonSettings, count: int) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, api_version=(2, 5))
    try:
        for index in range(count):
            producer.send(settings.topic, f"record {index}".encode(), partition=0).get(10)
    finally:
        producer.close()


def archive(lake: Lake, generation: int, count: int) -> None:
    """What the archiver would have written: offsets 0 to count - 1 of partition 0."""
    buffer = PartitionBuffer(first=0)
    for offset in range(count):
        buffer.add(offset, Event(f"e{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, 0, buffer)


def recreate(settings: CommonSettings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([settings.topic])
    finally:
        admin.close()
    assert ensure_topic(settings)


def lake_of(settings: CommonSettings) -> Lake:
    lake = Lake(settings.data_dir)
    lake.ensure()
    return lake


def test_the_bundled_broker_gives_each_incarnation_of_the_topic_its_own_id(settings):
    ensure_topic(settings)
    first = topic_id(settings)
    assert first is not None
    assert topic_id(settings) == first
    recreate(settings)
    second = topic_id(settings)
    assert second is not None and second != first


def test_a_recreated_topic_that_refilled_past_the_archive_is_a_new_generation(settings):
    lake = lake_of(settings)
    assert prepare_topic(settings, lake) == 1
    fill(settings, 3)
    archive(lake, 1, 3)
    assert prepare_topic(settings, lake) == 1  # the same topic, restarted: the same generation
    recreate(settings)
    fill(settings, 5)  # ends at 5, past the archived end (3): its offsets alone cannot tell
    assert prepare_topic(settings, lake) == 2
    assert prepare_topic(settings, lake) == 2


def test_a_generation_recorded_without_an_id_adopts_the_topics_id(settings):
    lake = lake_of(settings)
    ensure_topic(settings)
    lake.start_generation()  # as a data directory from before topic ids were recorded
    fill(settings, 3)
    archive(lake, 1, 3)
    assert prepare_topic(settings, lake) == 1
    assert lake.read_topic_id(1) == topic_id(settings)
    recreate(settings)
    fill(settings, 5)
    assert prepare_topic(settings, lake) == 2


def test_without_topic_ids_a_recreated_topic_is_found_only_by_ending_before_the_archive(
    settings, monkeypatch
):
    monkeypatch.setattr(topic, "topic_id", lambda settings: None)  # a broker before Kafka 2.8
    lake = lake_of(settings)
    assert prepare_topic(settings, lake) == 1
    fill(settings, 3)
    archive(lake, 1, 3)
    recreate(settings)
    fill(settings, 2)
    assert prepare_topic(settings, lake) == 2  # ends at 2, before the archived end
    archive(lake, 2, 2)
    recreate(settings)
    fill(settings, 4)
    assert prepare_topic(settings, lake) == 2  # refilled past it: the documented limit


def test_an_unreadable_id_record_falls_back_to_the_offsets_and_is_written_again(settings):
    lake = lake_of(settings)
    assert prepare_topic(settings, lake) == 1
    fill(settings, 3)
    archive(lake, 1, 3)
    lake.topic_id_file.write_bytes(b"")  # truncated
    assert prepare_topic(settings, lake) == 1
    assert lake.read_topic_id(1) == topic_id(settings)
