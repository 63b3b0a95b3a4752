"""Fixtures the unit tests share."""

import pytest

from common.storage.lake import Lake


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty data directory at topic generation 1."""
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    return lake


@pytest.fixture(autouse=True)
def _answer_the_test_client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apps built in unit tests answer Starlette's TestClient, whose Host is ``testserver``
    (the services answer only their own names: ``common.runtime.security``)."""
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("LAMBDA_ALLOWED_HOSTS", "testserver")
