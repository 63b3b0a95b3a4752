"""Writes validated events to Kafka and waits until the broker acknowledged every one."""

import contextlib
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
    """An idempotent, acks=all producer shared by every request.

    A producer that failed a request is retired: the next request gets a new one. kafka-python
    (3.0.x) leaves an idempotent producer without a producer id for good once a batch it had
    sent expires (its ``reset_producer_id`` keeps the state READY, so no InitProducerId follows),
    and every later send would time out. Retiring costs nothing the request had not lost already:
    its records are refused (503), and a client's retry of an event is counted once by its id.
    """

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
            self._retire(producer)
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

    def _retire(self, producer: KafkaProducer) -> None:
        """Replace ``producer`` for the requests after this one, unless a concurrent request
        already did; it is closed in the background (requests still waiting on it answer by
        their own deadlines)."""
        with self._lock:
            if self._producer is not producer:
                return
            self._producer = None
        threading.Thread(target=_close, args=(producer, self.ack_timeout_s), daemon=True).start()

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            _close(producer, 5)


def _close(producer: KafkaProducer, timeout_s: float) -> None:
    """Close ``producer``, sending what it holds for up to ``timeout_s``; what it could not
    send was refused to its requests already.

    kafka-python's ``close`` flushes first and gives up when the flush times out (always, for a
    producer left without a producer id), leaving its network thread running: then its sender
    is force-closed, which fails what it still holds, and the producer closed again."""
    try:
        producer.close(timeout=timeout_s)
    except KafkaError:
        sender = getattr(producer, "_sender", None)  # kafka-python 3.0.x
        if sender is not None:
            sender.force_close()
            sender.join(timeout_s + 5)
        with contextlib.suppress(KafkaError):
            producer.close(timeout=0)
