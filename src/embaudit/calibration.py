"""Calibration on worlds with planted truth: do the verdicts keep their error rates?

Each world of a scenario (:mod:`embaudit.data.scenarios`) is audited as a user would,
every regime at once (bootstrap and permutation networks, discovery screen, holdout
tests), and read per regime:

* ``survives`` as embaudit decides it (screen and clean: found on the discovery rows,
  then q ≤ α over the found ones); false when the attribute has no effect or the
  claimed sign is wrong. Its false discovery proportion per world averages to the FDR;
* the alternative design that tests every candidate (q ≤ α over all of them, found
  reported beside), computed from the same audit for comparison;
* how often attributes with no effect are *found* (the screen's error rate);
* naive screening: what an analyst does without a holdout — correlations on the
  training rows of the overfit embedding, tested against lifespans permuted on those
  same rows (the network is not retrained, so it still "knows" the real ones), with
  Benjamini–Hochberg at the same level (pseudo-regime ``naive``);
* censored worlds: the same audit with the event column, beside the two naive ways of
  auditing censored lifespans, each reported as regimes of its own: dropping the
  censored rows (``overfit (drop censored)``, ...) and taking censoring times for
  lifespans (``overfit (times as lifespans)``, ...).

Power is the share of planted attributes that survive with the right sign, by
population effect size; under the global null the holdout p-values should be uniform.

The position (Person A vs B) is read from each regime's row of the panel: the share of
worlds in which each regime's readings give A, B or undecided (:func:`position_rates`).
It needs resampled networks, so its scenarios are audited with :data:`POSITION_OPTIONS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from threadpoolctl import threadpool_limits

from embaudit.core.regimes import LEAD_REGIME, RAW, REGIMES
from embaudit.data.scenarios import SCENARIOS, scenario_world
from embaudit.data.table import Table, load_table
from embaudit.hypotheses.discovery import axis_correlations, best_candidates, live_axes
from embaudit.hypotheses.multiplicity import adjust
from embaudit.hypotheses.resampled import permutation_p_values, permutation_strengths
from embaudit.pipeline import audit
from embaudit.results import AuditResult

#: the audit each world gets: every regime, trained as by default but with the fewest
#: resampled networks, which neither ``found`` (the reference network's screen) nor
#: ``survives`` (found, then the holdout) reads; the position, which does, is calibrated
#: with :data:`POSITION_OPTIONS`
AUDIT_OPTIONS: dict[str, Any] = {
    "training": {"regimes": [r for r, spec in REGIMES.items() if spec.has_embedding],
                 "max_epochs": 150},
    "discovery": {"raw_screening": True},
    "resampling": {"n_bootstrap": 2, "n_permutations": 1, "protest_permutations": 1},
    "statistics": {"n_resamples": 200, "n_holdout_permutations": 99},
    # worlds run one per core already: each trains in its own process
    "execution": {"n_workers": 1},
}
#: ``--quick`` (the run in CI): the same audit, trained and resampled far less
QUICK_OPTIONS: dict[str, Any] = {
    **AUDIT_OPTIONS,
    "training": {**AUDIT_OPTIONS["training"], "max_epochs": 40},
}
#: the audit of the position's worlds: the regimes an analyst weighs (overfit, and
#: optimising for validation loss) and the linear baseline, with enough resampled
#: networks for the readings' mean effect (the position reads every one of them)
POSITION_OPTIONS: dict[str, Any] = {
    "training": {"regimes": ["overfit", "regularized", "linear"], "max_epochs": 150},
    "discovery": {"raw_screening": True},
    "resampling": {"n_bootstrap": 10, "n_permutations": 19, "protest_permutations": 1},
    "statistics": {"n_resamples": 500, "n_holdout_permutations": 99},
    "execution": {"n_workers": 1},
}
#: scenarios whose truth says which camp is right: B where no attribute acts on lifespan
#: (it may depend on the features, or on nothing), A where three or more do (|rho| ≥ 0.2)
POSITION_TRUTH = {"features_only": "B", "global_null": "B", "leads": "A", "sparse": "A"}
#: the columns of the regime panel each row of the calibration carries
_PANEL = ("position", "advantage", "advantage_low", "advantage_high", "read_effect",
          "null_effect", "n_read", "n_direct_leads", "axes_generalized", "comparable")
EFFECT_BINS = (0.05, 0.15, 0.25, 0.35, 1.0)
NAIVE_PERMUTATIONS = 999
DESIGNS = ("screen_and_clean", "test_every_candidate")


def audit_world(scenario: str, seed: int, options: dict[str, Any] | None = None
                ) -> pd.DataFrame:
    """Audit one world; one row per regime and attribute with its truth and readings.

    A censored world is also audited the two naive ways, each as regimes of its own
    (``overfit (drop censored)``, ``overfit (times as lifespans)``, ...)."""
    world, rho = scenario_world(scenario, seed)
    config = {**(options or AUDIT_OPTIONS), "seed": seed}
    result = audit(config, table=world.table, progress=False)
    alpha = result.config.statistics.alpha
    names = [c.name for c in world.table.attribute_columns]
    frames = [_readings(result, names)]
    for label, table in _naive_censoring(world.table).items():
        frames.append(_readings(audit(config, table=table, progress=False), names, f" ({label})"))
    if LEAD_REGIME in result.embeddings:
        found, direction = naive_screening(
            result.embeddings[LEAD_REGIME], world.table.attribute_matrix, world.table.y,
            result.split.discovery, alpha=alpha, seed=seed)
        frames.append(pd.DataFrame({"regime": "naive", "attribute": names,
                                    "direction": direction, "found": found, "survives": found,
                                    "p_holdout": np.nan}))
    frame = pd.concat(frames, ignore_index=True)
    frame.insert(0, "world", seed)
    frame.insert(0, "scenario", scenario)
    frame["rho"] = frame["attribute"].map(rho)
    frame["truth"] = frame["attribute"].map(world.truth)
    frame["role"] = frame["attribute"].map(world.roles)
    return frame


def _readings(result: AuditResult, names: list[str], suffix: str = "") -> pd.DataFrame:
    """Per regime and attribute: direction, found, survives, the holdout p, and the
    regime's panel row (its position and the numbers behind it)."""
    frames = []
    panel = result.regimes.set_index("regime")
    for regime, h in result.hypotheses.groupby("regime", sort=False):
        h = h.set_index("attribute").reindex(names)
        frames.append(pd.DataFrame({
            "regime": f"{regime}{suffix}", "attribute": names,
            "direction": h["direction"].to_numpy(),
            "found": h["found"].fillna(False).astype(bool).to_numpy(),
            "survives": (h["verdict"] == "survives").to_numpy(),
            "p_holdout": h["p_holdout"].to_numpy(),
            **{column: panel.loc[regime, column] for column in _PANEL},
        }))
    return pd.concat(frames, ignore_index=True)


def _naive_censoring(table: Table) -> dict[str, Table]:
    """The two naive ways to audit censored lifespans (none without censoring): drop the
    censored rows, or take censoring times for lifespans."""
    if table.events is None:
        return {}
    roles = {"target": table.target, "features": list(table.features),
             "attributes": list(table.attributes), "covariates": list(table.covariates),
             "target_transform": table.target_transform}
    return {"drop censored": load_table(table.frame[table.events > 0], **roles),
            "times as lifespans": load_table(table.frame, **roles)}


def naive_screening(embedding: np.ndarray, attributes: np.ndarray, lifespan: np.ndarray,
                    rows: np.ndarray, alpha: float, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Found (BH q ≤ alpha) and claimed direction per attribute, read on training rows."""
    E, A, y = embedding[rows].astype(np.float64), attributes[rows], lifespan[rows]
    live = live_axes(E)
    found = best_candidates(axis_correlations(E, A, y, live=live))
    null = permutation_strengths(E, A, y, NAIVE_PERMUTATIONS, seed, live)
    p = permutation_p_values(found.strength, null)
    significant = (adjust(p, "fdr_bh", alpha) <= alpha) & (found.direction != 0)
    return significant, np.where(found.direction > 0, "+", "-")


def _worker_init() -> None:
    """One thread per worker process, for torch and for numpy's BLAS alike: a BLAS pool
    per process on top of the processes oversubscribes the cores (up to 8× slower)."""
    torch.set_num_threads(1)  # one process per core beats two threads in one process
    threadpool_limits(1)


def run_calibration(
    scenarios: Sequence[str] = tuple(SCENARIOS),
    n_worlds: int | Mapping[str, int] = 100,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Audit ``n_worlds`` worlds (per scenario, or one count for all) of each scenario,
    seeds 0…n-1, in parallel, each with ``options`` (default :data:`AUDIT_OPTIONS`)."""
    counts = {s: n_worlds[s] if isinstance(n_worlds, Mapping) else n_worlds
              for s in scenarios}
    jobs = [(s, seed) for s in scenarios for seed in range(counts[s])]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    frames = []
    with ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
        scenarios_, seeds = zip(*jobs, strict=True)
        for done, frame in enumerate(pool.map(audit_world, scenarios_, seeds,
                                              [options] * len(jobs)), 1):
            frames.append(frame)
            if progress is not None:
                progress(done, len(jobs))
    return pd.concat(frames, ignore_index=True)


def with_designs(rows: pd.DataFrame, q: float = 0.10) -> pd.DataFrame:
    """``rows`` with each design's survivors: ``survives`` as audited (screen and clean)
    and ``survives_all``, BH at ``q`` over every candidate of a world's regime."""
    rows = rows.copy()
    rows["survives_all"] = rows["survives"]
    tested = rows["regime"] != "naive"
    for _, index in rows[tested].groupby(["scenario", "world", "regime"]).groups.items():
        p = rows.loc[index, "p_holdout"].to_numpy(dtype=float)
        finite = np.isfinite(p)
        hits = np.zeros(len(p), bool)
        if finite.any():
            hits[finite] = adjust(p[finite], "fdr_bh", q) <= q
        rows.loc[index, "survives_all"] = hits
    return rows


def summarize(rows: pd.DataFrame, q: float = 0.10, alpha_discovery: float = 0.05
              ) -> dict[str, Any]:
    """Per scenario, regime and design: FDR with a Monte-Carlo upper bound, power, and
    the found rate of attributes without effect; the KS p of holdout p under the null."""
    rows = with_designs(rows, q)
    null = rows["truth"] == "0"
    records = []
    for (scenario, regime), group in rows.groupby(["scenario", "regime"], sort=False):
        worlds = group.groupby("world")
        for design, column in zip(DESIGNS, ("survives", "survives_all"), strict=True):
            if regime == "naive" and design != DESIGNS[0]:
                continue
            false = group[column] & ((group["truth"] == "0")
                                     | (group["truth"] != group["direction"]))
            fdp = false.groupby(group["world"]).sum() / worlds[column].sum().clip(lower=1)
            planted = group[group["truth"] != "0"]
            strong = planted[planted["rho"].abs() >= 0.2]
            records.append({
                "scenario": scenario, "regime": regime, "design": design,
                "worlds": int(worlds.ngroups), "fdr": float(fdp.mean()),
                "fdr_upper": monte_carlo_upper(fdp.to_numpy()),
                "power": float(_hits(strong, column).mean()) if len(strong) else None,
                "power_by_effect": power_by_effect(planted, column),
                "null_found_rate": float(group.loc[null[group.index], "found"].mean())
                if null[group.index].any() else None,
                "noise_found_rate": _rate(group.loc[group["role"] == "noise", "found"]),
            })
    frame = pd.DataFrame(records)
    audited = frame[frame["regime"] != "naive"]
    out: dict[str, Any] = {"nominal_q": q, "alpha_discovery": alpha_discovery,
                           "records": records}
    for design in DESIGNS:
        part = audited[audited["design"] == design]
        out[f"fdr_upper_max_{design}"] = float(part["fdr_upper"].max()) if len(part) else None
    sparse = audited[(audited["scenario"] == "sparse")
                     & (audited["design"] == DESIGNS[0])]
    out["power_rho_ge_0.2_n2000"] = {r: p for r, p in zip(sparse["regime"], sparse["power"],
                                                          strict=True)}
    out["null_found_rate_max"] = float(audited["null_found_rate"].max()) \
        if audited["null_found_rate"].notna().any() else None
    holdout = rows[(rows["scenario"] == "global_null") & (rows["regime"] == RAW)]
    p = holdout["p_holdout"].dropna()
    out["ks_p_null"] = float(stats.kstest(p, "uniform").pvalue) if len(p) else None
    out["positions"] = position_rates(rows).to_dict(orient="records")
    return out


def position_rates(rows: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and regime: worlds, and the share of them in which the regime's
    readings give A, B or undecided (with Wilson 95% intervals), beside the camp the
    scenario's truth supports (:data:`POSITION_TRUTH`)."""
    worlds = rows[rows["position"].notna()].drop_duplicates(["scenario", "world", "regime"])
    records = []
    for (scenario, regime), group in worlds.groupby(["scenario", "regime"], sort=False):
        record: dict[str, Any] = {"scenario": scenario, "regime": regime,
                                  "truth": POSITION_TRUTH.get(str(scenario), ""),
                                  "worlds": len(group)}
        for label in ("A", "B", "undecided"):
            hits = int((group["position"] == label).sum())
            low, high = proportion_confint(hits, len(group), method="wilson")
            record.update({label: hits / len(group), f"{label}_low": float(low),
                           f"{label}_high": float(high)})
        median = float(group["advantage"].median())
        record["advantage_median"] = median if np.isfinite(median) else None
        records.append(record)
    return pd.DataFrame(records)


def _rate(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def monte_carlo_upper(values: np.ndarray, confidence: float = 0.95) -> float:
    """Upper end of a two-sided interval of the mean of per-world proportions (Student
    t); when every world gave 0, the exact binomial bound 1 - (1 - c)^(1/W) of the
    share of worlds with any false discovery, which bounds the FDR."""
    n = len(values)
    if n == 0:
        return float("nan")
    if np.all(values == 0):
        return float(1 - ((1 - confidence) / 2) ** (1 / n))
    if n == 1:
        return 1.0
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(min(values.mean() + half, 1.0))


def _hits(group: pd.DataFrame, column: str = "survives") -> pd.Series:
    return group[column] & (group["direction"] == group["truth"])


def power_by_effect(planted: pd.DataFrame, column: str = "survives") -> dict[str, float]:
    """Share of planted attributes surviving with the right sign, by population |rho|."""
    bins = pd.cut(planted["rho"].abs(), EFFECT_BINS, right=False)
    hits = _hits(planted, column).groupby(bins, observed=True).mean()
    return {f"{b.left:.2f}-{b.right:.2f}": float(v) for b, v in hits.items()}
