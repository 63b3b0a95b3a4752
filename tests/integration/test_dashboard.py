"""Acceptance of the dashboard at the serving layer's root: headless Chromium (Debian's, driven
by Playwright) opens it on a pipeline of its own and the test checks what the page shows
against the answers the page itself fetched.

- Every stage's up/down, throughput, lag, latency and utilisation, each speed replica's, the
  bottleneck, the freshness and the number of warnings equal those of the `GET /status` answer
  whose `generated_at` the page says it shows.
- "Run batch now" answers 202 with the run's id (then 409 with the same id while it is queued
  or running), and the run appears in the page's history and in `GET /batch/runs`.
- Once that run has published and more events came after it, the chart of a view stacks bars
  of both colours, and its batch and speed totals are the events posted before and after it.

With keys set (issue 16): the page shows a form asking for a key when the server answers
401, keeps the key in sessionStorage for the tab, and sends it on every fetch; a reload asks
no more.

Its own pipeline, not the session's: the batch run it starts would break the tests that need
the session's pipeline to have had none yet (test_exactness). One Spark run (30-60 s here)."""

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import chromium
from conftest import launch
from events_factory import EventFactory
from playwright.sync_api import Page, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from stacks import LocalPipeline

from common.model.timeutil import now_ms

pytestmark = pytest.mark.integration

SCREENSHOT_COPY = Path("/tmp/lambda-dashboard.png")
STAGE_FIELDS = ("up", "throughput", "lag", "utilisation", "latency_p50", "latency_p99")
REPLICA_FIELDS = ("up", "throughput", "utilisation")
COLOURS = {"batch": "#4e79a7", "speed": "#b07aa1"}
CHART_VIEW, CHART_METRIC = "page_views_by_page", "views"
SHOWN_TIMEOUT_S = 90
RUN_TIMEOUT_S = 300

# Everything the page shows from /status, read in one go (so all from the same status).
SHOWN_JS = """() => {
  const values = {};
  for (const node of document.querySelectorAll("#pipeline-svg [data-stage][data-field]")) {
    values[[node.dataset.stage, node.dataset.instance || "", node.dataset.field].join("/")] =
      node.dataset.value;
  }
  const freshness = {};
  for (const node of document.querySelectorAll("[data-freshness][data-field]")) {
    freshness[node.dataset.freshness + "/" + node.dataset.field] = node.dataset.value;
  }
  return {
    generatedAt: document.getElementById("dashboard").dataset.generatedAt,
    values,
    freshness,
    stages: [...document.querySelectorAll("#pipeline-svg g.stage")].map((g) => g.dataset.stage),
    titles: [...document.querySelectorAll("#pipeline-svg g.stage text.name")]
      .map((t) => t.textContent),
    highlighted: [...document.querySelectorAll("#pipeline-svg g.stage.bottleneck")]
      .map((g) => g.dataset.stage),
    bottleneck: document.getElementById("bottleneck").dataset.value,
    warningCount: document.getElementById("warning-count").dataset.value,
    warningItems: document.querySelectorAll("#warning-list li[data-code]").length,
  };
}"""


ADMIN_KEY = "dashboard-admin-key"  # the page needs a key that may read and start runs
KEYS = {"LAMBDA_ADMIN_KEYS": ADMIN_KEY, "LAMBDA_READ_KEYS": "dashboard-read-key"}


@pytest.fixture(scope="module")
def own_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    base = tmp_path_factory.mktemp("dashboard")
    with launch(base, base / "data", extra_env=KEYS) as handle:
        yield handle


class Dashboard:
    """The page in Chromium, and every 200 answer of GET /status it received."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.page_errors: list[str] = []
        self._answers: list[Response] = []
        self._parsed: list[dict[str, Any]] = []
        page.on("response", self._seen)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _seen(self, response: Response) -> None:
        if urlsplit(response.url).path == "/status" and response.status == 200:
            self._answers.append(response)

    def status_answer(self, generated_at: str) -> dict[str, Any]:
        """The /status answer the page received with this ``generated_at`` (the latest one)."""
        deadline = time.monotonic() + 10
        while True:
            while len(self._parsed) < len(self._answers):
                self._parsed.append(self._answers[len(self._parsed)].json())
            found = [a for a in self._parsed if a["generated_at"] == generated_at]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"the page fetched no status of {generated_at}"
            self.page.wait_for_timeout(100)  # lets Playwright deliver the response event

    def wait_until(
        self,
        condition_js: str,
        what: str,
        timeout_s: float,
        between: Callable[[], Any] | None = None,
    ) -> None:
        """Until ``condition_js`` holds in the page; ``between`` runs before each 2 s wait."""
        deadline = time.monotonic() + timeout_s
        while True:
            if between is not None:
                between()
            try:
                self.page.wait_for_function(condition_js, timeout=2000)
                return
            except PlaywrightTimeout:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"timed out after {timeout_s}s waiting for {what}"
                    ) from None

    def attribute(self, selector: str, name: str) -> str | None:
        return self.page.locator(selector).get_attribute(name)


@pytest.fixture(scope="module")
def dashboard(
    own_pipeline: LocalPipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """The dashboard open in headless Chromium, given the admin key when it asks for one."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with chromium(profile, bypass_csp=True) as context:
        page = context.pages[0] if context.pages else context.new_page()
        board = Dashboard(page)
        page.goto(f"{own_pipeline.serving_url}/")
        enter_key(page, ADMIN_KEY)
        yield board


def enter_key(page: Page, key: str) -> None:
    """Answer the page's key form (shown once a fetch of the page was answered 401)."""
    page.wait_for_selector("#api-key-form", timeout=30_000)
    page.fill("#api-key-input", key)
    page.click("#api-key-submit")
    page.wait_for_selector("#api-key-form", state="detached", timeout=10_000)


def as_shown(raw: str | None) -> Any:
    assert raw is not None, "a displayed number has no data-value"
    return json.loads(raw)


def assert_page_matches_status(board: Dashboard) -> dict[str, Any]:
    """What the page shows equals the /status answer it says it shows; that answer."""
    shown = board.page.evaluate(SHOWN_JS)
    status = board.status_answer(shown["generatedAt"])
    assert shown["stages"] == [s["stage"] for s in status["stages"]]
    titles = {n["stage"]: n["title"] for n in status["stage_names"]}  # the one table of them
    assert shown["titles"] == [titles[s["stage"]] for s in status["stages"]]
    values = {key: as_shown(raw) for key, raw in shown["values"].items()}
    for stage in status["stages"]:
        name = stage["stage"]
        latency = stage["latency_ms"] or {}
        expected = {
            "up": stage["up"],
            "throughput": stage["throughput"],
            "lag": stage["lag"],
            "utilisation": stage["utilisation"],
            "latency_p50": latency.get("p50"),
            "latency_p99": latency.get("p99"),
        }
        for field in STAGE_FIELDS:
            assert values[f"{name}//{field}"] == expected[field], (name, field, stage)
    for replica in next(s for s in status["stages"] if s["stage"] == "speed")["instances"]:
        for field in REPLICA_FIELDS:
            key = f"speed/{replica['id']}/{field}"
            assert values[key] == replica[field], (key, replica)
    bottleneck = status["bottleneck"]
    assert as_shown(shown["bottleneck"]) == bottleneck
    assert shown["highlighted"] == ([bottleneck["stage"]] if bottleneck else [])
    freshness = {key: as_shown(raw) for key, raw in shown["freshness"].items()}
    batch = status["freshness"]["batch"] or {}
    for field in ("version", "age_seconds", "events"):
        assert freshness[f"batch/{field}"] == batch.get(field), field
    for field in ("lag", "visible_p99_ms"):
        assert freshness[f"speed/{field}"] == status["freshness"]["speed"][field], field
    assert as_shown(shown["warningCount"]) == len(status["warnings"])
    assert shown["warningItems"] == len(status["warnings"])
    return status


def test_the_page_shows_the_status_it_fetched(own_pipeline, dashboard):
    factory = EventFactory(seed=20261127, prefix="dash-live", now_ms=now_ms())
    dashboard.wait_until(
        "document.getElementById('dashboard').dataset.generatedAt",
        "the page to show a status",
        SHOWN_TIMEOUT_S,
    )

    def post_some() -> None:
        response = own_pipeline.post(factory.batch(200, spread_ms=60_000))
        assert response.status_code == 202, response.text

    # Events keep coming until the page shows the ingest stage receiving them.
    dashboard.wait_until(
        """() => {
          const node = document.querySelector('[data-stage="ingest"][data-field="throughput"]');
          return node && JSON.parse(node.dataset.value) > 0;
        }""",
        "the page to show ingest throughput above 0",
        SHOWN_TIMEOUT_S,
        between=post_some,
    )
    status = assert_page_matches_status(dashboard)
    assert status["stages"][0]["throughput"] > 0
    assert not dashboard.page_errors


def test_run_batch_now_and_the_chart_of_both_layers(own_pipeline, dashboard, tmp_path):
    page = dashboard.page
    factory = EventFactory(seed=20261128, prefix="dash-chart", now_ms=now_ms())
    before = factory.batch(400, spread_ms=60_000)
    assert own_pipeline.post(before).status_code == 202
    own_pipeline.wait_caught_up()
    # Every page view posted so far is in the batch part of the chart once the run publishes
    # (the run waits for the archiver to reach the topic's end).
    batch_views = own_pipeline.query(CHART_VIEW, group_by="", granularity="day")["rows"]
    batch_total = sum(row[CHART_METRIC] for row in batch_views)

    page.click("#run-batch")
    dashboard.wait_until(
        "document.getElementById('run-answer').dataset.status", "the answer to the click", 30
    )
    assert dashboard.attribute("#run-answer", "data-status") == "202", page.inner_text(
        "#run-answer"
    )
    run_id = dashboard.attribute("#run-answer", "data-run-id")
    assert run_id
    page.click("#run-batch")
    dashboard.wait_until(
        "document.getElementById('run-answer').dataset.status === '409'", "a 409 while it runs", 30
    )
    assert dashboard.attribute("#run-answer", "data-run-id") == run_id
    assert run_id in page.inner_text("#run-answer")

    row = f'#runs tr[data-run-id="{run_id}"]'
    page.wait_for_selector(row, timeout=10_000)
    listed = own_pipeline.client.get(f"{own_pipeline.serving_url}/batch/runs").json()["runs"]
    assert run_id in [run["id"] for run in listed]
    page.wait_for_selector(
        f'{row}[data-state="succeeded"], {row}[data-state="failed"]', timeout=RUN_TIMEOUT_S * 1000
    )
    assert dashboard.attribute(row, "data-state") == "succeeded", page.inner_text(row)
    assert page.inner_text(f"{row} td:nth-child(2)") == "request"

    # Events after the run: the speed part.
    after = factory.batch(300, spread_ms=30_000)
    assert own_pipeline.post(after).status_code == 202
    speed_total = sum(1 for e in after if e["type"] == "page_view")
    page.select_option("#chart-view", CHART_VIEW)
    page.select_option("#chart-metric", CHART_METRIC)
    expected = {"batch": batch_total, "speed": speed_total}
    dashboard.wait_until(
        f"""() => {{
          const shown = (source) => document.querySelector(
            `#chart-legend [data-source="${{source}}"]`);
          return shown("batch") && JSON.parse(shown("batch").dataset.value) === {batch_total}
            && JSON.parse(shown("speed").dataset.value) === {speed_total};
        }}""",
        f"the chart's totals to be {expected}",
        SHOWN_TIMEOUT_S,
    )
    for source, colour in COLOURS.items():
        bars = page.locator(f"#chart-svg rect.bar.{source}")
        assert bars.count() > 0, source
        assert {bars.nth(i).get_attribute("fill") for i in range(bars.count())} == {colour}
        heights = [float(bars.nth(i).get_attribute("height")) for i in range(bars.count())]
        assert min(heights) > 0, source

    version = page.inner_text(f"{row} td:nth-child(7)")
    dashboard.wait_until(
        f"""() => document.querySelector('[data-freshness="batch"][data-field="version"]')
          .dataset.value === {json.dumps(json.dumps(version))}""",
        f"the batch layer's freshness to show version {version}",
        SHOWN_TIMEOUT_S,
    )
    status = assert_page_matches_status(dashboard)
    assert status["freshness"]["batch"]["version"] == version
    assert not dashboard.page_errors
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=shot, full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)


def test_the_key_is_kept_for_the_tab_and_sent_on_every_fetch(own_pipeline, dashboard):
    page = dashboard.page
    assert page.evaluate("sessionStorage.getItem('lambda-api-key')") == ADMIN_KEY
    sent: list[str | None] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.headers.get("authorization"))
            if urlsplit(request.url).path == "/status"
            else None
        ),
    )
    page.reload()
    dashboard.wait_until(
        "document.getElementById('dashboard').dataset.generatedAt",
        "the reloaded page to show a status",
        SHOWN_TIMEOUT_S,
    )
    assert page.locator("#api-key-form").count() == 0  # not asked again
    assert sent and set(sent) == {f"Bearer {ADMIN_KEY}"}
    assert not dashboard.page_errors
