"""Calibration of the verdicts on worlds with planted truth (see embaudit.calibration).

Scenarios: global null; sparse true effects (n = 2000); spurious attributes strongly
encoded in the features; small n = 300 with p = 500; heavy-tailed lifespans; correlated
attributes; 30% and 70% of lifespans censored; informative censoring (by a covariate
that also shortens lifespans, given to the audit). Every world is audited as a user would;
naive screening (correlations on the training rows of the overfit embedding, no holdout)
reads the same worlds, and a censored world is also audited the two naive ways (its
censored rows dropped; censoring times taken for lifespans) as regimes of their own.

Prints, per regime and scenario and for both verdict designs (screen and clean, the
one embaudit uses; testing every candidate), the empirical FDR of ``survives`` with its
Monte-Carlo upper bound and the power at |rho| >= 0.2; the found rate of attributes
with no effect; naive screening as the pseudo-regime ``naive``; the KS test of holdout
p-values under the global null; per regime and scenario the share of worlds whose
readings give Person A, B or undecided, beside the camp the truth supports; last line,
one JSON object.

    python benchmarks/calibration.py            # 100 worlds per scenario (about 3 h on 2 cores)
    python benchmarks/calibration.py --quick    # 1 world per scenario, trained less (CI)
    python benchmarks/calibration.py --worlds 20 --scenarios sparse,global_null
    python benchmarks/calibration.py --worlds-for spurious=800   # a tighter bound there
    python benchmarks/calibration.py --positions  # Person A vs B: 20 worlds of its scenarios

``--positions`` audits the scenarios whose truth decides the camp (features_only and
global_null: B; leads and sparse: A; and memorised) with ``POSITION_OPTIONS``: overfit,
regularized and linear, 10 bootstrap and 19 permutation networks each.

Where the true FDR sits near its theoretical q · m0/m (Benjamini–Hochberg), 100 worlds
bound it only to about ±0.035; ``--worlds-for`` narrows one scenario's interval.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

from embaudit.calibration import (
    AUDIT_OPTIONS,
    DESIGNS,
    POSITION_OPTIONS,
    POSITION_TRUTH,
    QUICK_OPTIONS,
    run_calibration,
    summarize,
)
from embaudit.data.scenarios import SCENARIOS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 world per scenario, trained and resampled less")
    parser.add_argument("--worlds", type=int, default=None, help="worlds per scenario")
    parser.add_argument("--worlds-for", action="append", default=[], metavar="NAME=N",
                        help="worlds for one scenario (repeatable)")
    parser.add_argument("--scenarios", default=None,
                        help="comma-separated scenario names (default: every one; with "
                             "--positions, those whose truth decides the camp)")
    parser.add_argument("--positions", action="store_true",
                        help="Person A vs B: 20 worlds of each position scenario, audited "
                             "with POSITION_OPTIONS")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    parser.add_argument("--rows", default=None, help="also write the per-attribute rows here "
                                                     "(CSV)")
    args = parser.parse_args()
    n_worlds = args.worlds or (1 if args.quick else 20 if args.positions else 100)
    default = [*POSITION_TRUTH, "memorised"] if args.positions else list(SCENARIOS)
    scenarios = [s.strip() for s in (args.scenarios or ",".join(default)).split(",")
                 if s.strip()]
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

    options = POSITION_OPTIONS if args.positions else AUDIT_OPTIONS
    if args.quick:
        options = {**options, "training": {**options["training"],
                                           "max_epochs": QUICK_OPTIONS["training"]["max_epochs"]}}
    rows = run_calibration(scenarios, counts, args.workers, progress, options)
    print(file=sys.stderr)
    if args.rows:
        rows.to_csv(args.rows, index=False)
    summary = summarize(rows)
    summary["seconds"] = round(time.perf_counter() - start, 1)
    table = pd.DataFrame(summary["records"])

    print(f"Calibration: nominal q = {summary['nominal_q']}, alpha_discovery = "
          f"{summary['alpha_discovery']}; worlds per scenario: {counts}")
    for design in DESIGNS:
        part = table[table["design"] == design]
        print(f"\n{design}: FDR (Monte-Carlo 95% upper bound), power at |rho| >= 0.2, "
              "found rate of attributes without effect")
        print(_pivot(part, "fdr", "fdr_upper"))
        print(part.pivot(index="regime", columns="scenario", values="power")
              .round(2).to_string())
        if design == DESIGNS[0]:
            print(part.pivot(index="regime", columns="scenario", values="null_found_rate")
                  .round(3).to_string())
    if summary.get("ks_p_null") is not None:
        print(f"\nKS test of holdout p-values under the global null: p = "
              f"{summary['ks_p_null']:.3f}")
    positions = pd.DataFrame(summary["positions"])
    if not positions.empty:
        print("\nPerson A vs B: share of worlds per position (Wilson 95% interval); truth: "
              "the camp the scenario's truth supports")
        positions = positions.assign(**{label: [
            f"{v:.2f} ({lo:.2f}-{hi:.2f})" for v, lo, hi in zip(
                positions[label], positions[f"{label}_low"], positions[f"{label}_high"],
                strict=True)] for label in ("A", "B", "undecided")})
        print(positions[["scenario", "regime", "truth", "worlds", "A", "B", "undecided",
                         "advantage_median"]].to_string(index=False))
    summary["options"] = options
    print(json.dumps(summary))


def _pivot(part: pd.DataFrame, value: str, upper: str) -> str:
    cells = part.assign(cell=[f"{v:.3f} ({u:.3f})" for v, u in zip(part[value], part[upper],
                                                                    strict=True)])
    return cells.pivot(index="regime", columns="scenario", values="cell").to_string()


if __name__ == "__main__":
    main()
