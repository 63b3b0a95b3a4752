"""`make accept-loss`: every recorded loss acknowledged once, then bridged by batch runs."""

from batch_layer import accept_loss
from common.storage.lake import Lake
from common.storage.quarantine import OffsetRange, accepted, lost_ranges, record_lost


def test_accept_loss_acknowledges_what_is_lost_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAMBDA_DATA_DIR", str(tmp_path))
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    record_lost(lake, [OffsetRange(1, 0, 5, 9)])
    assert accept_loss.main() == 0
    assert "generation 1 partition 0 offsets 5-9" in capsys.readouterr().out
    assert accepted(lake) == [OffsetRange(1, 0, 5, 9)]
    assert lost_ranges(lake) == [
        {"generation": 1, "partition": 0, "first": 5, "last": 9, "accepted": True}
    ]
    assert accept_loss.main() == 0
    assert "no new losses" in capsys.readouterr().out


def test_accept_loss_outside_a_pipeline_fails_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAMBDA_DATA_DIR", str(tmp_path / "nothing"))
    assert accept_loss.main() == 1
    assert "make run" in capsys.readouterr().err
