"""Fixtures the unit tests share."""

import pytest

from common.lake import Lake


@pytest.fixture
def lake(tmp_path) -> Lake:
    """An empty data directory at topic generation 1."""
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    return lake
