"""Starts the whole pipeline as local processes and keeps it running until Ctrl-C."""

import logging
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack

from pydantic import ValidationError

from common.errors import LambdaError, SecurityError
from common.lifecycle import stop_event_on_signals
from common.model.views import load_catalog
from common.runtime.logs import setup_logging
from common.runtime.security import refuse_unprotected_bind
from common.storage.lake import Lake
from common.storage.locks import exclusive
from runner.broker import BROKER_COMMAND, start_broker
from runner.processes import clear_leftovers
from runner.services import Service, ServiceGaveUp, Supervisor
from runner.settings import RunnerSettings
from runner.topic import prepare_topic

log = logging.getLogger("runner")

# Stopped in this order: intake first, so the archiver can write everything accepted.
SERVICES = (
    ("ingest", "ingest"),
    ("scheduler", "batch_layer.scheduler"),
    ("serving", "serving_layer"),
    ("speed", "speed_layer"),
    ("archiver", "batch_layer.archiver"),
)


def services_of(settings: RunnerSettings) -> list[tuple[str, str]]:
    """Every process to run: ``speed``, ``speed-2``, ... for ``LAMBDA_SPEED_REPLICAS``."""
    found = []
    for name, module in SERVICES:
        found.append((name, module))
        if name == "speed":
            found += [(f"speed-{n}", module) for n in range(2, settings.speed_replicas + 1)]
    return found


class Pipeline:
    """The broker (when bundled) and every service, supervised."""

    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings
        self.lake = Lake(settings.data_dir)
        self.broker: subprocess.Popen[bytes] | None = None
        services = [
            Service(
                name,
                module,
                self.lake.pid_file(name),
                env={
                    "LAMBDA_METRICS_PORT": str(settings.service_metrics_port(name)),
                    "LAMBDA_INSTANCE": name,
                },
            )
            for name, module in services_of(settings)
        ]
        self.supervisor = Supervisor(services, settings.restart_delay_seconds)
        self._held = ExitStack()

    def start(self) -> None:
        log.info("starting with %s", self.settings.describe())
        refusal = refuse_unprotected_bind(self.settings)
        if refusal is not None:
            raise SecurityError(refusal)
        load_catalog(self.settings.views_file)  # an invalid views file stops everything here
        self.lake.ensure()
        # One runner per data directory; what a killed one left behind goes before we start.
        self._held.enter_context(exclusive(self.lake.run / "runner.lock", "make run"))
        clear_leftovers(self.lake.run, self._commands())
        self._start_broker()
        self._prepare_topic()
        self.supervisor.start_all()

    def _start_broker(self) -> None:
        if not self.settings.local_broker:
            log.info("using the broker at %s", self.settings.kafka_bootstrap)
            return
        self.broker = start_broker(
            self.settings.kafka_bootstrap, self.lake.run / "broker.log", self.settings.bind_host
        )
        self.lake.pid_file("broker").write_text(f"{self.broker.pid}\n")
        log.info(
            "started the bundled broker at %s (pid %d)",
            self.settings.kafka_bootstrap,
            self.broker.pid,
        )

    def _commands(self) -> dict[str, tuple[str, ...]]:
        """What each pid file's process runs, in stop order: services, then the broker."""
        commands = {name: ("-m", module) for name, module in services_of(self.settings)}
        # replicas an earlier run with more of them left behind
        commands |= {f"speed-{n}": ("-m", "speed_layer") for n in range(2, 65)}
        return {**commands, "broker": BROKER_COMMAND}

    def _prepare_topic(self) -> None:
        prepare_topic(self.settings, self.lake)

    def wait_ready(self, stop: threading.Event, timeout_s: float = 90.0) -> bool:
        """Wait until both HTTP services answer /health with 200 (or a stop is asked for)."""
        deadline = time.monotonic() + timeout_s
        urls = [self.ingest_url + "/health", self.serving_url + "/health"]
        while time.monotonic() < deadline and not stop.is_set():
            if all(_healthy(url) for url in urls):
                return True
            self.supervisor.check()
            time.sleep(0.2)
        return False

    @property
    def ingest_url(self) -> str:
        return f"http://{self.settings.client_host}:{self.settings.ingest_port}"

    @property
    def serving_url(self) -> str:
        return f"http://{self.settings.client_host}:{self.settings.serving_port}"

    def watch(self, stop: threading.Event) -> None:
        """Restart what dies, the broker included, until ``stop`` is set."""
        while not stop.wait(0.25):
            if self.broker is not None and self.broker.poll() is not None:
                try:
                    self._restart_after_broker_loss()
                except LambdaError as exc:
                    log.error("cannot restart the pipeline yet: %s; trying again", exc)
                    continue
            self.supervisor.check()

    def _restart_after_broker_loss(self) -> None:
        # The bundled broker keeps events in memory only: a new one starts an empty topic,
        # so every service restarts on a new generation (what was archived stays served).
        log.error(
            "the bundled broker exited (code %s); restarting the pipeline",
            self.broker.returncode if self.broker else None,
        )
        self.supervisor.stop_all()
        self._start_broker()
        self._prepare_topic()
        self.supervisor.start_all()

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self.broker is not None and self.broker.poll() is None:
            self.broker.terminate()
            try:
                self.broker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.broker.kill()
            self.lake.pid_file("broker").unlink(missing_ok=True)
            log.info("stopped the broker")
        self._held.close()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> int:
    """`make run`: start everything, print the URLs, supervise until Ctrl-C."""
    setup_logging("runner")
    stop = stop_event_on_signals()
    try:
        settings = RunnerSettings()
        pipeline = Pipeline(settings)
    except ValidationError as exc:
        print(f"error: invalid LAMBDA_* setting: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline.start()
    except LambdaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        pipeline.stop()
        return 2
    try:
        return _supervise(pipeline, stop)
    except ServiceGaveUp as exc:
        log.error("%s; stopping the pipeline", exc)
        return 1
    finally:
        pipeline.stop()


def _supervise(pipeline: Pipeline, stop: threading.Event) -> int:
    """Wait until the pipeline is up, then keep it up until ``stop``; the exit code."""
    if not pipeline.wait_ready(stop):
        if stop.is_set():
            return 0
        log.error("the services did not become healthy within 90 s; see the log above")
        return 1
    print(_banner(pipeline), flush=True)
    pipeline.watch(stop)
    log.info("stopping")
    return 0


def _banner(pipeline: Pipeline) -> str:
    settings = pipeline.settings
    return "\n".join(
        [
            "",
            "Lambda pipeline is running (Ctrl-C stops it):",
            f"  ingest   {pipeline.ingest_url}/events   (POST events; docs at /docs)",
            f"  serving  {pipeline.serving_url}/views    (merged queries; docs at /docs)",
            f"  broker   {settings.kafka_bootstrap}   data in {settings.data_dir}/",
            "  metrics  /metrics on ingest and serving; "
            + ", ".join(
                f"{name} :{settings.service_metrics_port(name)}"
                for name, _ in services_of(settings)
                if name not in ("ingest", "serving") and settings.service_metrics_port(name)
            ),
            f"  speed    {settings.speed_replicas} replica(s) sharing the topic's partitions",
            f"  batch    every {settings.batch_interval:.0f}s"
            if settings.batch_interval
            else "  batch    on demand (make batch)",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
