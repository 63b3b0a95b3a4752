"""Start the whole pipeline (`python -m runner`) on free loopback ports: tests, benchmarks."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_LINE = "pipeline is running"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Launched:
    """A running pipeline: where it listens, its environment and its log."""

    data_dir: Path
    env: dict[str, str]
    ingest_url: str
    serving_url: str
    log_path: Path


class LaunchError(RuntimeError):
    """The pipeline did not start; the message ends with its log."""


@contextmanager
def launched(
    base: Path, data_dir: Path, views_file: Path, start_timeout_s: float = 120
) -> Iterator[Launched]:
    """Run the pipeline with its own broker on free ports until the block ends (then Ctrl-C)."""
    ingest_port, serving_port, broker_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "LAMBDA_DATA_DIR": str(data_dir),
        "LAMBDA_VIEWS_FILE": str(views_file),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker_port}",
        "LAMBDA_INGEST_PORT": str(ingest_port),
        "LAMBDA_SERVING_PORT": str(serving_port),
        "LAMBDA_BATCH_INTERVAL": "0",
        "LAMBDA_LOCAL_BROKER": "1",
    }
    log_path = base / f"pipeline-{broker_port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "runner"],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while READY_LINE not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"the pipeline did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Launched(
            data_dir=data_dir,
            env=env,
            ingest_url=f"http://127.0.0.1:{ingest_port}",
            serving_url=f"http://127.0.0.1:{serving_port}",
            log_path=log_path,
        )
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
