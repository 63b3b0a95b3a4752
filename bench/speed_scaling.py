"""Speed-layer throughput: events folded per second by 1, 2 and 4 replicas over 4 partitions,
against a bare kafka-python consumer that only reads and decodes the same events.

Events are produced to a topic of its own first; then the replicas start on an empty data
directory and the clock runs from their first snapshot to the one that reflects every event.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer

from bench.memory import peak_rss_mb
from bench.queries import page_views
from common.model.events import decode_event, validate_events
from common.runtime.kafka import make_producer
from common.runtime.settings import CommonSettings
from common.storage.lake import Lake
from common.storage.speed_store import read_members, read_pointers
from runner.broker import start_broker
from runner.launcher import ROOT, free_port
from runner.topic import prepare_topic

PARTITIONS = 4


@contextmanager
def broker(base: Path) -> Iterator[CommonSettings]:
    """A bundled broker on a free port, with the topic created."""
    bootstrap = f"127.0.0.1:{free_port()}"
    process = start_broker(bootstrap, base / "broker.log")
    try:
        yield CommonSettings(
            kafka_bootstrap=bootstrap, partitions=PARTITIONS, data_dir=base / "unused"
        )
    finally:
        process.kill()
        process.wait()


def produce(settings: CommonSettings, count: int) -> None:
    """``count`` page views, keyed by id as ingest does."""
    producer = make_producer(settings, acks=1, linger_ms=20, enable_idempotence=False)
    now = int(time.time() * 1000)
    events = validate_events(page_views(count, now), {}, now).events  # as ingest makes them
    for event in events:
        producer.send(settings.topic, key=event.id.encode(), value=event.encode())
    producer.flush()
    producer.close()


def bare_consumer_rate(settings: CommonSettings, count: int) -> float:
    """Events per second a bare consumer reads and decodes (the same fetch settings)."""
    consumer = KafkaConsumer(
        settings.topic,
        bootstrap_servers=settings.kafka_bootstrap,
        api_version=settings.api_version,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        max_poll_records=20_000,
    )
    seen = 0
    started = time.monotonic()
    while seen < count:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                decode_event(record.value)
            seen += len(records)
    elapsed = time.monotonic() - started
    consumer.close()
    return count / elapsed


def replicas_rate(settings: CommonSettings, data_dir: Path, replicas: int, count: int) -> float:
    """Events per second ``replicas`` speed processes fold, from their first snapshot on."""
    lake = Lake(data_dir)
    lake.ensure()
    prepare_topic(settings.model_copy(update={"data_dir": data_dir}), lake)
    env = _speed_env(settings, data_dir)
    processes = [
        subprocess.Popen([sys.executable, "-m", "speed_layer"], env=env, cwd=ROOT)
        for _ in range(replicas)
    ]
    try:
        first = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            pointers = read_pointers(lake, 1)
            if pointers and first is None:
                first = time.monotonic()
            if sum(p.next_offset for p in pointers.values()) >= count:
                return count / (time.monotonic() - (first or time.monotonic()))
            time.sleep(0.02)  # sampling the snapshots, not synchronisation
        raise TimeoutError(f"{replicas} replica(s) did not fold {count} events in 600 s")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def restart_seconds(settings: CommonSettings, data_dir: Path) -> float:
    """Seconds from a replica's start until it serves every partition again, continuing the
    snapshots another replica left (all the events since the last batch: no batch ran)."""
    lake = Lake(data_dir)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "speed_layer"], env=_speed_env(settings, data_dir), cwd=ROOT
    )
    try:
        deadline = started + 300
        while time.monotonic() < deadline:
            owned = [p for m in read_members(lake) for p in m.get("partitions", [])]
            if len(owned) == PARTITIONS:
                return time.monotonic() - started
            time.sleep(0.02)  # sampling, not synchronisation
        raise TimeoutError("the restarted replica did not take its partitions within 300 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def memory_holding(settings: CommonSettings, data_dir: Path, more: int, total: int) -> float:
    """Peak resident MB of one replica holding ``total`` events since the last batch: it
    continues the snapshots in ``data_dir`` and folds ``more`` events posted meanwhile."""
    produce(settings, more)
    lake = Lake(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "speed_layer"], env=_speed_env(settings, data_dir), cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if sum(p.next_offset for p in read_pointers(lake, 1).values()) >= total:
                peak = peak_rss_mb(process.pid)
                if peak is None:
                    raise RuntimeError("the speed replica exited")
                return peak
            time.sleep(0.05)  # sampling the snapshots, not synchronisation
        raise TimeoutError(f"the replica did not fold {total} events in 600 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _speed_env(settings: CommonSettings, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LAMBDA_DATA_DIR": str(data_dir),
        "LAMBDA_VIEWS_FILE": str(ROOT / "views.yaml"),
        "LAMBDA_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "LAMBDA_METRICS_PORT": "0",
        "LAMBDA_LOG_LEVEL": "WARNING",
    }


@dataclass(frozen=True)
class SpeedFigures:
    rates: dict[str, float]  # events/s folded, by replica count, and the bare consumer's
    restart_s: float  # until a restarted replica serves again over ``count`` events
    held: int  # events since the last batch one replica holds in ...
    peak_mb: float | None  # ... at most this much resident memory (None: not measured)


def speed_scaling(
    base: Path, count: int, replica_counts: tuple[int, ...], hold: int = 0
) -> SpeedFigures:
    """Events folded per second by each replica count and by the bare consumer; the restart
    time of one replica over ``count`` events since the last batch; with ``hold`` (more than
    ``count``), the peak memory of one replica holding that many."""
    rates: dict[str, float] = {}
    with broker(base) as settings:
        produce(settings, count)
        rates["bare consumer"] = bare_consumer_rate(settings, count)
        for replicas in replica_counts:
            data_dir = base / f"data-{replicas}"
            rates[f"{replicas} replica(s)"] = replicas_rate(settings, data_dir, replicas, count)
        first = base / f"data-{replica_counts[0]}"
        restart = restart_seconds(settings, first)
        peak = memory_holding(settings, first, hold - count, hold) if hold > count else None
    return SpeedFigures(rates, restart, max(hold, count), peak)
