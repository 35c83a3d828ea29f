"""Start-up: how long a user waits before embaudit answers, in fresh processes.

Times (median of ``--repeat`` fresh interpreters, after one warm-up run so the files are
in the page cache), wall and CPU, for ``import embaudit``, ``embaudit --help``, an option error
(``--executor dsk``), and a claim check without a network, beside the alternative the
package had before its names loaded lazily: importing the pipeline at once (torch,
Lightning, statsmodels, the landscape). Targets (#27): help and an option error under
1 s, the import under 2 s (wall, on an idle machine; CPU time stands in for it when
other work shares the cores). Prints a table with each CPU time's ratio to the eager
import, and the load average.

    python benchmarks/startup.py              # 5 runs each (about a minute)
    python benchmarks/startup.py --repeat 9
    python benchmarks/startup.py --quick      # one run each (what the tests run)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TARGETS = {"import embaudit": 2.0, "embaudit --help": 1.0, "option error": 1.0}


def commands(rows: Path) -> dict[str, list[str]]:
    """What a user runs, as an interpreter's arguments."""
    cli = "from embaudit.cli import main; import sys; sys.argv = ['embaudit', *{}]; main()"
    return {
        "import embaudit": ["-c", "import embaudit"],
        "embaudit --help": ["-c", cli.format(["--help"])],
        "option error": ["-c", cli.format(["audit", "--data", "x.csv", "--target", "t",
                                            "--out", "o", "--executor", "dsk"])],
        "check without a network": ["-c", cli.format(["check", "--claim", "size:+", "--data",
                                                       str(rows), "--target", "life"])],
        "eager import (before)": ["-c", "import embaudit.pipeline, embaudit.claims, "
                                        "embaudit.landscape.study, embaudit.model"],
    }


def seconds(arguments: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``repeat`` fresh interpreters,
    after one warm-up. CPU time hardly changes when other work shares the cores; wall
    time is what a user waits on an idle machine."""
    walls, cpus = [], []
    for run in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, *arguments], capture_output=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if run:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run each (the tests)")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "rows.csv"
        rng = np.random.default_rng(0)
        size = rng.normal(size=300)
        pd.DataFrame({"size": size, "life": np.exp(size + rng.normal(size=300))}
                     ).to_csv(rows, index=False)
        measured = {name: seconds(arguments, args.repeat)
                    for name, arguments in commands(rows).items()}
    eager_cpu = measured["eager import (before)"][1]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'what':<26}{'wall s':>8}{'CPU s':>8}{'CPU ÷ eager':>13}{'target':>9}")
    for name, (wall, cpu) in measured.items():
        target = f"< {TARGETS[name]:g} s" if name in TARGETS else ""
        print(f"{name:<26}{wall:>8.2f}{cpu:>8.2f}{cpu / eager_cpu:>13.2f}{target:>9}")
    print(json.dumps({"load": os.getloadavg()[0],
                      **{name: {"wall_s": wall, "cpu_s": cpu}
                         for name, (wall, cpu) in measured.items()}}))


if __name__ == "__main__":
    main()
