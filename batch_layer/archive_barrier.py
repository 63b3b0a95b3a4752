"""Before a batch run: wait until the archiver has written everything already on the topic,
so a batch started after a post covers that post."""

import logging
import time

from batch_layer.settings import BatchSettings
from common.errors import BrokerError
from common.runtime.kafka import EndOffsets, bootstrap_reachable
from common.storage.lake import Lake, next_after
from common.storage.quarantine import coverage

log = logging.getLogger("batch")


def wait_for_archive(settings: BatchSettings, lake: Lake, timeout_s: float) -> bool:
    """True once the master dataset covers the topic's current end; False on timeout."""
    generation = lake.read_generation()
    if timeout_s <= 0:
        return False
    if not bootstrap_reachable(settings.kafka_bootstrap):
        log.warning("cannot reach %s; batching what is archived", settings.kafka_bootstrap)
        return False
    try:
        probe = EndOffsets(settings)
        try:
            ends = probe.read()
        finally:
            probe.close()
    except BrokerError as exc:
        log.warning("cannot read the topic's end (%s); batching what is archived", exc)
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        _, offsets = coverage(lake, lake.master_files(generation))
        archived = next_after(offsets.get(generation, {}))
        behind = {p: end for p, end in ends.items() if archived.get(p, 0) < end}
        if not behind:
            return True
        if time.monotonic() > deadline:
            log.warning(
                "the archiver has not reached offsets %s within %.0fs; batching what is archived",
                behind,
                timeout_s,
            )
            return False
        time.sleep(0.2)
