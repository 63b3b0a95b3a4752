"""Which speed-layer replica owns which partitions, decided through the data directory.

Every replica holds an exclusive ``flock`` on ``speed/members/<id>.lock`` for as long as it
lives; the kernel releases it the moment the process dies, ``kill -9`` included, so the live
replicas are exactly the lock files someone holds. Each replica computes the same assignment
from the same member list (partitions dealt round-robin over the members in id order, which
is join order), and
a partition's slice is only ever written under the slice's own lock, which the previous owner
gives up (after a last snapshot) before the next one can take it. See ARCHITECTURE.md for why
this and not a Kafka consumer group.
"""

import os
import socket
import time

import orjson

from common.errors import LakeError
from common.storage.lake import Lake, write_atomic
from common.storage.locks import is_held, try_lock
from common.storage.speed_store import member_locks, members_dir


def new_replica_id() -> str:
    """Unique, and sorting by join time: ``<epoch ms>-<host>-<pid>``."""
    return f"{time.time_ns() // 1_000_000:013d}-{socket.gethostname()}-{os.getpid()}"


def assignment(members: list[str], partitions: list[int]) -> dict[str, list[int]]:
    """Partitions dealt round-robin over the members in id order; members beyond the
    partition count get none."""
    ordered = sorted(members)
    owned: dict[str, list[int]] = {member: [] for member in ordered}
    for index, partition in enumerate(sorted(partitions)):
        owned[ordered[index % len(ordered)]].append(partition)
    return owned


class Membership:
    """This replica's entry among the live replicas of one data directory."""

    def __init__(self, lake: Lake, replica_id: str | None = None) -> None:
        self.lake = lake
        self.dir = members_dir(lake)
        self.id = replica_id or new_replica_id()
        self._fd: int | None = None
        self._reported: list[int] | None = None

    def join(self) -> None:
        """Lock a file of its own, then rename it into place: others never see it unlocked."""
        self.report([])
        tmp = self.dir / f".{self.id}.lock.tmp"
        self._fd = try_lock(tmp)
        if self._fd is None:
            raise LakeError(f"speed-layer replica id {self.id} is taken")
        os.replace(tmp, self.dir / f"{self.id}.lock")

    def leave(self) -> None:
        for suffix in (".json", ".lock"):
            (self.dir / f"{self.id}{suffix}").unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def report(self, partitions: list[int]) -> None:
        """Say which partitions this replica serves now (read by /health), when it changed."""
        if sorted(partitions) == self._reported:
            return
        self._reported = sorted(partitions)
        status = {"id": self.id, "pid": os.getpid(), "partitions": self._reported}
        write_atomic(self.dir / f"{self.id}.json", orjson.dumps(status), durable=False)

    def live(self) -> list[str]:
        """The ids of the live replicas, this one included; entries of dead ones are removed."""
        alive = [self.id]
        for path in member_locks(self.lake):
            member = path.stem
            if member == self.id:
                continue
            if is_held(path):
                alive.append(member)
                continue
            (self.dir / f"{member}.json").unlink(missing_ok=True)
            path.unlink(missing_ok=True)
        return sorted(alive)
