"""Claims checked against an audit's holdout: false survivals and power, the ledger's way
(``check --audit``: online FDR over every claim) against each check on its own.

Every run audits a fresh global-null world (``global_null``: n = 1000, 12 attributes
without effect; the linear regime and raw screening, so the run is cheap: a claim
without an axis reads no network), then codes new attribute columns for its rows, as an
analyst would after exploring: 12 without effect, and 3 whose Spearman correlation
with lifespan is about ``--rho``. Each workflow gets its own copy of the audit, so its
own ledger. Prints one line per workflow (false survivals: the share of runs with any;
FDR: the mean false discovery proportion; power: the share of true claims surviving),
with 95% Wilson intervals, then one JSON object.

    python benchmarks/claims_ledger.py              # 200 runs (~1 h on 2 cores)
    python benchmarks/claims_ledger.py --runs 20    # a quick look
    python benchmarks/claims_ledger.py --quick      # one run: the output's contract
    python benchmarks/claims_ledger.py --rows runs.jsonl   # resumable: finished runs kept
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

OPTIONS = {"training": {"regimes": ["linear"]},
           "resampling": {"n_bootstrap": 2, "n_permutations": 1, "protest_permutations": 1},
           "statistics": {"n_resamples": 200, "n_holdout_permutations": 99}}
N_NULL, N_TRUE = 12, 3


def one_run(seed: int, rho: float) -> dict[str, float]:
    """Every workflow on one world; per workflow: false survivals and true ones."""
    import torch

    from embaudit.data.scenarios import scenario_world
    from embaudit.pipeline import audit

    torch.set_num_threads(1)
    world, _ = scenario_world("global_null", seed)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "audit"
        result = audit({**OPTIONS, "seed": seed, "out": str(base)}, table=world.table,
                       progress=False)
        coded = _coded_columns(world.table, rho, seed)
        copies = iter(range(10_000))

        def fresh() -> Path:
            folder = Path(scratch) / f"copy{next(copies)}"
            shutil.copytree(base, folder)
            return folder

        return _workflows(result, coded, fresh, np.random.default_rng(seed))


def _coded_columns(table, rho: float, seed: int) -> pd.DataFrame:
    """Null columns ``null0``…, and ``true0``… correlated about ``rho`` with lifespan."""
    rng = np.random.default_rng(10_000 + seed)
    y = (table.y - table.y.mean()) / table.y.std()
    weight = rho / np.sqrt(1 - rho**2)
    key = table.id or "row"  # the ledger joins by id, or by row position without one
    return pd.DataFrame({
        key: table.frame[key].to_numpy() if table.id else np.arange(table.n_rows),
        **{f"null{i}": rng.normal(size=table.n_rows) for i in range(N_NULL)},
        **{f"true{i}": weight * y + rng.normal(size=table.n_rows) for i in range(N_TRUE)},
    })


def _workflows(result, coded: pd.DataFrame, fresh, rng: np.random.Generator
               ) -> dict[str, float]:
    from embaudit.claims import check_against_audit, check_claims
    from embaudit.data.table import load_table

    nulls = [f"null{i}:+" for i in range(N_NULL)]
    trues = [f"true{i}:+" for i in range(N_TRUE)]
    out: dict[str, float] = {}

    def ledger(claims: list[str], one_at_a_time: bool = True) -> list[str]:
        folder = fresh()
        if one_at_a_time:
            return [check_against_audit(folder, [c], coded).verdicts[0].decision
                    for c in claims]
        return [v.decision for v in check_against_audit(folder, claims, coded).verdicts]

    def record(name: str, claims: list[str], decisions: list[str]) -> None:
        survived = [c for c, d in zip(claims, decisions, strict=True) if d == "survives"]
        false = sum(c.startswith("null") for c in survived)
        out[f"{name}:any_false"] = float(false > 0)
        out[f"{name}:fdp"] = false / max(len(survived), 1)
        true_total = sum(c.startswith("true") for c in claims)
        if true_total:
            out[f"{name}:power"] = sum(c.startswith("true") for c in survived) / true_total

    record("ledger, 12 null claims one at a time", nulls, ledger(nulls))
    record("ledger, 12 null claims in one call", nulls, ledger(nulls, one_at_a_time=False))
    first = ledger(nulls[:1])
    flip = first if first[0] == "survives" else first + ledger(["null0:-"])
    record("ledger, a:+ then a:- when it did not survive",
           ["null0:+", "null0:-"][: len(flip)], flip)
    holdout = _holdout_table(result, coded)
    per_call = [check_claims(holdout, [c], alpha=0.10).verdicts[0].verdict for c in nulls]
    record("each check its own BH family (before the ledger)", nulls, per_call)
    hidden = result.hypotheses[(result.hypotheses["regime"] == "raw")
                               & ~result.hypotheses["found"].astype(bool)]
    if len(hidden):
        best = hidden.sort_values("p_discovery").iloc[0]  # what a sealed report shows
        claim = f"{best['attribute']}:{best['direction']}"
        record("ledger, best not-found attribute of the sealed report", [f"null:{claim}"],
               ledger([claim]))
        peek = hidden.sort_values("p_holdout").iloc[0]  # only an unsealed report shows it
        claim = f"{peek['attribute']}:{peek['direction']}"
        record("ledger, best not-found holdout p of an unsealed report", [f"null:{claim}"],
               ledger([claim]))
    mixed = nulls[:N_NULL - N_TRUE] + trues
    orders = {"random order": list(rng.permutation(mixed)), "true claims first":
              trues + nulls[:N_NULL - N_TRUE], "true claims last": mixed}
    for label, claims in orders.items():  # one call: the same levels as one at a time
        record(f"ledger, 3 true among 12, {label}", claims,
               ledger(claims, one_at_a_time=False))
    family = check_claims(holdout, mixed, alpha=0.10)
    record("3 true among 12 in one BH family (no ledger)", mixed,
           [v.verdict for v in family.verdicts])
    same_rows = load_table(result.table.frame.iloc[np.sort(result.split.discovery)]
                           .reset_index(drop=True), target=result.table.target,
                           attributes=list(result.table.attributes), features=[],
                           id=result.table.id)
    strongest = result.hypotheses[result.hypotheses["regime"] == "raw"].sort_values(
        "p_association").iloc[0]
    claim = f"{strongest['attribute']}:{strongest['direction']}"
    record("strongest attribute, checked on the rows that suggested it (warned)",
           [f"null:{claim}"], [check_claims(same_rows, [claim]).verdicts[0].verdict])
    return out


def _holdout_table(result, coded: pd.DataFrame):
    from embaudit.data.table import load_table

    rows = np.sort(result.split.holdout)
    key = result.table.id or "row"
    frame = result.table.frame.iloc[rows].reset_index(drop=True)
    if result.table.id is None:
        frame = frame.assign(row=rows)
    frame = frame.merge(coded, on=key, how="left")
    columns = [c for c in coded.columns if c != key]
    return load_table(frame, target=result.table.target, attributes=columns, features=[],
                      id=result.table.id)


def _finished(path: Path | None, rho: float) -> list[dict[str, float]]:
    """Runs already recorded in ``path`` with the same ``rho``."""
    if path is None or not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("rho") == rho]


def _wilson(hits: float, n: int) -> tuple[float, float]:
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(round(hits), n, alpha=0.05, method="wilson")
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="one run (the JSON contract)")
    parser.add_argument("--rho", type=float, default=0.2,
                        help="Spearman correlation of the true coded columns with lifespan")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rows", type=Path, default=None,
                        help="JSON lines file of finished runs: appended as runs finish, "
                             "and the runs already in it are not run again (resume)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.workers = 1, 1
    start = time.perf_counter()
    rows = _finished(args.rows, args.rho)
    todo = [seed for seed in range(args.runs) if seed not in {r["seed"] for r in rows}]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = {pool.submit(one_run, seed, args.rho): seed for seed in todo}
        for i, future in enumerate(as_completed(futures), 1):
            row = {"seed": futures[future], "rho": args.rho, **future.result()}
            rows.append(row)
            if args.rows is not None:
                with open(args.rows, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            print(f"\r{i}/{len(todo)} runs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    frame = pd.DataFrame([r for r in rows if r["seed"] < args.runs]).drop(
        columns=["seed", "rho"])
    summary = []
    for workflow in dict.fromkeys(c.rsplit(":", 1)[0] for c in frame.columns):
        part = {m: frame[f"{workflow}:{m}"].dropna() for m in ("any_false", "fdp", "power")
                if f"{workflow}:{m}" in frame}
        n = len(part["any_false"])
        entry = {"workflow": workflow, "runs": n,
                 "any_false": float(part["any_false"].mean()),
                 "any_false_ci": _wilson(part["any_false"].sum(), n),
                 "fdr": float(part["fdp"].mean())}
        if "power" in part:
            entry["power"] = float(part["power"].mean())
        summary.append(entry)
        power = f", power {entry['power']:.3f}" if "power" in entry else ""
        low, high = entry["any_false_ci"]
        print(f"{workflow}: any false survival {entry['any_false']:.3f} ({low:.3f}-{high:.3f}),"
              f" FDR {entry['fdr']:.3f}{power} [{n} runs]")
    print(json.dumps({"runs": args.runs, "rho": args.rho, "workflows": summary,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
