"""`make batch`: one batch run now, by the running pipeline's scheduler, whose worker keeps a
warm Spark session (``POST /batch/runs``, then the run's record until it ends).

A run already queued or running (409) is waited for, and then one is requested again: a
run's snapshot of the archive is taken when it starts, so only a run that starts after the
command does covers every event accepted before it. With no pipeline answering, the run
happens here instead, in a Spark session of its own (``batch_layer.job``)."""

import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field

from batch_layer import job
from common.runtime.settings import CommonSettings
from runner.client import ApiKeys

POLL_SECONDS = 0.5
PROGRESS_SECONDS = 10.0
"""How often a waiting `make batch` says what the run is doing."""
ENDED = ("succeeded", "failed")


class BatchRequestSettings(CommonSettings):
    """What `make batch` reads (prefix ``LAMBDA_``)."""

    serving_port: int = Field(default=8001, ge=1, le=65535, description="the serving API's port")
    batch_wait_s: float = Field(
        default=3600,
        gt=0,
        description="how long `make batch` waits for its run to end before it gives up",
    )


class RunFailed(Exception):
    """The run ended without publishing, or could not be requested or followed."""


class NoPipeline(Exception):
    """Nothing answered the first request: no pipeline is running here."""


class Requester:
    """Requests runs from the serving API and follows them to their end."""

    def __init__(
        self,
        client: httpx.Client,
        serving: str,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._serving = serving
        self._say = say
        self._clock = clock

    def run(self, deadline: float) -> dict[str, Any]:
        """A run that starts after this call, followed until it ends; its record.
        ``NoPipeline`` when the serving API does not answer the first request."""
        try:
            response = self._request_run()
        except httpx.TransportError as exc:
            raise NoPipeline(str(exc)) from exc
        while True:
            if response.status_code == 409:
                busy = response.json()["id"]
                self._say(f"batch run {busy} is queued or running: waiting for it to end first")
                self.follow(busy, deadline)
                response = self._retried(self._request_run, deadline)
                continue
            _check(response)
            return self.follow(response.json()["id"], deadline)

    def _request_run(self) -> httpx.Response:
        return self._client.post(f"{self._serving}/batch/runs")

    def follow(self, run_id: str, deadline: float) -> dict[str, Any]:
        """Poll run ``run_id`` until it ends; its last record."""
        said = self._clock()
        while True:
            response = self._retried(
                lambda: self._client.get(f"{self._serving}/batch/runs/{run_id}"), deadline
            )
            _check(response)
            record: dict[str, Any] = response.json()
            if record["state"] in ENDED:
                return record
            now = self._clock()
            if now > deadline:
                raise RunFailed(f"batch run {run_id} still {record['state']} at the deadline")
            if now - said >= PROGRESS_SECONDS:
                said = now
                hint = " (is the batch scheduler running?)" if record["state"] == "queued" else ""
                self._say(f"batch run {run_id} {record['state']}{hint}")
            time.sleep(POLL_SECONDS)  # the poll's pace: the record is the condition

    def _retried(self, request: Callable[[], httpx.Response], deadline: float) -> httpx.Response:
        """``request``'s response, asked again while the API does not answer (a restart of
        the serving layer; the run goes on in the scheduler) until ``deadline``."""
        while True:
            try:
                return request()
            except httpx.TransportError as exc:
                if self._clock() > deadline:
                    raise RunFailed(f"the serving API stopped answering: {exc}") from exc
                time.sleep(POLL_SECONDS)  # the API's restart is the condition


def _check(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise RunFailed(
            f"{response.request.url} answered {response.status_code}: starting a batch run "
            "needs an admin key; set LAMBDA_API_KEY (or LAMBDA_ADMIN_KEYS)"
        )
    if response.is_error:
        raise RunFailed(f"{response.request.url} answered {response.status_code}: {response.text}")


def describe(record: dict[str, Any]) -> str:
    """The line `make batch` prints for a published run (the same as ``batch_layer.job``'s)."""
    return (
        f"batch version {record['version']} published: {record['events']} events, "
        f"run {record['id']}, {record['duration_s'] or 0:.1f}s"
    )


def main() -> int:
    settings = BatchRequestSettings()
    serving = f"http://{settings.client_host}:{settings.serving_port}"
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with httpx.Client(timeout=30, auth=ApiKeys(settings)) as client:
        requester = Requester(client, serving, say)
        try:
            record = requester.run(time.monotonic() + settings.batch_wait_s)
        except NoPipeline as exc:
            say(f"no pipeline answers at {serving} ({exc}): running the batch here")
            return job.main()
        except (RunFailed, httpx.HTTPError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if record["state"] != "succeeded":
        print(f"error: batch run {record['id']} failed: {record['error']}", file=sys.stderr)
        return 1
    print(describe(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
