"""Records of the topic that are not events: how many the archive holds, and the latest ones
with their offsets and reasons, for /health. Master files never change, so each is read once."""

import threading
from typing import Any

from common.errors import DamagedFile
from common.storage.lake import MasterFile
from common.storage.master import Rejected, rejected_records
from common.storage.quarantine import quarantine

RECENT = 10
NEW_FILES_PER_CALL = 200
"""Files read for the first time per call: a restarted serving layer facing a large archive
answers /health at once and completes the count over the next calls."""


class RejectedIndex:
    """Per master file, its rejected records, read the first time the file is seen. Files
    no longer listed (compaction supersedes and later deletes them) are forgotten, so the
    index holds at most the files of the latest listing."""

    def __init__(self) -> None:
        self._by_path: dict[str, list[Rejected]] = {}
        self._lock = threading.Lock()

    def summary(self, files: list[MasterFile]) -> dict[str, Any]:
        """``{"count": n, "recent": [{"generation", "partition", "offset", "reason"}, ...],
        "files_read": k, "files": n}``: the count covers the ``files_read`` files read so far
        (newest first), all of them once ``files_read == files``."""
        self._forget_unlisted(files)
        found: list[Rejected] = []
        budget = NEW_FILES_PER_CALL
        read = 0
        for f in sorted(files, key=lambda f: (f.generation, f.first), reverse=True):
            cached = self._cached(f)
            if cached is None:
                if budget == 0:
                    continue
                budget -= 1
                cached = self._read(f)
            found.extend(cached)
            read += 1
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
            "files_read": read,
            "files": len(files),
        }

    def files_held(self) -> int:
        """How many files' records the index holds."""
        with self._lock:
            return len(self._by_path)

    def _forget_unlisted(self, files: list[MasterFile]) -> None:
        listed = {str(f.path) for f in files}
        with self._lock:
            for path in self._by_path.keys() - listed:
                del self._by_path[path]

    def _cached(self, f: MasterFile) -> list[Rejected] | None:
        with self._lock:
            return self._by_path.get(str(f.path))

    def _read(self, f: MasterFile) -> list[Rejected]:
        try:
            found = rejected_records(f.path)
        except DamagedFile as exc:
            quarantine(f, exc)  # shown in /status; its offsets are archived again
            found = []
        except FileNotFoundError:
            return []  # collected (compaction) or moved aside since the listing
        with self._lock:
            self._by_path[str(f.path)] = found
        return found
