"""Verdicts per hypothesis, replication per regime, and the Person A vs B position.

* ``survives``: holdout q ≤ α in the claimed direction and bootstrap sign consistency
  ≥ τ;
* ``fails``: the holdout effect's 95% interval lies wholly below the discovered
  strength (which includes a significant effect in the opposite direction);
* ``inconclusive`` otherwise, with the holdout size that the configured power needs.

A regime's hypotheses are *found* when their discovery p (permutation null with
retraining) is ≤ ``alpha_discovery``; a found hypothesis *replicates* when its one-sided
holdout p ≤ α. The *null rate* is the replication rate of the candidates read off the
permutation members: under that null a candidate's replication does not depend on its
discovery strength, so all M·q of them estimate it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from embaudit.config import StatisticsConfig
from embaudit.data.table import AttributeColumn
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import (
    HoldoutAssociation,
    adjust,
    max_t_p_values,
    permutation_p_values,
    required_holdout_size,
    sign_consistency,
)
from embaudit.results import HYPOTHESIS_COLUMNS, REGIME_COLUMNS, Position


def verdicts(
    q: np.ndarray, consistency: np.ndarray, ci_high: np.ndarray, strength: np.ndarray,
    alpha: float, tau: float,
) -> np.ndarray:
    """The verdict rule, vectorized."""
    survives = (q <= alpha) & (consistency >= tau)
    fails = ~survives & (ci_high < strength)
    return np.where(survives, "survives", np.where(fails, "fails", "inconclusive"))


def assess_regime(
    evidence: RegimeEvidence,
    holdout: HoldoutAssociation,
    columns: Sequence[AttributeColumn],
    config: StatisticsConfig,
) -> tuple[pd.DataFrame, dict[str, object], float]:
    """Hypotheses table, the regime's replication summary, and its smallest max-T p."""
    c = evidence.candidates
    p_discovery = permutation_p_values(c.strength, evidence.null_strength)
    p_max_t = max_t_p_values(c.strength, evidence.null_strength)
    p_holdout = holdout.p_value(c.direction)
    q_holdout = adjust(p_holdout, config.correction, config.alpha)
    ci_low, ci_high = holdout.interval(c.direction)
    consistency = sign_consistency(evidence.bootstrap_direction, c.direction)
    embedding = c.axis >= 0
    selection = np.where(embedding, (evidence.bootstrap_axis == c.axis[None, :]).mean(axis=0),
                         np.nan)
    verdict = verdicts(q_holdout, consistency, ci_high, c.strength, config.alpha,
                       config.sign_consistency)
    n_required = required_holdout_size(c.strength, config.alpha / len(columns), config.power)
    frame = pd.DataFrame({
        "regime": evidence.regime,
        "attribute": [col.name for col in columns],
        "source_attribute": [col.attribute for col in columns],
        "kind": [col.kind for col in columns],
        "axis": pd.array(np.where(embedding, c.axis, 0), dtype="Int64"),
        "direction": np.where(c.direction > 0, "+", "-"),
        "strength": c.strength,
        "r_axis_attribute": c.r_axis_attribute,
        "r_axis_lifespan": c.r_axis_lifespan,
        "p_discovery": p_discovery,
        "p_discovery_maxt": p_max_t,
        "found": p_discovery <= config.alpha_discovery,
        "effect_holdout": holdout.effect(c.direction),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_holdout": p_holdout,
        "q_holdout": q_holdout,
        "r_axis_attribute_holdout": _or_nan(evidence.holdout_axis_attribute, len(columns)),
        "r_axis_lifespan_holdout": _or_nan(evidence.holdout_axis_lifespan, len(columns)),
        "p_embedding": _or_nan(evidence.p_embedding, len(columns)),
        "sign_consistency": consistency,
        "selection_frequency": selection,
        "n_holdout": holdout.n,
        "n_required": pd.array(np.where(verdict == "inconclusive", n_required, 0),
                               dtype="Int64"),
        "verdict": verdict,
    })
    frame.loc[~embedding, "axis"] = pd.NA
    frame.loc[verdict != "inconclusive", "n_required"] = pd.NA
    null_replicated = holdout.p_value(evidence.null_direction) <= config.alpha
    summary = replication_summary(
        evidence.regime,
        found=frame["found"].to_numpy(),
        replicated=p_holdout <= config.alpha,
        null_replicated=null_replicated,
        n_survives=int((verdict == "survives").sum()),
    )
    return frame[list(HYPOTHESIS_COLUMNS)], summary, float(p_max_t.min())


def _or_nan(values: np.ndarray | None, size: int) -> np.ndarray:
    return np.full(size, np.nan) if values is None else values


def replication_summary(
    regime: str,
    found: np.ndarray,
    replicated: np.ndarray,
    null_replicated: np.ndarray,
    n_survives: int,
) -> dict[str, object]:
    """Replication rate of the found hypotheses against the permutation null rate."""
    n, k = int(found.sum()), int((found & replicated).sum())
    null_n, null_k = int(null_replicated.size), int(null_replicated.sum())
    null_rate = null_k / null_n if null_n else float("nan")
    low, high = proportion_confint(k, n, method="wilson") if n else (np.nan, np.nan)
    p = binomtest(k, n, min(max(null_rate, 1e-9), 1.0), alternative="greater").pvalue if (
        n and null_n) else float("nan")
    row = {
        "regime": regime,
        "n_candidates": int(found.size),
        "n_hypotheses": n,
        "n_replicated": k,
        "replication_rate": k / n if n else float("nan"),
        "replication_ci_low": float(low),
        "replication_ci_high": float(high),
        "null_rate": null_rate,
        "null_n": null_n,
        "p_vs_null": float(p),
        "n_survives": n_survives,
    }
    return {key: row[key] for key in REGIME_COLUMNS}


def decide_position(
    row: dict[str, object], min_max_t_p: float, n_permutations: int, n_holdout: int,
    config: StatisticsConfig, others: Sequence[dict[str, object]] = (),
) -> Position:
    """Which camp the overfit regime's evidence supports, in words that quote numbers.

    A: its found hypotheses replicate more often than the null rate (exact binomial
    test at ``position_alpha``). B: nothing was found; or no trend beats the
    permutation null family-wise (max-T) and the found trends replicate less than
    ``min_advantage`` above the null rate; or an advantage of ``min_advantage`` is
    ruled out (exact binomial test). Otherwise undecided.
    """
    n, k = int(row["n_hypotheses"]), int(row["n_replicated"])
    null_rate, p_better = float(row["null_rate"]), float(row["p_vs_null"])
    q = int(row["n_candidates"])
    alpha = config.position_alpha
    found_text = (
        f"{n} of {q} attribute trends on the overfit embedding were stronger than on "
        f"networks trained on permuted lifespans ({n_permutations} permutation networks; "
        f"smallest family-wise max-T p = {min_max_t_p:.3f})"
    )
    if n:
        found_text += (
            f"; {k} of {n} replicated on the {n_holdout} held-out rows "
            f"({_percent(k / n)}, 95% CI {_percent(float(row['replication_ci_low']))}–"
            f"{_percent(float(row['replication_ci_high']))}) against a null rate of "
            f"{_percent(null_rate)} for trends read off the permutation networks "
            f"(exact binomial p = {p_better:.3g})"
        )
    context = "".join(
        f" For comparison, {o['regime']}: {o['n_replicated']} of {o['n_hypotheses']} found "
        f"trends replicated (null rate {_percent(float(o['null_rate']))})."
        for o in others
    )
    if n and p_better <= alpha:
        return Position("A", "The data support A: trends read off the overfit embedding are "
                        f"useful leads. {found_text}.{context}", p_value=p_better)
    rate = k / n if n else 0.0
    if n == 0 or (min_max_t_p > config.alpha_discovery
                  and rate - null_rate < config.min_advantage):
        return Position("B", "The data support B: trends read off the overfit embedding "
                        "describe the training set and are no stronger than what "
                        f"overfitting alone produces. {found_text}.{context}",
                        p_value=min_max_t_p)
    bound = min(null_rate + config.min_advantage, 1.0)
    p_worse = binomtest(k, n, bound, alternative="less").pvalue
    if p_worse <= alpha:
        return Position("B", "The data support B: trends read off the overfit embedding "
                        "replicate no better than chance leads by a useful margin. "
                        f"{found_text}; a replication advantage of "
                        f"{_percent(config.min_advantage)} is ruled out "
                        f"(exact binomial p = {p_worse:.3g}).{context}", p_value=p_worse)
    return Position("undecided", "The data cannot settle it yet: "
                    f"{found_text}, which neither shows an advantage over chance leads nor "
                    f"rules out one of {_percent(config.min_advantage)}. More held-out rows "
                    f"or attributes would decide.{context}", p_value=p_better)


def _percent(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100 * value:.0f}%"
