"""How an audit's stages grow with the number of rows: time and peak memory per stage.

Audits the product-lifespan world at n = 10,000, 30,000 and 100,000 rows × 500
features, each in a process of its own (so each peak is its own), with a store and all
three reports. The config keeps the default statistics (2,000 bootstrap resamples, 999
screen permutations, 9,999 holdout permutations for max-T off: BH) and trains fewer,
shorter members than the default (overfit and linear regimes, 4 bootstrap and 9
permutation members, 5 epochs), so that the run fits in minutes: training time grows as
members × epochs × n, which the per-stage table lets one extrapolate; memory is what
this benchmark checks (the machine has 24 GiB).

Stages are timed by wrapping the audit's steps (exclusive times: a stage's time does
not include the stages it calls). Memory is the process's resident set, sampled every
20 ms; a stage's peak is the highest sample taken while it ran.

    python benchmarks/scale.py              # 10k, 30k, 100k (about 15 minutes on 2 cores)
    python benchmarks/scale.py --quick      # 2k and 6k (a minute)
    python benchmarks/scale.py --rows 30000 # one size, printed as JSON
    python benchmarks/scale.py --default-members  # 100k rows, the default 30 bootstrap
                                            # and 99 permutation members, overfit only,
                                            # one epoch: the memory of a default audit
    python benchmarks/scale.py --censored   # a censored claim check at 500 to 30,000
                                            # rows, and its concordance and Cox fit
                                            # beside scikit-survival's, statsmodels' and
                                            # the n × n count (a minute)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import embaudit
from embaudit.data.worlds import product_lifespan

audit_module = importlib.import_module("embaudit.pipeline")
PAGE = os.sysconf("SC_PAGE_SIZE")
CONFIG = {
    "seed": 0,
    "training": {"regimes": ["overfit", "linear"], "max_epochs": 5},
    "resampling": {"n_bootstrap": 4, "n_permutations": 9},
}


class StageMeter:
    """Exclusive wall time and peak resident memory per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.peak_mb: dict[str, float] = defaultdict(float)
        self.stack: list[str] = ["other"]
        self.started = time.perf_counter()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._record()

    def _record(self) -> None:
        with open("/proc/self/statm") as handle:
            resident = int(handle.read().split()[1]) * PAGE / 2**20
        stage = self.stack[-1]
        self.peak_mb[stage] = max(self.peak_mb[stage], resident)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        self.seconds[self.stack[-1]] += now - self.started
        self.stack.append(name)
        self.started = now
        self._record()  # a stage shorter than a sampling period still has its memory
        try:
            yield
        finally:
            now = time.perf_counter()
            self.seconds[self.stack.pop()] += now - self.started
            self.started = now

    def wrap(self, owner: Any, attribute: str, name: str | Callable[..., str]) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            with self.stage(label):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def stop(self) -> None:
        self._stop.set()
        self.seconds[self.stack[-1]] += time.perf_counter() - self.started


#: the default member counts (one network regime, one epoch): memory at full width
DEFAULT_MEMBERS = {"seed": 0, "training": {"regimes": ["overfit"], "max_epochs": 1}}


def instrument(meter: StageMeter) -> None:
    """Time the audit's steps with ``meter`` (for the rest of the process)."""
    pipeline = audit_module._Pipeline
    meter.wrap(pipeline, "__init__", "planning")
    meter.wrap(pipeline, "_fit", lambda self, regime, *a, **k: f"training {regime}")
    meter.wrap(audit_module, "embedding_evidence",
               lambda regime, *a, **k: f"alignment and discovery {regime}")
    meter.wrap(audit_module, "raw_evidence", "discovery raw")
    meter.wrap(pipeline, "_holdout_tests", "holdout tests")
    meter.wrap(pipeline, "_crossfit", "cross-fit replication")
    meter.wrap(pipeline, "_landscape", "landscape")
    meter.wrap(audit_module, "decide_panel", "verdicts and position")
    meter.wrap(audit_module, "open_audit", "store: open")
    meter.wrap(audit_module, "save_results", "store: results")
    meter.wrap(audit_module, "write_reports", "reports")


def measure(n: int, config: dict[str, Any] = CONFIG) -> dict[str, Any]:
    """One audit of n rows × 500 features, its stages timed and measured."""
    meter = StageMeter()
    with meter.stage("data"):
        world = product_lifespan(n=n, p=500, seed=0)
        table = world.table
        _ = table.X, table.y, table.attribute_matrix
    instrument(meter)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = embaudit.audit({**config, "out": out}, table=table, progress=False)
        total = time.perf_counter() - start
        store_mb = sum(f.stat().st_size for f in Path(out).rglob("*")
                       if f.is_file()) / 2**20
    meter.stop()
    return {"n": n, "p": 500, "total_s": round(total, 2), "store_mb": round(store_mb, 1),
            "position": result.position.position,
            "stages": {k: {"seconds": round(v, 2), "peak_mb": round(meter.peak_mb[k], 0)}
                       for k, v in meter.seconds.items()}}


def _grouped(stages: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Stages summed over regimes (``training overfit`` + ``training linear`` → training)."""
    out: dict[str, dict[str, float]] = {}
    for name, value in stages.items():
        key = name.rsplit(" ", 1)[0] if name.startswith(("training", "alignment")) else name
        entry = out.setdefault(key, {"seconds": 0.0, "peak_mb": 0.0})
        entry["seconds"] += value["seconds"]
        entry["peak_mb"] = max(entry["peak_mb"], value["peak_mb"])
    return out


def _censored_table(n: int, seed: int = 0) -> tuple[embaudit.Table, np.ndarray, ...]:
    """n products, about 60 % still in service, size lengthening life (HR 0.8 per SD)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    size, weight = rng.normal(size=n), rng.normal(size=n)
    latent = rng.exponential(np.exp(0.22 * size))
    censor = rng.exponential(0.8, n)
    frame = pd.DataFrame({"size": size, "weight": weight, "days": np.minimum(latent, censor),
                          "failed": (latent <= censor).astype(int)})
    table = embaudit.load_table(frame, target="days", event="failed",
                                attributes=["size", "weight"], features=["size", "weight"])
    return table, size, frame["days"].to_numpy(), (latent <= censor)


def _seconds(work: Callable[[], object], repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def censored_checks() -> dict[str, Any]:
    """A censored ``check`` (2,000 resamples configured) at growing n, and its two costly
    parts beside the alternatives, side by side in this process."""
    from sksurv.metrics import concordance_index_censored
    from statsmodels.duration.hazard_regression import PHReg

    from embaudit.claims.check import check_claims
    from embaudit.hypotheses.concordance import concordance_test
    from embaudit.hypotheses.cox import fit_cox

    out: dict[str, Any] = {"check_s": {}, "concordance": {}, "cox": {}}
    for n in (500, 2_000, 30_000):
        table, size, days, failed = _censored_table(n)
        check_s = _seconds(lambda t=table: check_claims(t, ["size:+", "weight:-"],
                                                        n_resamples=2_000))
        verdict = check_claims(table, ["size:+"], n_resamples=2_000).verdicts[0]
        out["check_s"][n] = check_s
        print(f"check of 2 claims, n = {n:>6,} ({1 - failed.mean():.0%} censored): "
              f"{check_s:6.2f} s; size: {verdict.verdict}, D = {verdict.effect:+.3f}",
              flush=True)
        ours = _seconds(lambda s=size, d=days, f=failed: concordance_test(s, d, f), 3)
        sksurv = _seconds(lambda s=size, d=days, f=failed: concordance_index_censored(
            f, d, -s), 1 if n > 5_000 else 3)
        row = {"embaudit_s": ours, "scikit_survival_s": sksurv}
        if n <= 2_000:  # the n × n count the previous version did once per resample
            def quadratic(s: np.ndarray = size, d: np.ndarray = days,
                          f: np.ndarray = failed) -> float:
                pairs = ((d[:, None] > d[None, :]) | ((d[:, None] == d[None, :])
                                                      & ~f[:, None])) & f[None, :]
                return float((pairs * np.sign(s[:, None] - s[None, :])).sum() / pairs.sum())
            row["n_by_n_s"] = _seconds(quadratic, 3)
        out["concordance"][n] = row
        design = np.column_stack([size, table.attribute_matrix[:, 1]])
        scaled = (design - design.mean(0)) / design.std(0)
        ours_cox = _seconds(lambda x=design, d=days, f=failed: fit_cox(x, d, f), 3)
        statsmodels_cox = _seconds(lambda x=scaled, d=days, f=failed: PHReg(
            d, x, status=f.astype(float), ties="efron").fit(disp=False, groups=np.arange(
                len(d))), 1)
        out["cox"][n] = {"embaudit_s": ours_cox, "statsmodels_s": statsmodels_cox}
        print(f"  concordance + error {ours * 1e3:8.1f} ms; scikit-survival's C "
              f"{sksurv * 1e3:8.1f} ms ({sksurv / ours:5.1f}×)"
              + (f"; n × n count {row['n_by_n_s'] * 1e3:7.1f} ms "
                 f"({row['n_by_n_s'] / ours:5.1f}×, once per resample before)"
                 if "n_by_n_s" in row else ""), flush=True)
        print(f"  Cox fit with robust errors {ours_cox * 1e3:8.1f} ms; statsmodels' PHReg "
              f"{statsmodels_cox * 1e3:8.1f} ms ({statsmodels_cox / ours_cox:5.1f}×)",
              flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k and 6k rows")
    parser.add_argument("--rows", type=int, help="measure one size here, print its JSON")
    parser.add_argument("--default-members", action="store_true",
                        help="100k rows with the default members (overfit, one epoch)")
    parser.add_argument("--censored", action="store_true",
                        help="a censored claim check at 500 to 30,000 rows")
    args = parser.parse_args()
    if args.censored:
        print(json.dumps(censored_checks()))
        return
    if args.rows or args.default_members:
        run = measure(args.rows or 100_000, DEFAULT_MEMBERS if args.default_members
                      else CONFIG)
        run["peak_mb"] = max(s["peak_mb"] for s in run["stages"].values())
        print(json.dumps(run))
        return
    sizes = (2_000, 6_000) if args.quick else (10_000, 30_000, 100_000)
    runs = []
    for n in sizes:
        done = subprocess.run([sys.executable, __file__, "--rows", str(n)], check=True,
                              capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"n = {n:>7,}: {runs[-1]['total_s']:8.1f} s, store {runs[-1]['store_mb']} MB",
              flush=True)
    grouped = [_grouped(r["stages"]) for r in runs]
    names = list(dict.fromkeys(k for g in grouped for k in g))
    print(f"\n{'stage':<28}" + "".join(f"{f'{n:,} rows':>22}" for n in sizes) +
          f"{'growth':>10}")
    growth = {}
    for name in names:
        seconds = np.array([g.get(name, {}).get("seconds", np.nan) for g in grouped])
        peaks = [g.get(name, {}).get("peak_mb", np.nan) for g in grouped]
        usable = seconds > 0.05
        growth[name] = float(np.polyfit(np.log(np.array(sizes)[usable]),
                                        np.log(seconds[usable]), 1)[0]) \
            if usable.sum() >= 2 else None
        cells = "".join(f"{s:>10.2f} s {m:>7.0f} MB" for s, m in zip(seconds, peaks,
                                                                     strict=True))
        shown = "" if growth[name] is None else f"n^{growth[name]:.2f}"
        print(f"{name:<28}{cells}{shown:>10}")
    print(json.dumps({"runs": runs, "growth_exponent": growth,
                      "peak_mb": max(max(s["peak_mb"] for s in r["stages"].values())
                                     for r in runs),
                      "config": CONFIG}))


if __name__ == "__main__":
    main()
