"""Headless Chromium for the browser tests (Debian's package; .ci/run installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(page: Path, profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` at 1280 px wide (fails the test without one)."""
    if BROWSER is None:
        pytest.fail("Chromium is needed for the browser test: apt-get install -y chromium "
                    "(.ci/run installs it when missing)")
    return subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1280,1800",
         "--virtual-time-budget=5000", *arguments, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
