"""Issue 16: under `make run`, `ss -ltnp` showed the metrics ports on 0.0.0.0. Every listening
socket of every process of a running pipeline (the broker, each service, their workers) is on
LAMBDA_BIND_HOST, 127.0.0.1 by default: read from the kernel's tables (/proc/net/tcp and
tcp6) for the sockets those processes hold, as `ss -ltnp` does."""

import ipaddress
import os
import socket
import struct
from pathlib import Path

import pytest
from stacks import LocalPipeline

pytestmark = pytest.mark.integration

LISTEN = "0A"


def descendants(root: int) -> set[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def socket_inodes(pids: set[int]) -> dict[str, int]:
    """The socket inodes the processes hold, each with one process holding it."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    return inodes


def address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1]), int(port, 16)
    words = struct.unpack("<4I", raw)
    host6 = ipaddress.IPv6Address(struct.pack(">4I", *words))
    # An IPv4 address on an IPv6 socket (Java's, e.g. Spark's driver) is that IPv4 address.
    mapped = host6.ipv4_mapped
    return str(mapped) if mapped is not None else str(host6), int(port, 16)


def listeners(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket of the processes."""
    inodes = socket_inodes(pids)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                found.append((*address(fields[1]), inodes[fields[9]]))
    return found


def test_every_listener_of_the_pipeline_is_on_loopback(pipeline):
    if not isinstance(pipeline, LocalPipeline):
        pytest.skip("the Compose stack's listeners are Docker's published ports")
    env = pipeline.env()
    found = listeners(descendants(pipeline.runner_pid))
    ports = {port for _, port, _ in found}
    expected = {
        int(env["LAMBDA_INGEST_PORT"]),
        int(env["LAMBDA_SERVING_PORT"]),
        int(env["LAMBDA_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1]),
        int(env["LAMBDA_ARCHIVER_METRICS_PORT"]),
        int(env["LAMBDA_SPEED_METRICS_PORT"]),
        int(env["LAMBDA_SCHEDULER_METRICS_PORT"]),
    }
    assert expected <= ports, (sorted(expected - ports), found)
    for host, port, pid in found:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200]
        assert host == "127.0.0.1", f"{command!r} listens on {host}:{port}"
