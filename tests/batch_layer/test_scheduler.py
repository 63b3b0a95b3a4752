"""The scheduler catches up on archive an earlier run left outside every batch."""

from batch_layer.scheduler import uncovered_earlier_generations
from common.events import Event
from common.lake import BatchVersion, Lake
from common.master import PartitionBuffer, write_master_file


def archive(lake: Lake, generation: int, last: int) -> None:
    buffer = PartitionBuffer(first=0)
    for offset in range(last + 1):
        buffer.add(offset, Event(f"e{generation}-{offset}", "t", 0, {}).encode())
    write_master_file(lake, generation, 0, buffer)


def test_only_earlier_generations_beyond_the_batch_count(tmp_path):
    lake = Lake(tmp_path)
    lake.ensure()
    lake.start_generation()
    archive(lake, 1, 9)
    assert not uncovered_earlier_generations(lake)  # generation 1 is the current one
    lake.start_generation()
    archive(lake, 2, 3)
    assert uncovered_earlier_generations(lake)
    lake.publish_manifest(BatchVersion("000001", "t", 10, {1: {0: 9}}, ()))
    assert not uncovered_earlier_generations(lake)
