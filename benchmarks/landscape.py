"""Loss-landscape diagnostics, timed side by side in one process.

(a) Sharpness of 64 members of the reference workload W1 (n = 2000, p = 500,
    500 → 64 → 16 → 1 ReLU, overfit, trained first and not timed): λ_max and λ_min by
    20 Lanczos steps at the trained and at the canonical point, and the Hutch++ trace
    (30 products), with every member in the same Hessian-vector products; against the
    same Lanczos run one member at a time (what a per-network tool such as PyHessian
    does), timed on a few members and scaled to 64.
(b) The optimizer study as the loss-landscape paper (arXiv 2602.21276) ran it, on a
    teacher-student toy whose answer is known and on the demo world: SGD against
    quasi-Newton (L-BFGS with a golden-section line search) from the same seeds on the
    same rows, allowed to fit (overfit) and stopped early (matched on validation loss),
    and every comparison the paper makes (barriers, isolation, depth, generalization,
    spread) beside the paper's direction. Each study is one whole audit, timed.

Prints a table, then one JSON object as the last line.

    python benchmarks/landscape.py              # W1, the toy and the demo study
    python benchmarks/landscape.py --study-only # the toy and the demo study
    python benchmarks/landscape.py --quick      # small workloads (under a minute)
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import embaudit
from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.data.worlds import product_lifespan
from embaudit.landscape.curvature import hutchpp_trace, lanczos_extremes
from embaudit.landscape.functional import CommonScale, canonicalize, fold_members, member_losses
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob


def trained_members(n: int, p: int, n_members: int, epochs: int):
    """``n_members`` overfit members of a world of n × p, with their loss function."""
    world = product_lifespan(n=n, p=p, seed=1)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, n, "overfit", n_bootstrap=n_members - 1, n_permutations=1,
                           root_seed=2)[:n_members]
    fit = fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                   regime="overfit", training=TrainingConfig(max_epochs=epochs),
                                   network=NetworkConfig()), members)
    scale = CommonScale.from_rows(world.table.X, world.table.y, split.discovery)
    layout, flat = fold_members(fit.state, scale)
    rows = split.discovery
    x, y = scale.inputs(world.table.X)[rows], scale.target(world.table.y)[rows]
    weights = torch.as_tensor(np.stack([m.train_weights for m in members])[:, rows],
                              dtype=torch.float32)

    def loss_of(part: slice):
        return lambda theta: member_losses(layout, theta, x, y, weights[part])

    return layout, flat, loss_of


def sharpness(n: int, p: int, n_members: int, epochs: int, n_alone: int) -> dict[str, float]:
    """Seconds for the batched curvature of ``n_members`` and for members one by one."""
    layout, flat, loss_of = trained_members(n, p, n_members, epochs)
    everyone = slice(0, n_members)
    start = time.perf_counter()
    lanczos_extremes(loss_of(everyone), flat, 20)
    lanczos_extremes(loss_of(everyone), canonicalize(layout, flat), 20)
    lambda_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hutchpp_trace(loss_of(everyone), canonicalize(layout, flat), 30)
    trace_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for b in range(n_alone):
        one = slice(b, b + 1)
        lanczos_extremes(loss_of(one), flat[one], 20)
        lanczos_extremes(loss_of(one), canonicalize(layout, flat[one]), 20)
    alone_seconds = (time.perf_counter() - start) / n_alone * n_members
    return {"members": n_members, "lambda_seconds": lambda_seconds,
            "trace_seconds": trace_seconds, "one_by_one_seconds": alone_seconds,
            "speedup_vs_one_by_one": alone_seconds / lambda_seconds}


#: the paper's comparisons (arXiv 2602.21276): (regime, measure, table, column, the
#: direction it reports for quasi-Newton against SGD, what it says)
PAPER = (
    ("early_stopping", "barrier", "pairs", "excess_barrier", "higher",
     "SGD solutions are separated by lower barriers, even when both stop early"),
    ("overfit", "barrier", "pairs", "excess_barrier", "higher",
     "SGD solutions are separated by lower barriers"),
    ("overfit", "climb from each end", "pairs", "climb", "higher",
     "quasi-Newton minima are more isolated"),
    ("overfit", "depth (training loss as trained)", "members", "train_loss_trained", "lower",
     "allowed to fit extensively, quasi-Newton reaches deeper minima"),
    ("overfit", "generalization (holdout loss)", "members", "holdout_loss", "higher",
     "quasi-Newton's deeper minima generalize worse"),
    ("overfit", "spread in parameter space", "pairs", "distance", "higher",
     "quasi-Newton minima are more spread out"),
    ("early_stopping", "spread in parameter space", "pairs", "distance", "higher",
     "quasi-Newton minima are more spread out"),
)


def toy_table(n: int = 400, seed: int = 0):
    """A teacher-student toy whose answer is known: lifespan is exp of a fixed random
    ReLU network (8 inputs → 6 → 1) plus noise; two attributes ride along."""
    import pandas as pd

    from embaudit.data.table import load_table

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    w1, w2 = rng.normal(size=(8, 6)) / np.sqrt(8), rng.normal(size=6) / np.sqrt(6)
    teacher = np.maximum(x @ w1, 0) @ w2
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(8)])
    frame["lifespan"] = np.exp(teacher + 0.1 * rng.normal(size=n))
    frame["a1"], frame["a2"] = x[:, 0] + rng.normal(size=n), rng.normal(size=n)
    return load_table(frame, target="lifespan", attributes=["a1", "a2"],
                      features=[f"x{j}" for j in range(8)])


def _per_point(frame, column: str, table: str) -> np.ndarray:
    """One value per point: a members column as it is; a pairs column averaged over the
    pairs each point is in (pairs share their ends, points are the units resampled)."""
    if table == "members":
        return frame[column].dropna().to_numpy(float)
    import pandas as pd

    long = pd.concat([frame[["member_a", column]].rename(columns={"member_a": "point"}),
                      frame[["member_b", column]].rename(columns={"member_b": "point"})])
    return long.groupby("point")[column].mean().dropna().to_numpy(float)


def _paired(values: dict[str, np.ndarray], rng: np.random.Generator
            ) -> tuple[float, float, float]:
    """Mean of quasi-Newton minus SGD with a bootstrap interval (each side's points
    resampled)."""
    sgd, qn = values["sgd"], values["lbfgs"]
    draws = [qn[rng.integers(0, len(qn), len(qn))].mean()
             - sgd[rng.integers(0, len(sgd), len(sgd))].mean() for _ in range(2000)]
    return float(qn.mean() - sgd.mean()), *np.quantile(draws, [0.025, 0.975])


def paper_comparisons(landscape, problem: str) -> list[dict[str, object]]:
    """Every comparison of the paper, with its direction and whether this run agrees."""
    rng = np.random.default_rng(0)
    pairs = landscape.pairs.assign(
        climb=lambda f: (f["barrier_a"] + f["barrier_b"]) / 2) if len(landscape.pairs) \
        else landscape.pairs
    tables = {"pairs": pairs, "members": landscape.members}
    rows = []
    for regime, measure, table, column, direction, claim in PAPER:
        frame = tables[table]
        part = frame[frame["regime"] == regime] if len(frame) else frame
        values = {o: _per_point(part[part["optimizer"] == o], column, table)
                  for o in ("sgd", "lbfgs")} if len(part) else {}
        row = {"problem": problem, "regime": regime, "measure": measure, "paper": claim,
               "paper_direction": f"quasi-Newton {direction}"}
        if not values or min(len(v) for v in values.values()) < 2:
            rows.append({**row, "agrees": "not measured"})
            continue
        difference, low, high = _paired(values, rng)
        found = "higher" if low > 0 else "lower" if high < 0 else None
        rows.append({**row, "sgd": float(values["sgd"].mean()),
                     "lbfgs": float(values["lbfgs"].mean()), "difference": difference,
                     "ci_low": float(low), "ci_high": float(high),
                     "agrees": "undecided" if found is None else
                     "yes" if found == direction else "no (opposite)"})
    return rows


def optimizer_study(table, problem: str, members: int, quick: bool) -> dict[str, object]:
    """The paper's study on ``table``: SGD (momentum 0.9, learning rate 0.01) against
    quasi-Newton (L-BFGS, golden-section line search), ``members`` seeds each, overfit
    and early stopping (matched on validation loss; paths between the stopped points,
    which are not minima, as in the paper). Timed as one whole audit."""
    config: dict[str, object] = {
        "seed": 0,
        "training": {"regimes": ["overfit", "early_stopping"], "optimizer": "sgd",
                     "learning_rate": 0.01, "lbfgs_line_search": "golden_section",
                     **({"max_epochs": 40} if quick else {})},
        "resampling": {"n_bootstrap": 4, "n_permutations": 19},
        "landscape": {"enabled": True, "optimizers": ["lbfgs"], "members": members,
                      "measure_stopped": True, **({"path_steps": 10} if quick else {})}}
    start = time.perf_counter()
    result = embaudit.audit(config, table=table, progress=False)
    seconds = time.perf_counter() - start
    landscape = result.landscape
    members_table = landscape.members.groupby(["regime", "optimizer"]).agg(
        points=("member_id", "size"), minima=("status", lambda s: int((s == "minimum").sum())),
        depth_trained=("train_loss_trained", "mean"), depth=("train_loss", "mean"),
        holdout=("holdout_loss", "mean"), gradient_trained=("gradient_norm_trained", "max"))
    return {"problem": problem, "seconds": seconds, "headline": landscape.headline(),
            "paragraphs": landscape.paragraphs(),
            "groups": members_table.reset_index().round(5).to_dict(orient="records"),
            "comparisons": paper_comparisons(landscape, problem)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small workload")
    parser.add_argument("--study-only", action="store_true",
                        help="the optimizer study only (no sharpness timing)")
    args = parser.parse_args()
    curvature = None
    if not args.study_only:
        curvature = sharpness(400, 50, 8, 20, 2) if args.quick else \
            sharpness(2000, 500, 64, 50, 4)
    studies = [optimizer_study(toy_table(), "toy (teacher-student)", 4 if args.quick else 10,
                               args.quick)]
    if not args.quick:
        demo = product_lifespan(n=2000, p=500, seed=0).table
        studies.append(optimizer_study(demo, "demo world", 10, quick=False))
    if curvature is not None:
        print(f"{'measure':<52}{'seconds':>10}")
        print(f"{'λ_max, λ_min (trained + canonical), batched':<52}"
              f"{curvature['lambda_seconds']:>10.1f}")
        print(f"{'Hutch++ trace (30 products), batched':<52}"
              f"{curvature['trace_seconds']:>10.1f}")
        print(f"{'λ_max, λ_min one member at a time (scaled)':<52}"
              f"{curvature['one_by_one_seconds']:>10.1f}")
    for study in studies:
        print(f"\n{study['problem']}: optimizer study {study['seconds']:.1f} s")
        for group in study["groups"]:
            print(group)
        for row in study["comparisons"]:
            interval = (f"{row['difference']:+.4g} [{row['ci_low']:+.4g}, {row['ci_high']:+.4g}]"
                        if "difference" in row else "-")
            print(f"  {row['regime']:<15}{row['measure']:<36}{row['paper_direction']:<24}"
                  f"{interval:<36}{row['agrees']}")
    print(json.dumps({"workload": "quick" if args.quick else "W1 + toy + demo",
                      "machine": platform.machine(), "threads": torch.get_num_threads(),
                      "sharpness": curvature, "optimizer_studies": studies}, default=str))


if __name__ == "__main__":
    main()
