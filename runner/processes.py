"""The runner's children: started so that they die with it, and cleared when a runner that was
killed left some behind."""

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common.errors import ProcessError
from common.runtime.processes import command_line, die_with_parent, environment, is_running

log = logging.getLogger("runner")

# Set in every child's environment: the run directory (data/run) of the runner that started it.
RUN_DIR_VARIABLE = "LAMBDA_RUN_DIR"
CLEAR_TIMEOUT_S = 5.0


def spawn(
    command: Sequence[str], run_dir: Path, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start a child of the runner.

    It gets a session of its own (the runner signals its whole process group), is killed by
    the kernel when the runner dies (``die_with_parent``: call this from the runner's main
    thread), and carries ``LAMBDA_RUN_DIR`` so that a later runner can tell it from anyone
    else's process.
    """
    environ = {**(os.environ if env is None else env), RUN_DIR_VARIABLE: str(run_dir.resolve())}
    return subprocess.Popen(
        list(command),
        env=environ,
        start_new_session=True,
        preexec_fn=die_with_parent(),  # noqa: PLW1509 (one prctl call, no locks taken)
        **popen,
    )


def clear_leftovers(run_dir: Path, commands: Mapping[str, Sequence[str]]) -> list[str]:
    """Kill what an earlier runner of this run directory left running; remove stale pid files.

    For each ``<name>.pid`` in ``run_dir`` with ``name`` in ``commands``: when its pid is alive,
    runs ``commands[name]`` (consecutive arguments, the program by its file name) and was
    started for ``run_dir``, its process group is killed with SIGKILL (every service recovers
    from a kill -9) and one line is logged. A pid that has ended, runs something else or
    belongs to another data directory is left alone. Every such pid file is removed.
    Returns the names cleared, in the order of ``commands``.
    """
    cleared = []
    for name, command in commands.items():
        pid_file = run_dir / f"{name}.pid"
        if not pid_file.exists():
            continue
        pid = _read_pid(pid_file)
        if pid is not None and _is_ours(pid, run_dir, command):
            _kill_group(pid, name)
            log.warning(
                "cleared a leftover of an earlier run: %s (pid %d, its process group)", name, pid
            )
            cleared.append(name)
        else:
            log.info("removed the stale pid file %s", pid_file)
        pid_file.unlink(missing_ok=True)
    return cleared


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, run_dir: Path, command: Sequence[str]) -> bool:
    marker = f"{RUN_DIR_VARIABLE}={run_dir.resolve()}"
    return is_running(pid) and _runs(command_line(pid), command) and marker in environment(pid)


def _runs(argv: list[str], command: Sequence[str]) -> bool:
    """Whether ``argv`` holds ``command`` as consecutive words (its program by file name)."""
    if not argv:
        return False
    words, wanted = [Path(argv[0]).name, *argv[1:]], list(command)
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


def _kill_group(pid: int, name: str) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + CLEAR_TIMEOUT_S
    while is_running(pid):
        if time.monotonic() > deadline:
            raise ProcessError(f"{name} (pid {pid}), left by an earlier run, does not die")
        time.sleep(0.05)
