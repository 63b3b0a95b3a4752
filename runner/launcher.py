"""Start the whole pipeline (`python -m runner`) on free loopback ports: tests, benchmarks."""

import contextlib
import os
import random
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


_HANDED_OUT: set[int] = set()
LOWEST_PORT = 10000


def _ephemeral_low() -> int:
    """Where the kernel's range of ports for outgoing connections starts."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never handed out before in
    this process, and below the kernel's ephemeral range: a port the kernel itself picked
    (bind to 0) could be taken as the source port of some outgoing connection between this
    check and the moment the service binds it."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(LOWEST_PORT, _ephemeral_low())
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


@dataclass(frozen=True)
class Launched:
    """A running pipeline: where it listens, its environment, its log and the runner's pid."""

    data_dir: Path
    env: dict[str, str]
    ingest_url: str
    serving_url: str
    log_path: Path
    pid: int


class LaunchError(RuntimeError):
    """The pipeline did not start; the message ends with its log."""


def pipeline_env(data_dir: Path, views_file: Path) -> dict[str, str]:
    """The environment of a pipeline with its own broker on free ports, no batch schedule,
    and room for whole views in an answer."""
    return {
        **os.environ,
        "LAMBDA_DATA_DIR": str(data_dir),
        "LAMBDA_VIEWS_FILE": str(views_file),
        "LAMBDA_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "LAMBDA_INGEST_PORT": str(free_port()),
        "LAMBDA_SERVING_PORT": str(free_port()),
        "LAMBDA_ARCHIVER_METRICS_PORT": str(free_port()),
        "LAMBDA_SPEED_METRICS_PORT": str(free_port()),
        "LAMBDA_SCHEDULER_METRICS_PORT": str(free_port()),
        "LAMBDA_BATCH_INTERVAL": "0",
        "LAMBDA_LOCAL_BROKER": "1",
        # The tests compare whole views (over 10,000 groups by the end) with their truth.
        "LAMBDA_SERVING_MAX_ROWS": "100000",
    }


def start_runner(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m runner` in a session of its own, its output in ``log_path``."""
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            [sys.executable, "-m", "runner"],
            env=env,
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def launched(
    base: Path,
    data_dir: Path,
    views_file: Path,
    start_timeout_s: float = 120,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Launched]:
    """Run the pipeline with its own broker on free ports until the block ends (then Ctrl-C);
    ``extra_env`` adds to or overrides its environment (e.g. LAMBDA_BATCH_MIN_EVENTS)."""
    env = {**pipeline_env(data_dir, views_file), **(extra_env or {})}
    log_path = base / f"pipeline-{env['LAMBDA_INGEST_PORT']}.log"
    process = start_runner(env, log_path)
    try:
        deadline = time.monotonic() + start_timeout_s
        while READY_LINE not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"the pipeline did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        yield Launched(
            data_dir=data_dir,
            env=env,
            ingest_url=f"http://127.0.0.1:{env['LAMBDA_INGEST_PORT']}",
            serving_url=f"http://127.0.0.1:{env['LAMBDA_SERVING_PORT']}",
            log_path=log_path,
            pid=process.pid,
        )
    finally:
        stop_runner(process)


def stop_runner(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the runner's group (unless it is gone already), wait, then kill it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
