"""Advisory file locks: one archiver, speed layer and batch run at a time per data directory, one
writer per speed partition, and the probe that tells a live lock holder from a dead one."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common.errors import LakeError


@contextmanager
def exclusive(path: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; without ``wait``, fail if someone else holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise LakeError(f"another {what} is already running on {path.parent}") from exc
        yield
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path``, or None when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_held(path: Path) -> bool:
    """Whether a live process holds the exclusive lock on ``path`` (a member's lock file).

    Asked with a *shared* lock, which conflicts with the holder's exclusive lock and with
    nothing else: two processes asking at once both see a dead member as dead. (Probing with
    the exclusive lock itself made a dead member look alive to anyone who asked while another
    held the probe.) The file is never created here, so a probe cannot bring back a file its
    owner or a cleaner just removed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
