"""Records of the topic that are not events: how many the archive holds, and the latest ones
with their offsets and reasons, for /health. Master files never change, so each is read once."""

import threading
from typing import Any

from common.lake import MasterFile
from common.master import Rejected, rejected_records

RECENT = 10


class RejectedIndex:
    """Per master file, its rejected records, read the first time the file is seen."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[Rejected]] = {}
        self._lock = threading.Lock()

    def summary(self, files: list[MasterFile]) -> dict[str, Any]:
        """``{"count": n, "recent": [{"generation", "partition", "offset", "reason"}, ...]}``."""
        found: list[Rejected] = []
        for f in files:
            found.extend(self._of(f))
        recent = sorted(found, key=lambda r: (r.generation, r.offset))[-RECENT:]
        return {
            "count": len(found),
            "recent": [
                {
                    "generation": r.generation,
                    "partition": r.partition,
                    "offset": r.offset,
                    "reason": r.reason,
                }
                for r in recent
            ],
        }

    def _of(self, f: MasterFile) -> list[Rejected]:
        key = str(f.path)
        with self._lock:
            cached = self._by_path.get(key)
        if cached is None:
            cached = rejected_records(f.path)
            with self._lock:
                self._by_path[key] = cached
        return cached
