"""Headless Chromium (Debian's, driven by Playwright; its own browser download does not work
here) for the page tests, started with the flags that keep it off the network."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

from tests.support.waiting import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_pids(profile: Path) -> list[int]:
    """The processes whose command line names the profile directory: this test's Chromium."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(profile).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@contextmanager
def chromium(profile: Path, bypass_csp: bool = False) -> Iterator[BrowserContext]:
    """A browser context on a new profile, closed (every process of it) at the end.
    ``bypass_csp`` lets a test evaluate its probes (strings) in pages whose policy forbids
    that; the pages' own behaviour under their policy is test_pages_offline's."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1200, "height": 900},
            bypass_csp=bypass_csp,
        )
        try:
            yield context
        finally:
            context.close()
    wait_for(lambda: not chromium_pids(profile), 15, "Chromium to exit")
