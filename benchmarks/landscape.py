"""Loss-landscape diagnostics, timed side by side in one process.

(a) Sharpness of 64 members of the reference workload W1 (n = 2000, p = 500,
    500 → 64 → 16 → 1 ReLU, overfit, trained first and not timed): λ_max and λ_min by
    20 Lanczos steps at the trained and at the canonical point, and the Hutch++ trace
    (30 products), with every member in the same Hessian-vector products; against the
    same Lanczos run one member at a time (what a per-network tool such as PyHessian
    does), timed on a few members and scaled to 64.
(b) The optimizer study on the demo world (``embaudit.worlds.product_lifespan``, seed
    0, the default regimes): an audit with ``landscape.optimizers = ["sgd", "lbfgs"]``,
    all of it timed (training of every regime, the retrained minima, the landscape).

Prints a table, then one JSON object as the last line.

    python benchmarks/landscape.py           # W1 and the demo study (several minutes)
    python benchmarks/landscape.py --quick   # a small workload (under a minute)
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


def trained_members(n: int, p: int, n_members: int, epochs: int):
    """``n_members`` overfit members of a world of n × p, with their loss function."""
    world = product_lifespan(n=n, p=p, seed=1)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, n, "overfit", n_bootstrap=n_members - 1, n_permutations=1,
                           root_seed=2)[:n_members]
    fit = fit_ensemble(world.table.X, world.table.y, members, rows=split.discovery,
                       regime="overfit", training=TrainingConfig(max_epochs=epochs),
                       network=NetworkConfig())
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


def optimizer_study(n: int, p: int, quick: bool) -> dict[str, object]:
    """Seconds for a whole audit of the demo world with the optimizer study on."""
    world = product_lifespan(n=n, p=p, seed=0)
    config: dict[str, object] = {"seed": 0, "landscape": {"enabled": True,
                                                          "optimizers": ["sgd", "lbfgs"]}}
    if quick:
        config.update(resampling={"n_bootstrap": 4, "n_permutations": 19},
                      training={"regimes": ["overfit", "regularized"], "max_epochs": 30},
                      landscape={"enabled": True, "optimizers": ["sgd", "lbfgs"],
                                 "members": 4, "path_steps": 10})
    start = time.perf_counter()
    result = embaudit.audit(config, table=world.table, truth=world.truth)
    seconds = time.perf_counter() - start
    landscape = result.landscape
    columns = ["regime", "optimizer", "train_loss", "holdout_loss", "lambda_max_canonical",
               "barrier_to_reference", "replication_rate"]
    return {"seconds": seconds, "headline": landscape.headline(),
            "comparison": landscape.optimizers[columns].round(4).to_dict(orient="records")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small workload")
    args = parser.parse_args()
    if args.quick:
        curvature = sharpness(400, 50, 8, 20, 2)
        study = optimizer_study(400, 40, quick=True)
    else:
        curvature = sharpness(2000, 500, 64, 50, 4)
        study = optimizer_study(2000, 500, quick=False)
    print(f"{'measure':<52}{'seconds':>10}")
    print(f"{'λ_max, λ_min (trained + canonical), batched':<52}"
          f"{curvature['lambda_seconds']:>10.1f}")
    print(f"{'Hutch++ trace (30 products), batched':<52}{curvature['trace_seconds']:>10.1f}")
    print(f"{'λ_max, λ_min one member at a time (scaled)':<52}"
          f"{curvature['one_by_one_seconds']:>10.1f}")
    print(f"{'optimizer study, whole demo audit':<52}{study['seconds']:>10.1f}")
    print(study["headline"])
    for row in study["comparison"]:
        print(row)
    print(json.dumps({"workload": "quick" if args.quick else "W1 + demo",
                      "machine": platform.machine(), "threads": torch.get_num_threads(),
                      "sharpness": curvature, "optimizer_study": study}))


if __name__ == "__main__":
    main()
