"""Verdicts per hypothesis, replication per regime, and the Person A vs B position.

* ``survives``: holdout q ≤ α in the claimed direction and sign consistency ≥ τ;
* ``fails``: not significant in the claimed direction, and the holdout effect's 95%
  interval lies wholly below the discovered strength T (which includes an effect
  significantly in the opposite direction);
* ``inconclusive`` otherwise (also when the holdout cannot test the attribute), with
  the holdout size 80% power would need at α/q (Bonferroni: a bound that holds
  whatever the other hypotheses do).

An attribute with no trend at all (every axis dead, or constant on the discovery rows)
makes no claim: it is listed as skipped, not tested.

A regime's hypotheses are *found* when their discovery p (permutation null with
retraining) is ≤ ``alpha_discovery``; a found hypothesis *replicates* when its one-sided
holdout p ≤ α. Each permutation network finds trends the same way, against the other M
networks (the reference included), and the *null rate* pools the replication of what
they found. ``p_vs_null`` ranks the reference's count of found-and-replicated trends
among the permutation networks' counts: a Monte Carlo test, exact under the global null
where all M + 1 networks are exchangeable.
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
    required_holdout_size,
    sign_consistency,
)
from embaudit.hypotheses.resampled import max_t_p_values, permutation_p_values
from embaudit.results import HYPOTHESIS_COLUMNS, REGIME_COLUMNS, Position


def verdicts(
    q: np.ndarray, consistency: np.ndarray, ci_high: np.ndarray, strength: np.ndarray,
    alpha: float, tau: float,
) -> np.ndarray:
    """The verdict rule, vectorized (NaN q: untestable, hence inconclusive)."""
    confirmed = q <= alpha
    survives = confirmed & (consistency >= tau)
    fails = ~confirmed & (ci_high < strength)
    return np.where(survives, "survives", np.where(fails, "fails", "inconclusive"))


def null_found_and_replicated(
    evidence: RegimeEvidence, holdout: HoldoutAssociation, config: StatisticsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per permutation network: found (vs the other M networks) and replicated, (M, q)."""
    strengths = np.vstack([evidence.candidates.strength, evidence.null_strength])
    found = np.zeros(evidence.null_strength.shape, dtype=bool)
    for m in range(evidence.null_strength.shape[0]):
        others = np.delete(strengths, m + 1, axis=0)
        found[m] = permutation_p_values(evidence.null_strength[m], others) \
            <= config.alpha_discovery
    claimed = evidence.null_direction != 0
    found &= claimed
    replicated = claimed & (holdout.p_value(evidence.null_direction) <= config.alpha)
    return found, replicated


def assess_regime(
    evidence: RegimeEvidence,
    holdout: HoldoutAssociation,
    columns: Sequence[AttributeColumn],
    config: StatisticsConfig,
) -> tuple[pd.DataFrame, dict[str, object], float, pd.DataFrame]:
    """Hypotheses, the regime's replication summary, its smallest max-T p, skipped."""
    c = evidence.candidates
    claimed = c.direction != 0
    p_discovery = permutation_p_values(c.strength, evidence.null_strength)
    p_max_t = max_t_p_values(c.strength, evidence.null_strength)
    p_holdout = holdout.p_value(c.direction)
    q_holdout = holdout.p_max_t(c.direction) if config.correction == "maxt" else adjust(
        np.where(claimed, p_holdout, np.nan), config.correction, config.alpha)
    ci_low, ci_high = holdout.interval(c.direction)
    r_attribute_ci = _percentiles(evidence.bootstrap_r_attribute, holdout.confidence)
    r_lifespan_ci = _percentiles(evidence.bootstrap_r_lifespan, holdout.confidence)
    oob_replication = (evidence.bootstrap_oob_p <= config.alpha).mean(axis=0) \
        if evidence.bootstrap_oob_p is not None and len(evidence.bootstrap_oob_p) \
        else np.full(len(c.strength), np.nan)
    consistency = sign_consistency(evidence.bootstrap_direction, c.direction)
    embedding = c.axis >= 0
    selection = np.where(embedding, (evidence.bootstrap_axis == c.axis[None, :]).mean(axis=0),
                         np.nan)
    verdict = verdicts(q_holdout, consistency, ci_high, c.strength, config.alpha,
                       config.sign_consistency)
    n_required = required_holdout_size(c.strength, config.alpha / max(claimed.sum(), 1),
                                       config.power)
    found = p_discovery <= config.alpha_discovery
    frame = pd.DataFrame({
        "regime": evidence.regime,
        "attribute": [col.name for col in columns],
        "source_attribute": [col.attribute for col in columns],
        "kind": [col.kind for col in columns],
        "axis": pd.array([int(a) if e else pd.NA for a, e in zip(c.axis, embedding,
                                                                 strict=True)], dtype="Int64"),
        "direction": np.where(c.direction > 0, "+", "-"),
        "strength": c.strength,
        "r_axis_attribute": c.r_axis_attribute,
        "r_axis_lifespan": c.r_axis_lifespan,
        "r_axis_attribute_ci_low": r_attribute_ci[0],
        "r_axis_attribute_ci_high": r_attribute_ci[1],
        "r_axis_lifespan_ci_low": r_lifespan_ci[0],
        "r_axis_lifespan_ci_high": r_lifespan_ci[1],
        "p_discovery": p_discovery,
        "p_discovery_maxt": p_max_t,
        "found": found,
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
        "oob_replication": oob_replication,
        "n_holdout": holdout.n,
        "n_required": pd.array([int(v) if w == "inconclusive" and v > 0 else pd.NA
                                for v, w in zip(n_required, verdict, strict=True)],
                               dtype="Int64"),
        "verdict": verdict,
    })
    null_found, null_replicated = null_found_and_replicated(evidence, holdout, config)
    summary = replication_summary(
        evidence.regime,
        found=found & claimed,
        replicated=p_holdout <= config.alpha,
        null_found=null_found,
        null_replicated=null_replicated,
        n_survives=int((verdict[claimed] == "survives").sum()),
    )
    skipped = pd.DataFrame({
        "regime": evidence.regime,
        "attribute": [col.name for col, ok in zip(columns, claimed, strict=True) if not ok],
        "reason": "no live axis carries a trend (every axis dead, or the attribute is "
                  "constant on the discovery rows)" if evidence.regime != "raw"
                  else "the attribute is constant on the discovery rows",
    }, index=pd.RangeIndex(int((~claimed).sum()))).astype("string")
    return (frame.loc[claimed, list(HYPOTHESIS_COLUMNS)].reset_index(drop=True), summary,
            float(p_max_t[claimed].min()) if claimed.any() else 1.0, skipped)


def _or_nan(values: np.ndarray | None, size: int) -> np.ndarray:
    return np.full(size, np.nan) if values is None else values


def _percentiles(draws: np.ndarray | None, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval across bootstrap members (rows of ``draws``); NaN if none."""
    if draws is None or len(draws) == 0:
        return np.nan, np.nan  # broadcast by the frame
    tail = (1 - confidence) / 2 * 100
    return tuple(np.percentile(draws, [tail, 100 - tail], axis=0))


def replication_summary(
    regime: str,
    found: np.ndarray,
    replicated: np.ndarray,
    null_found: np.ndarray,
    null_replicated: np.ndarray,
    n_survives: int,
) -> dict[str, object]:
    """Replication of the found hypotheses against the permutation networks' (M × q)."""
    n, k = int(found.sum()), int((found & replicated).sum())
    null_counts = (null_found & null_replicated).sum(axis=1)
    null_n = int(null_found.sum())
    low, high = proportion_confint(k, n, method="wilson") if n else (np.nan, np.nan)
    p = (1.0 + (null_counts >= k).sum()) / (len(null_counts) + 1.0)
    row = {
        "regime": regime,
        "n_candidates": int(found.size),
        "n_hypotheses": n,
        "n_replicated": k,
        "replication_rate": k / n if n else float("nan"),
        "replication_ci_low": float(low),
        "replication_ci_high": float(high),
        "null_rate": int(null_counts.sum()) / null_n if null_n else float("nan"),
        "null_n": null_n,
        "p_vs_null": float(p),
        "n_survives": n_survives,
    }
    return {key: row[key] for key in REGIME_COLUMNS}


def decide_position(
    row: dict[str, object], min_max_t_p: float, n_permutations: int, n_holdout: int,
    config: StatisticsConfig, others: Sequence[dict[str, object]] = (),
) -> Position:
    """Which camp the regime's evidence supports, in words that quote the numbers.

    * A: its found trends replicate more often than the permutation networks' (Monte
      Carlo test at ``position_alpha``), and an advantage of ``min_advantage`` over the
      null rate is not ruled out;
    * B: nothing was found; or an advantage of ``min_advantage`` is ruled out (exact
      binomial test against null rate + min_advantage); or no trend beats the
      permutation null family-wise (max-T) and the replication rate is within
      ``min_advantage`` of the null rate;
    * undecided otherwise. ``Position.p_value`` is the p of the test that decided.
    """
    regime = str(row["regime"])
    n, k = int(row["n_hypotheses"]), int(row["n_replicated"])
    null_rate, p_better = float(row["null_rate"]), float(row["p_vs_null"])
    alpha, margin = config.position_alpha, config.min_advantage
    source = "raw screening (no embedding)" if regime == "raw" else f"the {regime} embedding"
    found = (
        f"{n} of {row['n_candidates']} attribute trends read off {source} were stronger "
        f"than on {n_permutations} networks trained on permuted lifespans (smallest "
        f"family-wise max-T p = {min_max_t_p:.3f})"
    )
    if n:
        found += (
            f"; {k} of {n} replicated on the {n_holdout} held-out rows ({_percent(k / n)}, "
            f"95% CI {_percent(float(row['replication_ci_low']))}–"
            f"{_percent(float(row['replication_ci_high']))}) against {_percent(null_rate)} "
            f"of the trends the permutation networks found (Monte Carlo p = {p_better:.3g})"
        )
    context = "".join(
        f" For comparison, {o['regime']}: {o['n_replicated']} of {o['n_hypotheses']} found "
        f"trends replicated (null rate {_percent(float(o['null_rate']))})." for o in others
    )

    def position(label: str, lead: str, p: float) -> Position:
        return Position(label, f"{lead} {found}.{context}", regime=regime, p_value=p)

    is_b = f"The data support B: trends read off {source} describe the training set"
    if n == 0:
        return position("B", f"{is_b}: none is stronger than overfitting alone produces.",
                        float("nan"))
    p_worse = binomtest(k, n, min(null_rate + margin, 1.0), alternative="less").pvalue \
        if np.isfinite(null_rate) else 1.0
    if p_better <= alpha and p_worse > alpha:
        return position("A", f"The data support A: trends read off {source} are useful "
                        "leads.", p_better)
    if p_worse <= alpha:
        real = " (they do beat chance, but not by a useful margin)" if p_better <= alpha \
            else ""
        return position("B", f"{is_b}{real}: a replication advantage of {_percent(margin)} "
                        f"over chance leads is ruled out (exact binomial p = {p_worse:.3g}).",
                        p_worse)
    if min_max_t_p > config.alpha_discovery and not k / n - null_rate >= margin:
        return position("B", f"{is_b}: no trend is stronger, family-wise, than overfitting "
                        "alone produces, and the found ones replicate about as often as "
                        "chance leads.", min_max_t_p)
    return position("undecided", "The data cannot settle it yet: the found trends neither "
                    "replicate significantly more often than chance leads nor are shown to "
                    "fall short of a useful margin. More held-out rows or attributes would "
                    "decide.", p_better)


def _percent(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{100 * value:.0f}%"
