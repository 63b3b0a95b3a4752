"""A batch run ends its record: succeeded with its version, or failed with its one-line
reason; a scheduled run's record is the scheduler's, `make batch` records itself as manual."""

import pytest

from batch_layer import job
from batch_layer.job import BatchError, main
from batch_layer.settings import BatchSettings
from batch_layer.worker_process import run_one
from common.storage.batch_runs import RunStore
from common.storage.lake import BatchVersion, Lake


@pytest.fixture
def lake(tmp_path, monkeypatch) -> Lake:
    monkeypatch.setenv("LAMBDA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAMBDA_VIEWS_FILE", "views.yaml")
    return Lake(tmp_path)


def test_a_failed_run_is_recorded_with_its_reason(lake, monkeypatch):
    def fail(settings, lake, catalog, keep_session=False):
        raise BatchError("Spark failed: Mkdirs failed to create /data/batch/versions/2.tmp\nat ...")

    monkeypatch.setattr(job, "run_batch", fail)
    record = RunStore(lake).begin("size")
    assert run_one(BatchSettings(), lake, record.id) == 1
    ended = RunStore(lake).get(record.id)
    assert ended is not None and ended.state == "failed" and ended.trigger == "size"
    assert ended.error == "Spark failed: Mkdirs failed to create /data/batch/versions/2.tmp"
    assert ended.duration_s is not None


def test_a_manual_run_records_its_version(lake, monkeypatch):
    version = BatchVersion("000004", "t", 321, {}, ("a",), 12.5)
    monkeypatch.setattr(
        job, "run_batch", lambda settings, lake, catalog, keep_session=False: version
    )
    assert main() == 0
    [record] = RunStore(lake).recent()
    assert (record.trigger, record.state) == ("manual", "succeeded")
    assert (record.version, record.events, record.duration_s) == ("000004", 321, 12.5)


def test_an_unexpected_crash_is_recorded_and_raised(lake, monkeypatch):
    def crash(settings, lake, catalog, keep_session=False):
        raise RuntimeError("the JVM went away")

    monkeypatch.setattr(job, "run_batch", crash)
    with pytest.raises(RuntimeError):
        main()
    [record] = RunStore(lake).recent()
    assert (record.state, record.error) == ("failed", "RuntimeError: the JVM went away")
