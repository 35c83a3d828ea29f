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


def holdout_association(
    attributes: np.ndarray, lifespan: np.ndarray, covariates: np.ndarray | None = None
) -> HoldoutAssociation:
    """Test every attribute column against lifespan on the holdout rows.

    Without covariates: Spearman's rho with the t approximation (as
    ``scipy.stats.spearmanr``). With covariates: OLS of rank(lifespan) on rank(a) and
    the covariates with HC3 standard errors; the effect is the partial Spearman rho.
    """
    n = len(lifespan)
    if covariates is None or covariates.shape[1] == 0:
        rho = spearman_matrix(lifespan, attributes)[0]
        df = n - 2
        t = rho * np.sqrt(df / np.clip(1.0 - rho**2, 1e-12, None))
        return HoldoutAssociation(rho, stats.t.sf(t, df), stats.t.cdf(t, df), n)
    ranked_y = standardized_ranks(lifespan[:, None])[:, 0]
    ranked_a = standardized_ranks(attributes)
    design_c = sm.add_constant(covariates, has_constant="add")
    rho = np.empty(attributes.shape[1])
    t = np.empty(attributes.shape[1])
    df = n - design_c.shape[1] - 1
    residual_y = sm.OLS(ranked_y, design_c).fit().resid
    for column in range(attributes.shape[1]):
        residual_a = sm.OLS(ranked_a[:, column], design_c).fit().resid
        rho[column] = _correlation(residual_a, residual_y)
        design = np.column_stack([ranked_a[:, column], design_c])
        fit = sm.OLS(ranked_y, design).fit(cov_type="HC3")
        t[column] = fit.tvalues[0] if np.isfinite(fit.tvalues[0]) else 0.0
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
    """Multiplicity-adjusted p-values (q-values for BH/BY) via statsmodels."""
    p_values = np.asarray(p_values, dtype=float)
    if p_values.size == 0:
        return p_values
    return multipletests(p_values, alpha=alpha, method=method)[1]


def required_holdout_size(strength: np.ndarray, alpha: float, power: float) -> np.ndarray:
    """Holdout rows a one-sided Spearman test at ``alpha`` needs to detect ``strength``.

    Fisher-z approximation: n = 3 + 1.06 · ((z_{1-α} + z_{power}) / atanh(T))².
    """
    z = np.arctanh(np.clip(np.asarray(strength, dtype=float), 1e-6, 0.999))
    needed = 3 + SPEARMAN_Z_VARIANCE * ((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
                                        / z) ** 2
    return np.ceil(needed).astype(np.int64)
