"""Peak memory of the pipeline's processes, from Linux's own account (``VmHWM``: the most
resident memory the process ever had)."""

from pathlib import Path

from common.storage.lake import Lake


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set in MB; None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def services_peak_mb(data_dir: Path, services: tuple[str, ...]) -> dict[str, float | None]:
    """Each running service's peak resident set (pids from ``data/run/<name>.pid``)."""
    found: dict[str, float | None] = {}
    for name in services:
        try:
            pid = int(Lake(data_dir).pid_file(name).read_text())
        except (OSError, ValueError):
            found[name] = None
            continue
        found[name] = peak_rss_mb(pid)
    return found
