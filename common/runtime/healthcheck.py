"""Container healthchecks: ``python -m common.runtime.healthcheck URL`` (an HTTP 200) or
``python -m common.runtime.healthcheck --kafka HOST:PORT`` (the broker answers a metadata request).

Exits 0 when healthy, 1 with one line saying why otherwise. With keys set (the container's
LAMBDA_READ_KEYS, LAMBDA_ADMIN_KEYS or LAMBDA_API_KEY), an HTTP check sends a read key: the
metrics ports need one then."""

import os
import sys
import threading
import urllib.error
import urllib.request

KEY_VARIABLES = ("LAMBDA_API_KEY", "LAMBDA_READ_KEYS", "LAMBDA_ADMIN_KEYS")


def http_ok(url: str, timeout_s: float = 3.0, key: str | None = None) -> str | None:
    """None when ``url`` answers 200, else the reason; ``key`` goes as a bearer key."""
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


def kafka_ok(bootstrap: str, timeout_s: float = 8.0) -> str | None:
    """None when the broker at ``bootstrap`` answers a metadata request within ``timeout_s``,
    else the reason."""
    from common.runtime.kafka import bootstrap_reachable  # noqa: PLC0415 (HTTP checks stay light)

    if not bootstrap_reachable(bootstrap, timeout_s=2.0):
        return f"nothing accepts connections at {bootstrap}"
    answer: list[str | None] = []
    # kafka-python waits for metadata without a deadline of its own: give it one.
    probe = threading.Thread(target=lambda: answer.append(_metadata(bootstrap)), daemon=True)
    probe.start()
    probe.join(timeout_s)
    return answer[0] if answer else f"no metadata from {bootstrap} within {timeout_s:.0f}s"


def _metadata(bootstrap: str) -> str | None:
    # Imported here: an HTTP check, every few seconds in every container, stays light.
    from kafka.errors import KafkaError  # noqa: PLC0415

    from common.errors import BrokerError  # noqa: PLC0415
    from common.runtime.kafka import make_consumer  # noqa: PLC0415
    from common.runtime.settings import CommonSettings  # noqa: PLC0415

    try:
        consumer = make_consumer(CommonSettings(kafka_bootstrap=bootstrap))
    except BrokerError as exc:
        return str(exc)
    try:
        consumer.topics()
    except KafkaError as exc:
        return f"metadata request to {bootstrap} failed: {exc}"
    finally:
        consumer.close()
    return None


def _read_key() -> str | None:
    """The key an HTTP check sends: a read key, when any key is set."""
    if not any(os.environ.get(name) for name in KEY_VARIABLES):
        return None  # no settings to read: the check stays light
    from common.runtime.settings import CommonSettings  # noqa: PLC0415

    return CommonSettings().client_key("read")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--kafka":
        problem = kafka_ok(argv[1])
    elif len(argv) == 1:
        problem = http_ok(argv[0], key=_read_key())
    else:
        print(
            "usage: python -m common.runtime.healthcheck URL | --kafka HOST:PORT", file=sys.stderr
        )
        return 2
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
