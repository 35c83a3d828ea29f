"""The report of a wide audit: its size, how long it takes to write and to rebuild from
the store, and how long headless Chromium takes to load it, side by side in one process.

Workload: 600 rows, 20 features and 200 numeric attributes (10 of them acting on
lifespan), the linear regime with raw screening. Chromium's load time is read from the
page's own navigation timing (load event end), best of three fresh profiles.

    python benchmarks/report_load.py           # 200 attributes
    python benchmarks/report_load.py --quick   # 20 attributes
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import embaudit
from embaudit.outputs import rebuild_reports

PROBE = """<script>
window.addEventListener("load", function () {
  setTimeout(function () {
    var t = performance.getEntriesByType("navigation")[0];
    document.body.setAttribute("data-load-ms", String(t.loadEventEnd));
  }, 0);
});
</script>"""


def wide_audit(out: Path, n_attributes: int) -> float:
    """Audit the wide workload into ``out``; seconds spent."""
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"f{j:02d}" for j in range(20)])
    attributes = pd.DataFrame(rng.normal(size=(n, n_attributes)),
                              columns=[f"attribute_{j:03d}" for j in range(n_attributes)])
    frame = pd.concat([frame, attributes], axis=1)
    frame["lifespan"] = np.exp(attributes.iloc[:, :10].sum(axis=1) * 0.3 + rng.normal(size=n))
    table = embaudit.load_table(frame, target="lifespan", attributes=list(attributes),
                                features=["f*"])
    start = time.perf_counter()
    embaudit.audit({"out": str(out), "training": {"regimes": ["linear"]},
                    "resampling": {"n_bootstrap": 4, "n_permutations": 9}}, table=table,
                   progress=False)
    return time.perf_counter() - start


def chromium_load_ms(page: Path) -> float:
    """Milliseconds to the load event of ``page`` in headless Chromium (best of 3)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium: apt-get install -y chromium")
    probed = page.with_name("probed.html")
    probed.write_text(page.read_text(encoding="utf-8").replace("</head>", PROBE + "</head>", 1),
                      encoding="utf-8")
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as profile:
            done = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}", "--window-size=1280,1800",
                 "--dump-dom", probed.as_uri()],
                capture_output=True, text=True, timeout=120, check=True)
        times.append(float(re.search(r'data-load-ms="([0-9.]+)"', done.stdout).group(1)))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 attributes")
    args = parser.parse_args()
    n_attributes = 20 if args.quick else 200
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        audit_seconds = wide_audit(out, n_attributes)
        start = time.perf_counter()
        rebuild_reports(out)
        rebuild_seconds = time.perf_counter() - start
        size_mb = (out / "report.html").stat().st_size / 2**20
        load_ms = chromium_load_ms(out / "report.html")
    print(f"{'measure':<44}{'value':>10}")
    print(f"{'attributes':<44}{n_attributes:>10}")
    print(f"{'whole audit, seconds':<44}{audit_seconds:>10.1f}")
    print(f"{'reports rebuilt from the store, seconds':<44}{rebuild_seconds:>10.1f}")
    print(f"{'report.html, MB':<44}{size_mb:>10.2f}")
    print(f"{'Chromium load event, ms':<44}{load_ms:>10.0f}")
    print(json.dumps({"attributes": n_attributes, "audit_seconds": audit_seconds,
                      "rebuild_seconds": rebuild_seconds, "html_mb": size_mb,
                      "chromium_load_ms": load_ms}))


if __name__ == "__main__":
    main()
