"""The statistical tests behind a verdict.

* holdout replication: one-sided Spearman test of attribute vs lifespan on rows the
  networks never saw (partial association via OLS with HC3 errors given covariates);
* permutation null with retraining: discovery p-values and Westfall–Young max-T;
* bootstrap sign consistency; multiplicity control with statsmodels;
* the holdout size a one-sided test would need for a given power.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from embaudit.hypotheses.ranks import spearman_matrix, standardized_ranks
from embaudit.hypotheses.resampled import bootstrap_interval, max_t_p_values, permutation_null

#: Bonett & Wright (2000): variance factor of Fisher's z for Spearman's rho
SPEARMAN_Z_VARIANCE = 1.06


@dataclass(frozen=True)
class HoldoutAssociation:
    """Association of each attribute column with lifespan on the holdout rows.

    ``rho_low``/``rho_high`` are a percentile bootstrap interval of rho, ``null`` its
    permutation null (lifespans permuted on the holdout), both unsigned: a claimed
    direction signs them.
    """

    rho: np.ndarray  # (q,) Spearman (partial Spearman with covariates)
    p_positive: np.ndarray  # one-sided p for a positive association
    p_negative: np.ndarray  # one-sided p for a negative association
    n: int
    rho_low: np.ndarray
    rho_high: np.ndarray
    null: np.ndarray = field(repr=False)  # (R, q) permutation null of rho
    n_covariates: int = 0
    confidence: float = 0.95

    def p_value(self, direction: np.ndarray) -> np.ndarray:
        """One-sided p-values in the given directions (+1 / -1 per column)."""
        return np.where(direction > 0, self.p_positive, self.p_negative)

    def effect(self, direction: np.ndarray) -> np.ndarray:
        """rho signed so that positive means 'as claimed'."""
        return direction * self.rho

    def interval(self, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap percentile interval of the signed effect."""
        return (np.where(direction > 0, self.rho_low, -self.rho_high),
                np.where(direction > 0, self.rho_high, -self.rho_low))

    def p_max_t(self, direction: np.ndarray) -> np.ndarray:
        """Westfall–Young max-T adjusted one-sided p-values over the columns with a
        direction (the others are NaN and stay out of the family)."""
        signed = np.where(direction != 0, direction, np.nan)
        return max_t_p_values(self.effect(signed), self.null * signed[None, :])


def spearman_p_positive(rho: np.ndarray, n: np.ndarray | int, n_covariates: int = 0
                        ) -> np.ndarray:
    """One-sided p of a positive Spearman association (t approximation, as scipy's)."""
    df = np.maximum(np.asarray(n) - 2 - n_covariates, 1)
    t = rho * np.sqrt(df / np.clip(1.0 - rho**2, 1e-12, None))
    return stats.t.sf(t, df)


def holdout_association(
    attributes: np.ndarray,
    lifespan: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    n_resamples: int = 2_000,
    n_permutations: int = 9_999,
    confidence: float = 0.95,
    seed: int = 0,
) -> HoldoutAssociation:
    """Test every attribute column against lifespan on the holdout rows.

    Without covariates: Spearman's rho with the t approximation (as
    ``scipy.stats.spearmanr``). With covariates: OLS of rank(lifespan) on rank(a) and
    the covariates' ranks with HC3 standard errors; the effect is the partial Spearman rho.
    A column that is constant on the holdout cannot be tested: its rho and p are NaN.
    Intervals: percentile bootstrap (``n_resamples``; 0: none); null: ``n_permutations``.
    """
    n = len(lifespan)
    testable = np.ptp(attributes, axis=0) > 0
    if covariates is not None:
        covariates = covariates[:, np.ptp(covariates, axis=0) > 0]
    if covariates is None or covariates.shape[1] == 0:
        covariates = None
        rho = np.where(testable, spearman_matrix(lifespan, attributes)[0], np.nan)
        p_positive = spearman_p_positive(rho, n)
        p_negative, n_covariates = 1.0 - p_positive, 0
    else:
        rho, t, n_covariates = _partial_rank_tests(attributes, lifespan, covariates, testable)
        df = n - n_covariates - 2
        p_positive, p_negative = stats.t.sf(t, df), stats.t.cdf(t, df)
    low = high = np.full(attributes.shape[1], np.nan)
    if n_resamples:
        low, high = bootstrap_interval(attributes, lifespan, covariates, n_resamples,
                                       confidence, seed)
        low, high = np.where(np.isnan(rho), np.nan, low), np.where(np.isnan(rho), np.nan, high)
    _, null = permutation_null(attributes, lifespan, covariates, n_permutations, seed + 1)
    return HoldoutAssociation(rho, p_positive, p_negative, n, low, high, null,
                              n_covariates=n_covariates, confidence=confidence)


def _partial_rank_tests(attributes: np.ndarray, lifespan: np.ndarray, covariates: np.ndarray,
                        testable: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Partial Spearman rho and the HC3 t of rank(a) in OLS of rank(y) on it and the
    covariates' ranks, per column (NaN when the covariates determine the attribute)."""
    ranked_y = standardized_ranks(lifespan[:, None])[:, 0]
    ranked_a = standardized_ranks(attributes)
    design_c = sm.add_constant(standardized_ranks(covariates), has_constant="add")
    partial = spearman_matrix(lifespan, attributes, covariates)[0]
    rho = np.full(attributes.shape[1], np.nan)
    t = np.full(attributes.shape[1], np.nan)
    for column in np.flatnonzero(testable):
        residual_a = sm.OLS(ranked_a[:, column], design_c).fit().resid
        if np.ptp(residual_a) <= 1e-12:  # the covariates determine the attribute
            continue
        rho[column] = partial[column]
        design = np.column_stack([ranked_a[:, column], design_c])
        t[column] = sm.OLS(ranked_y, design).fit(cov_type="HC3").tvalues[0]
    return rho, t, covariates.shape[1]


def sign_consistency(directions: np.ndarray, claimed: np.ndarray) -> np.ndarray:
    """Share of resampled members (rows of ``directions``) agreeing with ``claimed``."""
    return (directions == claimed[None, :]).mean(axis=0)


def adjust(p_values: np.ndarray, method: str, alpha: float) -> np.ndarray:
    """Multiplicity-adjusted p-values (q-values for BH/BY) via statsmodels.

    NaN p-values (untestable hypotheses) stay NaN and do not enter the family.
    """
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p_values, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite], alpha=alpha, method=method)[1]
    return adjusted


def required_holdout_size(strength: np.ndarray, alpha: float, power: float) -> np.ndarray:
    """Holdout rows a one-sided Spearman test at ``alpha`` needs to detect ``strength``.

    Fisher-z approximation: n = 3 + 1.06 · ((z_{1-α} + z_{power}) / atanh(T))². No
    strength (T ≤ 0 or NaN) gives -1: no holdout size can detect it.
    """
    strength = np.asarray(strength, dtype=float)
    z = np.arctanh(np.clip(np.nan_to_num(strength), 1e-6, 0.999))
    needed = 3 + SPEARMAN_Z_VARIANCE * ((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
                                        / z) ** 2
    return np.where(strength > 0, np.ceil(needed), -1).astype(np.int64)
