"""Calibration of the verdicts on worlds with planted truth (see embaudit.calibration).

Scenarios: global null; sparse true effects (n = 2000); spurious attributes strongly
encoded in the features; small n = 300 with p = 500; heavy-tailed lifespans; correlated
attributes. Every world is audited as a user would; naive screening (correlations on
the training rows of the overfit embedding, no holdout) reads the same worlds.

Prints, per scenario, the empirical FDR of ``survives`` with its Monte-Carlo upper
bound, the naive FDR and power by effect size; then the KS test of holdout p-values
under the global null; last line, one JSON object.

    python benchmarks/calibration.py            # 100 worlds per scenario (about 1 h on 2 cores)
    python benchmarks/calibration.py --quick    # 4 worlds per scenario (a minute or two)
    python benchmarks/calibration.py --worlds 20 --scenarios sparse,global_null
    python benchmarks/calibration.py --worlds-for spurious=800   # a tighter bound there

Where the true FDR sits near its theoretical q · m0/m (Benjamini–Hochberg), 100 worlds
bound it only to about ±0.035; ``--worlds-for`` narrows one scenario's interval.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from embaudit.calibration import run_calibration, summarize
from embaudit.data.scenarios import SCENARIOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 worlds per scenario")
    parser.add_argument("--worlds", type=int, default=None, help="worlds per scenario")
    parser.add_argument("--worlds-for", action="append", default=[], metavar="NAME=N",
                        help="worlds for one scenario (repeatable)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated scenario names")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    parser.add_argument("--rows", default=None, help="also write the per-attribute rows here "
                                                     "(CSV)")
    args = parser.parse_args()
    n_worlds = args.worlds or (4 if args.quick else 100)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    counts = dict.fromkeys(scenarios, n_worlds)
    for item in args.worlds_for:
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 2:
            parser.error(f"--worlds-for {item!r}: use NAME=N with N >= 2")
        counts[name] = int(value)
    unknown = [s for s in counts if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    scenarios = list(counts)

    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} worlds audited", end="", file=sys.stderr, flush=True)

    rows = run_calibration(scenarios, counts, args.workers, progress)
    print(file=sys.stderr)
    if args.rows:
        rows.to_csv(args.rows, index=False)
    summary = summarize(rows)
    summary["seconds"] = round(time.perf_counter() - start, 1)

    print(f"Calibration: nominal q = {summary['nominal_q']}")
    print(f"{'scenario':<14}{'worlds':>7}{'FDR':>7}{'upper':>8}{'naive FDR':>11}  "
          "power by |rho|")
    for s in scenarios:
        power = ", ".join(f"{k}: {v:.2f}" for k, v in summary["power"][s].items()) or "-"
        print(f"{s:<14}{counts[s]:>7}{summary['fdr'][s]:>7.3f}{summary['fdr_upper'][s]:>8.3f}"
              f"{summary['naive_fdr'][s]:>11.3f}  {power}")
    if summary.get("ks_p_null") is not None:
        print(f"KS test of holdout p-values under the global null: p = {summary['ks_p_null']:.3f}")
    if summary.get("power_rho_ge_0.2_n2000") is not None:
        print(f"power at |rho| >= 0.2, n = 2000: {summary['power_rho_ge_0.2_n2000']:.3f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
