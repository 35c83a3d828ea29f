"""The statistical tests behind a verdict.

* holdout replication: one-sided Spearman test of attribute vs lifespan on rows the
  networks never saw (partial association via OLS with HC3 errors given covariates);
* permutation null with retraining: discovery p-values and Westfall–Young max-T;
* bootstrap sign consistency; multiplicity control with statsmodels;
* the holdout size a one-sided test would need for a given power.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from embaudit.hypotheses.ranks import spearman_matrix, standardized_ranks

#: Bonett & Wright (2000): variance factor of Fisher's z for Spearman's rho
SPEARMAN_Z_VARIANCE = 1.06


@dataclass(frozen=True)
class HoldoutAssociation:
    """Association of each attribute column with lifespan on the holdout rows."""

    rho: np.ndarray  # (q,) Spearman (partial Spearman with covariates)
    p_positive: np.ndarray  # one-sided p for a positive association
    p_negative: np.ndarray  # one-sided p for a negative association
    n: int
    n_covariates: int = 0

    def p_value(self, direction: np.ndarray) -> np.ndarray:
        """One-sided p-values in the given directions (+1 / -1 per column)."""
        return np.where(direction > 0, self.p_positive, self.p_negative)

    def effect(self, direction: np.ndarray) -> np.ndarray:
        """rho signed so that positive means 'as claimed'."""
        return direction * self.rho

    def interval(self, direction: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
        """Fisher-z interval of the signed effect (Bonett–Wright variance)."""
        z = np.arctanh(np.clip(self.effect(direction), -0.999999, 0.999999))
        df = max(self.n - 3 - self.n_covariates, 1)
        half = stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(SPEARMAN_Z_VARIANCE / df)
        return np.tanh(z - half), np.tanh(z + half)


def spearman_p_positive(rho: np.ndarray, n: np.ndarray | int, n_covariates: int = 0
                        ) -> np.ndarray:
    """One-sided p of a positive Spearman association (t approximation, as scipy's)."""
    df = np.maximum(np.asarray(n) - 2 - n_covariates, 1)
    t = rho * np.sqrt(df / np.clip(1.0 - rho**2, 1e-12, None))
    return stats.t.sf(t, df)


def holdout_association(
    attributes: np.ndarray, lifespan: np.ndarray, covariates: np.ndarray | None = None
) -> HoldoutAssociation:
    """Test every attribute column against lifespan on the holdout rows.

    Without covariates: Spearman's rho with the t approximation (as
    ``scipy.stats.spearmanr``). With covariates: OLS of rank(lifespan) on rank(a) and
    the covariates with HC3 standard errors; the effect is the partial Spearman rho.
    A column that is constant on the holdout cannot be tested: its rho and p are NaN.
    """
    n = len(lifespan)
    testable = np.ptp(attributes, axis=0) > 0
    if covariates is not None:
        covariates = covariates[:, np.ptp(covariates, axis=0) > 0]
    if covariates is None or covariates.shape[1] == 0:
        rho = np.where(testable, spearman_matrix(lifespan, attributes)[0], np.nan)
        p_positive = spearman_p_positive(rho, n)
        return HoldoutAssociation(rho, p_positive, 1.0 - p_positive, n)
    ranked_y = standardized_ranks(lifespan[:, None])[:, 0]
    ranked_a = standardized_ranks(attributes)
    design_c = sm.add_constant(covariates, has_constant="add")
    rho = np.full(attributes.shape[1], np.nan)
    t = np.full(attributes.shape[1], np.nan)
    df = n - design_c.shape[1] - 1
    residual_y = sm.OLS(ranked_y, design_c).fit().resid
    for column in np.flatnonzero(testable):
        residual_a = sm.OLS(ranked_a[:, column], design_c).fit().resid
        if np.ptp(residual_a) <= 1e-12:  # the covariates determine the attribute
            continue
        rho[column] = _correlation(residual_a, residual_y)
        design = np.column_stack([ranked_a[:, column], design_c])
        t[column] = sm.OLS(ranked_y, design).fit(cov_type="HC3").tvalues[0]
    return HoldoutAssociation(rho, stats.t.sf(t, df), stats.t.cdf(t, df), n,
                              n_covariates=covariates.shape[1])


def _correlation(left: np.ndarray, right: np.ndarray) -> float:
    denominator = np.sqrt((left**2).sum() * (right**2).sum())
    return float((left * right).sum() / denominator) if denominator > 0 else 0.0


def permutation_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """p = (1 + #{T_null ≥ T}) / (M + 1) per column; ``null`` is (M × q)."""
    exceed = (null >= observed[None, :] - 1e-12).sum(axis=0)
    return (1.0 + exceed) / (null.shape[0] + 1.0)


def max_t_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Single-step Westfall–Young max-T adjusted p-values (family-wise control)."""
    maxima = null.max(axis=1)
    exceed = (maxima[:, None] >= observed[None, :] - 1e-12).sum(axis=0)
    return (1.0 + exceed) / (null.shape[0] + 1.0)


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
