"""Headless Chromium for the browser tests (Debian's package; .ci/run installs it)."""

from __future__ import annotations

import json
import re
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


#: collects JavaScript errors (scripts, captured image loads, console.error) in ``errors``
ERRORS = """var errors = [];
window.addEventListener("error", function (e) {  // scripts, and (captured) images
  errors.push(String(e.message || (e.target && e.target.outerHTML)).slice(0, 200));
}, true);
var consoleError = console.error;
console.error = function () {
  errors.push(Array.prototype.join.call(arguments, " "));
  consoleError.apply(console, arguments);
};
"""


def probe(html: str, script: str, folder: Path) -> dict:
    """Open ``html`` with ``script`` (run with :data:`ERRORS` before the page's own
    scripts; it stores a JSON object in the body's ``data-probe``) and return that."""
    probed = folder / "probed.html"
    probed.write_text(html.replace("</head>", f"<script>\n{ERRORS}{script}</script></head>",
                                   1), encoding="utf-8")
    dump = chromium(probed, folder / "profile", "--dump-dom")
    match = re.search(r'data-probe="([^"]*)"', dump.stdout)
    assert match, dump.stderr[-2000:]
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
