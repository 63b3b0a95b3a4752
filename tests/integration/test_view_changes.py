"""Acceptance: a view whose definition changed answers 503 with a reason until a batch run that
starts on its own has recomputed it, then equals the truth over every event; an unchanged view
answers exactly throughout."""

from pathlib import Path

import httpx
import pytest
from conftest import GroundTruth, Ledger, launch
from events_factory import EventFactory

from common.model.timeutil import now_ms
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

UNCHANGED = """
  - name: daily_orders
    event_type: purchase
    granularity: day
    metrics:
      orders: count
      revenue: {sum: amount}
"""

CHANGED = """
  - name: activity
    event_type: %s
    granularity: hour
    metrics:
      events: count
      users: {distinct: user_id}
"""

RECOMPUTE_TIMEOUT_S = 300


def views_file(directory: Path, name: str, activity_type: str) -> Path:
    path = directory / name
    path.write_text("views:" + UNCHANGED + CHANGED % activity_type)
    return path


def answer(pipeline, view: str) -> httpx.Response:
    return pipeline.client.get(f"{pipeline.serving_url}/views/{view}")


def assert_pending(response: httpx.Response) -> None:
    """A 503 that says the view changed, with Retry-After."""
    assert response.status_code == 503, f"expected 503, got {response.status_code}: {response.text}"
    assert int(response.headers["Retry-After"]) >= 1
    detail = response.json()["detail"]
    assert "activity" in detail and "changed" in detail, detail


def test_a_changed_view_is_recomputed_on_its_own_and_never_mixed(tmp_path):
    data_dir = tmp_path / "data"
    ledger = Ledger()
    truth = GroundTruth(ledger)
    factory = EventFactory(seed=31, prefix="change", now_ms=now_ms())

    with launch(tmp_path, data_dir, views_file(tmp_path, "v1.yaml", "page_view")) as first:
        ledger.post(first, factory.batch(600))
        first_version = first.run_batch()
        ledger.post(first, factory.batch(300))  # in the speed view only
        first.wait_caught_up(version=first_version)
        for view in first.catalog.views:
            truth.assert_matches(view, first.query(view.name))

    with launch(tmp_path, data_dir, views_file(tmp_path, "v2.yaml", "purchase")) as second:
        orders, activity = second.catalog.get("daily_orders"), second.catalog.get("activity")
        assert_pending(answer(second, "activity"))
        ledger.post(second, factory.batch(200))  # after the change, before the recompute
        exact_samples = 0

        def recomputed() -> httpx.Response | None:
            """The changed view's answer once it is 200; meanwhile the unchanged one is exact."""
            nonlocal exact_samples
            changed = answer(second, "activity")
            if changed.status_code == 200:
                return changed
            assert_pending(changed)
            unchanged = answer(second, "daily_orders")
            assert unchanged.status_code == 200, unchanged.text
            if unchanged.json()["meta"]["speed"]["lag"] == 0:
                truth.assert_matches(orders, unchanged.json())
                exact_samples += 1
            return None

        changed = wait_for(recomputed, RECOMPUTE_TIMEOUT_S, "the changed view to be recomputed")
        assert exact_samples > 0, "the unchanged view never answered at lag 0 meanwhile"
        version = changed.json()["meta"]["batch"]["version"]
        assert version not in (None, first_version), changed.json()["meta"]
        second.wait_caught_up(version=version)
        truth.assert_matches(activity, second.query("activity"))
        before_the_change = 900
        assert second.query("activity")["meta"]["batch"]["events"] >= before_the_change
        truth.assert_matches(orders, second.query("daily_orders"))
