"""Writes validated events to Kafka and waits until the broker acknowledged every one."""

import threading
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from common.errors import BrokerError, LambdaError
from common.runtime.kafka import make_producer
from common.runtime.settings import CommonSettings
from ingest.checking import Record


class EventTooLarge(LambdaError):
    """The broker refuses an event for its size; retrying cannot help (413)."""


class Publisher:
    """An idempotent, acks=all producer shared by every request."""

    def __init__(self, settings: CommonSettings, ack_timeout_s: float) -> None:
        self.topic = settings.topic
        self.ack_timeout_s = ack_timeout_s
        self._settings = settings
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def publish(self, records: list[Record]) -> None:
        """Send every record (key, value); return once all are acknowledged, or raise
        BrokerError."""
        deadline = time.monotonic() + self.ack_timeout_s
        producer = self._connected()
        try:
            # Waiting on this request's own futures (not flush()) keeps concurrent requests
            # from waiting on each other; linger_ms sends the batches.
            futures = [producer.send(self.topic, key=key, value=value) for key, value in records]
            for future in futures:
                future.get(timeout=max(deadline - time.monotonic(), 0.001))
        except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
            raise EventTooLarge(f"an event is larger than the broker accepts: {exc}") from exc
        except KafkaError as exc:
            raise BrokerError(f"the broker did not acknowledge in time: {exc}") from exc

    def _connected(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                # The producer gives up when the request would: no send blocks or retries longer.
                wait_ms = int(self.ack_timeout_s * 1000)
                self._producer = make_producer(
                    self._settings,
                    max_block_ms=wait_ms,
                    request_timeout_ms=wait_ms,
                    delivery_timeout_ms=wait_ms + 10,
                )
            return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
