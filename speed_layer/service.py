"""A speed-layer replica: owns some partitions, folds their events, snapshots each on its own.

Each owned partition (a slice) has a state reflecting exactly the events after the offsets of
its base batch version, published as its own snapshots (offset-range segments). This module
is the main loop; each concern it turns has a module of its own:

- ``folding``: the live path, the main consumer's records folded in and snapshotted;
- ``switching``: the partition-by-partition switch to a newer batch version;
- ``ownership``: which partitions this replica owns, following the live replicas
  (``membership``); a slice that changes owner continues from its last snapshot;
- ``history``: what the log no longer holds, read from the archive, and the slice of
  earlier topic generations.

The two consumers are given to the replica (``connect`` makes the real ones), so tests run
it over a log of their own.
"""

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from common.lifecycle import run_service, stop_event_on_signals
from common.model.views import Catalog, load_catalog
from common.monitoring.prometheus import BUSY
from common.runtime.kafka import TopicConsumer
from common.runtime.timers import Every
from common.storage.lake import BatchVersion, Lake
from common.storage.speed_store import remove_stale
from speed_layer.folding import LivePath
from speed_layer.history import EarlierSlice, History
from speed_layer.membership import Membership
from speed_layer.owned_slice import OwnedSlice
from speed_layer.ownership import Ownership
from speed_layer.settings import SpeedSettings
from speed_layer.switching import CATCH_UP_RECORDS, Switching, newer

log = logging.getLogger("speed")

MANIFEST_CHECK_SECONDS = 0.2
REBALANCE_SECONDS = 0.5
DAMAGE_CHECK_SECONDS = 2.0
"""How often a replica checks that the files its served snapshots name can be read."""


@dataclass
class Consumers:
    """A replica's two consumers: the main one (the live path) and the catch-up one (the
    segment a switch reads again)."""

    main: TopicConsumer
    catch_up: TopicConsumer

    def close(self) -> None:
        self.main.close()
        self.catch_up.close()


def connect(settings: SpeedSettings) -> Consumers:
    """The broker's consumers of the topic, the production default."""
    main = TopicConsumer.connect(settings, max_poll_records=20_000)
    catch_up = TopicConsumer.connect(settings, max_poll_records=CATCH_UP_RECORDS)
    return Consumers(main, catch_up)


class SpeedReplica:
    """One speed-layer process of a data directory."""

    def __init__(
        self,
        settings: SpeedSettings,
        lake: Lake,
        catalog: Catalog,
        replica_id: str | None = None,
        consumers: Callable[[SpeedSettings], Consumers] = connect,
        rebalance_seconds: float = REBALANCE_SECONDS,
    ) -> None:
        self.settings = settings
        self.lake = lake
        self.catalog = catalog
        self.connect = consumers
        self.rebalance_seconds = rebalance_seconds
        self.generation = lake.read_generation()
        self.membership = Membership(lake, replica_id)
        self.slices: dict[int, OwnedSlice] = {}
        self.manifest: BatchVersion | None = lake.read_manifest()

    @property
    def id(self) -> str:
        return self.membership.id

    def run(self, stop: threading.Event) -> None:
        """Join the live replicas, and serve until ``stop`` is set."""
        self.membership.join()
        consumers = self.connect(self.settings)
        try:
            self._loop(consumers, stop)
        finally:
            consumers.close()
            self.membership.leave()

    def _loop(self, consumers: Consumers, stop: threading.Event) -> None:
        remove_stale(self.lake, self.generation)
        log.info("speed replica %s started", self.id)
        history = History(self.lake, self.generation)
        earlier = EarlierSlice(self.lake, self.generation, self.catalog, self.id)
        live = LivePath(self.slices, consumers.main, history)
        switching = Switching(
            self.generation, self.catalog, self.slices, consumers.main, consumers.catch_up, history
        )
        ownership = Ownership(
            self.lake,
            self.generation,
            self.catalog,
            self.membership,
            self.slices,
            consumers.main,
            history,
            earlier,
            let_go=switching.forget,
        )
        rebalance = Every(self.rebalance_seconds)
        manifest_check = Every(MANIFEST_CHECK_SECONDS)
        snapshot = Every(self.settings.speed_snapshot_seconds)
        damage_check = Every(DAMAGE_CHECK_SECONDS)
        try:
            self._check_manifest(earlier)
            ownership.rebalance(self.manifest)
            while not stop.is_set():
                live.poll(stop)
                with BUSY.working():
                    if manifest_check.due():
                        self._check_manifest(earlier)
                    switching.step(self.manifest)
                    if rebalance.due():
                        ownership.rebalance(self.manifest)
                    if snapshot.due():
                        live.publish_all()
                    if damage_check.due():
                        ownership.check_snapshot_files()
        finally:
            ownership.release_all()  # what was read before the stop is served after it

    def _check_manifest(self, earlier: EarlierSlice) -> None:
        """Take a newer batch version up: the switches start from it, the earlier slice is
        built on it."""
        manifest = self.lake.read_manifest()
        if manifest is None or not newer(manifest.version, self.manifest):
            return
        self.manifest = manifest
        if earlier.held:
            earlier.refresh(self.manifest)


def serve() -> None:
    """Run one speed-layer replica until SIGTERM/SIGINT."""
    settings = SpeedSettings()
    log.info("starting with %s", settings.describe())
    lake = Lake(settings.data_dir)
    lake.ensure()
    SpeedReplica(settings, lake, load_catalog(settings.views_file)).run(stop_event_on_signals())


def main() -> int:
    return run_service("speed", serve)


if __name__ == "__main__":
    sys.exit(main())
