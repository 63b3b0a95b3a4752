"""The pipelines the end-to-end tests run against: `make run`'s local processes, or the
Compose stack of `make test-containers`. Both are driven the same way: HTTP on the published
loopback ports, a batch run, a SIGKILL of a service's process, a SQL query over the lake."""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx

from common.model.views import Catalog
from common.storage.lake import Lake
from runner.client import ApiKeys
from runner.launcher import ROOT, launched
from tests.support.waiting import wait_for

PUBLISHED_RE = re.compile(r"batch version (\S+) published")


class Pipeline:
    """A running pipeline and the ways a test talks to it."""

    def __init__(
        self,
        ingest_url: str,
        serving_url: str,
        catalog: Catalog,
        keys_env: dict[str, str] | None = None,
    ) -> None:
        self.ingest_url = ingest_url
        self.serving_url = serving_url
        self.catalog = catalog
        # With keys set (LAMBDA_*_KEYS in the pipeline's environment), every request carries
        # the key it needs, as `make demo` sends it; a request with its own Authorization
        # header keeps that one.
        self.keys = ApiKeys.from_env(os.environ if keys_env is None else keys_env)
        self.client = httpx.Client(timeout=30, auth=self.keys)

    def post(
        self, body: Any = None, *, content: bytes | None = None, headers=None
    ) -> httpx.Response:
        if content is not None:
            return self.client.post(f"{self.ingest_url}/events", content=content, headers=headers)
        return self.client.post(f"{self.ingest_url}/events", json=body, headers=headers)

    def query(self, view: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(f"{self.serving_url}/views/{view}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def health(self) -> dict[str, Any]:
        return self.client.get(f"{self.serving_url}/health").json()

    def wait_caught_up(self, timeout_s: float = 60, version: str | None = None) -> None:
        """Until the speed view reflects every event on the topic (and, if given, the batch
        version served is ``version``)."""

        def caught_up() -> bool:
            meta = self.query(self.catalog.views[0].name, limit=1)["meta"]
            if version is not None and meta["batch"]["version"] != version:
                return False
            return meta["speed"]["lag"] == 0

        wait_for(caught_up, timeout_s, f"speed lag 0 (batch version {version})")

    def run_command(self, command: list[str], timeout_s: float) -> subprocess.CompletedProcess:
        """Run ``command`` in the repository with this pipeline's environment; its output."""
        return subprocess.run(
            command,
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def run_batch(self) -> str:
        """`make batch`'s command against this pipeline; returns the published version."""
        result = self.run_command(self.batch_command(), timeout_s=600)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        published = PUBLISHED_RE.search(result.stdout)
        assert published, result.stdout
        return published.group(1)

    def kill9(self, service: str) -> None:
        """SIGKILL a service's process and wait until it has been started again."""
        old = self.pid(service)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: self.pid(service) not in (None, old), 30, f"{service} to restart")

    def pause(self, service: str) -> None:
        """Freeze a service (SIGSTOP): it holds everything and answers nothing, as a hung
        process does."""
        os.kill(self.pid(service), signal.SIGSTOP)

    def resume(self, service: str) -> None:
        os.kill(self.pid(service), signal.SIGCONT)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def batch_command(self) -> list[str]:
        raise NotImplementedError

    def pid(self, service: str) -> int | None:
        """The process id of a running service, None while it is not running."""
        raise NotImplementedError

    def restarts(self, service: str) -> int:
        """How often the service was restarted after it died."""
        raise NotImplementedError

    def sql(self, query: str) -> list[tuple]:
        """DuckDB over the pipeline's data directory, named ``{data}`` in the query."""
        raise NotImplementedError

    def log_tail(self, lines: int = 80) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


class LocalPipeline(Pipeline):
    """`python -m runner` (what `make run` runs) with its own broker on free ports."""

    def __init__(
        self, launched_env: dict[str, str], data_dir: Path, log_path: Path, runner_pid: int, **kw
    ) -> None:
        super().__init__(**kw)
        self._env = launched_env
        self.data_dir = data_dir
        self.log_path = log_path
        self.runner_pid = runner_pid

    @property
    def lake(self) -> Lake:
        return Lake(self.data_dir)

    def env(self) -> dict[str, str]:
        return self._env

    def batch_command(self) -> list[str]:
        return [sys.executable, "-m", "runner.batch"]

    def pid(self, service: str) -> int | None:
        try:
            return int(self.lake.pid_file(service).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def restarts(self, service: str) -> int:
        return self.log_path.read_text(errors="replace").count(f"restarted {service} ")

    def sql(self, query: str) -> list[tuple]:
        return duckdb.sql(query.format(data=self.data_dir)).fetchall()

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def local_pipeline(
    base: Path,
    data_dir: Path,
    views_file: Path,
    catalog: Catalog,
    start_timeout_s: float,
    extra_env: dict[str, str] | None = None,
) -> Iterator[LocalPipeline]:
    """Run the local pipeline until the block ends."""
    with launched(base, data_dir, views_file, start_timeout_s, extra_env) as running:
        handle = LocalPipeline(
            running.env,
            running.data_dir,
            running.log_path,
            running.pid,
            ingest_url=running.ingest_url,
            serving_url=running.serving_url,
            catalog=catalog,
            keys_env=running.env,
        )
        try:
            yield handle
        finally:
            handle.close()


class ComposePipeline(Pipeline):
    """The Compose stack that `make test-containers` started: COMPOSE_PROJECT_NAME and
    COMPOSE_FILE in the environment name it, as they do for `docker compose` itself."""

    DATA = "/data"

    def _compose(self, *args: str, timeout_s: float = 60) -> str:
        result = subprocess.run(
            ["docker", "compose", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert result.returncode == 0, f"docker compose {' '.join(args)}: {result.stderr}"
        return result.stdout

    def _inspect(self, service: str, template: str) -> str:
        container = self._compose("ps", "--all", "-q", service).strip()
        assert container, f"no container for {service}"
        result = subprocess.run(
            ["docker", "inspect", "-f", template, container],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def pause(self, service: str) -> None:
        self._compose("pause", service)

    def resume(self, service: str) -> None:
        self._compose("unpause", service)

    def batch_command(self) -> list[str]:
        return ["docker", "compose", "exec", "-T", "scheduler", "python", "-m", "runner.batch"]

    def pid(self, service: str) -> int | None:
        """The container's init process, as Docker reports it (0 while it is not running)."""
        pid = int(self._inspect(service, "{{.State.Pid}}"))
        return pid or None

    def restarts(self, service: str) -> int:
        return int(self._inspect(service, "{{.RestartCount}}"))

    def sql(self, query: str) -> list[tuple]:
        script = (
            "import duckdb, json, sys; "
            "print(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))"
        )
        out = self._compose(
            "exec", "-T", "archiver", "python", "-c", script, query.format(data=self.DATA)
        )
        return [tuple(row) for row in json.loads(out)]

    def log_tail(self, lines: int = 80) -> str:
        return self._compose("logs", "--no-color", "--tail", str(lines // 4))
