"""Which replica owns which partition: live replicas found by their locks, partitions dealt
round-robin, and a dead replica's entry gone the moment its process is."""

import fcntl
import os
import signal
import subprocess
import sys

from common.storage.locks import is_held
from common.storage.speed_store import read_members
from speed_layer.membership import Membership, assignment


def test_partitions_are_dealt_round_robin_in_join_order():
    owned = assignment(["b", "a", "c"], [3, 2, 1, 0])
    assert owned == {"a": [0, 3], "b": [1], "c": [2]}


def test_replicas_beyond_the_partition_count_own_nothing():
    owned = assignment(["r1", "r2", "r3", "r4", "r5"], [0, 1, 2, 3])
    assert [owned[r] for r in ("r1", "r2", "r3", "r4", "r5")] == [[0], [1], [2], [3], []]


def test_every_replica_computes_the_same_assignment():
    members = ["r3", "r1", "r2"]
    assert assignment(members, [0, 1, 2, 3, 4]) == assignment(sorted(members), [4, 3, 2, 1, 0])


def test_a_killed_replica_is_no_longer_live(lake, tmp_path):
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from common.storage.lake import Lake; "
            "from speed_layer.membership import Membership; "
            "m = Membership(Lake(__import__('pathlib').Path(sys.argv[1])), 'r0'); m.join(); "
            "m.report([0]); print('joined', flush=True); time.sleep(600)",
            str(lake.root),
        ],
        stdout=subprocess.PIPE,
        cwd=os.getcwd(),
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"joined"
        me = Membership(lake, "r1")
        me.join()
        assert me.live() == ["r0", "r1"]
        assert [m["partitions"] for m in read_members(lake)] == [[0], []]
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert me.live() == ["r1"]  # no timeout to wait out: the kernel dropped its lock
        assert [m["id"] for m in read_members(lake)] == ["r1"]
        me.leave()
        assert read_members(lake) == []
    finally:
        child.kill()
        child.wait()


def test_a_dead_member_looks_dead_to_every_replica_while_another_asks(lake):
    """Replicas ask at the same moments (every 0.5 s round): one replica's question must not
    make a dead member look alive to another, or their assignments disagree for a round."""
    dead = Membership(lake, "r0")
    dead.join()
    dead.report([0])
    os.close(dead._fd)  # the kernel drops a dead process's lock; its files stay behind
    lock = dead.dir / "r0.lock"
    probe = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # another replica, mid-question
        assert not is_held(lock)
        assert read_members(lake) == []
        me = Membership(lake, "r1")
        me.join()
        assert me.live() == ["r1"]
        assert not lock.exists() and not (dead.dir / "r0.json").exists()
    finally:
        os.close(probe)
    assert is_held(me.dir / "r1.lock")
    me.leave()
    assert not is_held(me.dir / "r1.lock")  # gone, and not brought back by asking
    assert not (me.dir / "r1.lock").exists()
