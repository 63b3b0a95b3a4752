"""Child processes that do not outlive their parent, and what /proc says about a pid."""

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when its parent dies (Linux).

    The kernel sends the signal when the *thread* that forked the child ends, so start such
    children from a thread that lives as long as the parent (the main thread). If the parent
    died before the child could ask, the child kills itself at once. None elsewhere than Linux.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def _in_child() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return _in_child


def exit_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; a no-op elsewhere):
    what a worker process calls first, so that a ``kill -9`` of its service takes it along."""
    if not sys.platform.startswith("linux"):
        return
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() == 1:  # the parent died before we asked
        os.kill(os.getpid(), signal.SIGKILL)


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> list[str]:
    """The arguments ``pid`` runs with; empty when it is gone or cannot be read."""
    return _nul_separated(Path(f"/proc/{pid}/cmdline"))


def environment(pid: int) -> list[str]:
    """The ``NAME=value`` environment ``pid`` started with; empty when it cannot be read."""
    return _nul_separated(Path(f"/proc/{pid}/environ"))


def _nul_separated(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
