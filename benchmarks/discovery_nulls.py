"""Which null should decide "found"? The candidates, side by side on the same audits.

Every world is audited once (the default regimes and raw screening, 19 permutation
networks); the hypotheses table carries each candidate's p-value, so the rules are
compared on identical networks:

* ``retrained``: the strength against networks retrained on permuted lifespans
  (``p_retrained`` ≤ alpha_discovery; what "found" meant before);
* ``carried``: the strength against the attribute permuted on the fixed network
  (``p_carried``), alone;
* ``screen``: carried and associated with lifespan in the claimed direction, both
  against the same attribute permutations (``p_discovery``; what "found" means now).

Prints, per scenario, regime and rule, the share of attributes without effect that are
found (the rule's error rate: it should be at most alpha_discovery) and the share of
planted attributes found with the right sign (its power); last line, one JSON object.

    python benchmarks/discovery_nulls.py               # 10 worlds per scenario (~15 min)
    python benchmarks/discovery_nulls.py --quick       # 2 worlds per scenario
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

SCENARIOS = ("global_null", "sparse", "spurious", "small_n")
OPTIONS = {"resampling": {"n_bootstrap": 2, "n_permutations": 19, "protest_permutations": 1},
           "statistics": {"n_resamples": 200}, "training": {"max_epochs": 150}}
ALPHA = 0.05


def audit_world(scenario: str, seed: int) -> pd.DataFrame:
    import torch

    from embaudit.data.scenarios import scenario_world
    from embaudit.pipeline import audit

    torch.set_num_threads(1)
    world, _ = scenario_world(scenario, seed)
    h = audit({**OPTIONS, "seed": seed}, table=world.table, truth=world.truth,
          progress=False).hypotheses
    h = h.assign(scenario=scenario, world=seed)
    right = (h["truth"] == "0") | (h["direction"] == h["truth"])
    rules = {
        "retrained": h["p_retrained"] <= ALPHA,
        "carried": h["p_carried"].fillna(h["p_association"]) <= ALPHA,
        "screen": h["found"],
    }
    return pd.concat([h[["scenario", "world", "regime", "attribute", "truth"]]
                      .assign(rule=name, found=hit & right) for name, hit in rules.items()],
                     ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 worlds per scenario")
    parser.add_argument("--worlds", type=int, default=None)
    args = parser.parse_args()
    n = args.worlds or (2 if args.quick else 10)
    jobs = [(s, seed) for s in SCENARIOS for seed in range(n)]
    start = time.perf_counter()
    with ProcessPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        rows = pd.concat(pool.map(audit_world, *zip(*jobs, strict=True)), ignore_index=True)
    rows["kind"] = (rows["truth"] == "0").map({True: "no effect", False: "planted"})
    table = (rows.groupby(["scenario", "kind", "rule", "regime"])["found"].mean()
             .unstack("regime").round(3))
    print(f"found rate by rule ({n} worlds per scenario, alpha_discovery = {ALPHA}); "
          "planted rows count only the right sign", file=sys.stdout)
    print(table.to_string())
    summary = {f"{s}|{k}|{r}": {reg: float(v) for reg, v in row.items()}
               for (s, k, r), row in table.iterrows()}
    print(json.dumps({"worlds": n, "alpha_discovery": ALPHA, "found_rate": summary,
                      "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
