"""Calibration on worlds with planted truth: do the verdicts keep their error rates?

Each world of a scenario (:mod:`embaudit.data.scenarios`) is audited as a user would
(overfit regime, bootstrap and permutation networks, holdout tests) and read twice:

* ``survives``: embaudit's verdict; false when the attribute has no effect or the
  claimed sign is wrong. Its false discovery proportion per world averages to the FDR.
* naive screening: what an analyst does without a holdout — correlations on the
  training rows of the overfit embedding, tested against lifespans permuted on those
  same rows (the network is not retrained, so it still "knows" the real ones), with
  Benjamini–Hochberg at the same level.

Power is the share of planted attributes that survive with the right sign, by
population effect size; under the global null the holdout p-values should be uniform.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from embaudit.data.scenarios import SCENARIOS, scenario_world
from embaudit.hypotheses.discovery import axis_correlations, best_candidates, live_axes
from embaudit.hypotheses.resampled import permutation_p_values, permutation_strengths

#: the audit each world gets: small resampling counts keep 600 worlds affordable
AUDIT_OPTIONS: dict[str, Any] = {
    "training": {"regimes": ["overfit"], "max_epochs": 150},
    "discovery": {"raw_screening": False},
    "resampling": {"n_bootstrap": 10, "n_permutations": 19, "protest_permutations": 1},
    "statistics": {"n_resamples": 200, "n_holdout_permutations": 99},
}
EFFECT_BINS = (0.05, 0.15, 0.25, 0.35, 1.0)
NAIVE_PERMUTATIONS = 999


def audit_world(scenario: str, seed: int, options: dict[str, Any] | None = None
                ) -> pd.DataFrame:
    """Audit one world; one row per attribute with its truth and both readings."""
    from embaudit.audit import audit

    world, rho = scenario_world(scenario, seed)
    config = {**(options or AUDIT_OPTIONS), "seed": seed}
    result = audit(config, table=world.table)
    hypotheses = result.hypotheses
    hypotheses = hypotheses[hypotheses["regime"] == "overfit"].set_index("attribute")
    naive = naive_screening(result.embeddings["overfit"], world.table.attribute_matrix,
                            world.table.y, result.split.discovery,
                            alpha=result.config.statistics.alpha, seed=seed)
    names = [c.name for c in world.table.attribute_columns]
    frame = pd.DataFrame({
        "scenario": scenario, "world": seed, "attribute": names,
        "rho": [rho[a] for a in names],
        "truth": [world.truth[a] for a in names],
        "direction": hypotheses["direction"].reindex(names).to_numpy(),
        "survives": (hypotheses["verdict"].reindex(names) == "survives").to_numpy(),
        "p_holdout": hypotheses["p_holdout"].reindex(names).to_numpy(),
        "naive_found": naive[0],
        "naive_direction": naive[1],
    })
    return frame


def naive_screening(embedding: np.ndarray, attributes: np.ndarray, lifespan: np.ndarray,
                    rows: np.ndarray, alpha: float, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Found (BH q ≤ alpha) and claimed direction per attribute, read on training rows."""
    E, A, y = embedding[rows].astype(np.float64), attributes[rows], lifespan[rows]
    live = live_axes(E)
    found = best_candidates(axis_correlations(E, A, y, live=live))
    null = permutation_strengths(E, A, y, NAIVE_PERMUTATIONS, seed, live)
    p = permutation_p_values(found.strength, null)
    significant = multipletests(p, alpha=alpha, method="fdr_bh")[0] & (found.direction != 0)
    return significant, np.where(found.direction > 0, "+", "-")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # one process per core beats two threads in one process


def run_calibration(
    scenarios: Sequence[str] = tuple(SCENARIOS),
    n_worlds: int | Mapping[str, int] = 100,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Audit ``n_worlds`` worlds (per scenario, or one count for all) of each scenario,
    seeds 0…n-1, in parallel."""
    counts = {s: n_worlds[s] if isinstance(n_worlds, Mapping) else n_worlds
              for s in scenarios}
    jobs = [(s, seed) for s in scenarios for seed in range(counts[s])]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    frames = []
    with ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
        for done, frame in enumerate(pool.map(audit_world, *zip(*jobs, strict=True)), 1):
            frames.append(frame)
            if progress is not None:
                progress(done, len(jobs))
    return pd.concat(frames, ignore_index=True)


def summarize(rows: pd.DataFrame, q: float = 0.10) -> dict[str, Any]:
    """FDR with a Monte-Carlo upper bound, power by effect size, naive FDR, KS p."""
    rows = rows.assign(
        false=rows["survives"] & ((rows["truth"] == "0") | (rows["truth"] != rows["direction"])),
        naive_false=rows["naive_found"] & ((rows["truth"] == "0")
                                           | (rows["truth"] != rows["naive_direction"])),
    )
    out: dict[str, Any] = {"fdr": {}, "fdr_upper": {}, "naive_fdr": {}, "power": {},
                           "worlds": {}}
    for scenario, group in rows.groupby("scenario", sort=False):
        per_world = group.groupby("world")
        fdp = per_world["false"].sum() / per_world["survives"].sum().clip(lower=1)
        naive = per_world["naive_false"].sum() / per_world["naive_found"].sum().clip(lower=1)
        out["fdr"][scenario] = float(fdp.mean())
        out["fdr_upper"][scenario] = monte_carlo_upper(fdp.to_numpy())
        out["naive_fdr"][scenario] = float(naive.mean())
        out["power"][scenario] = power_by_effect(group)
        out["worlds"][scenario] = int(per_world.ngroups)
    if "sparse" in out["power"]:
        sparse = rows[(rows["scenario"] == "sparse") & (rows["rho"].abs() >= 0.2)]
        out["power_rho_ge_0.2_n2000"] = float(_hits(sparse).mean()) if len(sparse) else None
    null = rows.loc[rows["scenario"] == "global_null", "p_holdout"].dropna()
    out["ks_p_null"] = float(stats.kstest(null, "uniform").pvalue) if len(null) else None
    out["fdr_upper_max"] = max(out["fdr_upper"].values()) if out["fdr_upper"] else None
    out["nominal_q"] = q
    return out


def monte_carlo_upper(values: np.ndarray, confidence: float = 0.95) -> float:
    """Upper end of a two-sided interval of the mean of per-world proportions (Student
    t); when every world gave 0, the exact binomial bound 1 - (1 - c)^(1/W) of the
    share of worlds with any false discovery, which bounds the FDR."""
    n = len(values)
    if n == 0:
        return float("nan")
    if np.all(values == 0):
        return float(1 - ((1 - confidence) / 2) ** (1 / n))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(min(values.mean() + half, 1.0))


def _hits(group: pd.DataFrame) -> pd.Series:
    return group["survives"] & (group["direction"] == group["truth"])


def power_by_effect(group: pd.DataFrame) -> dict[str, float]:
    """Share of planted attributes surviving with the right sign, by population |rho|."""
    planted = group[group["truth"] != "0"]
    bins = pd.cut(planted["rho"].abs(), EFFECT_BINS, right=False)
    hits = _hits(planted).groupby(bins, observed=True).mean()
    return {f"{b.left:.2f}-{b.right:.2f}": float(v) for b, v in hits.items()}
