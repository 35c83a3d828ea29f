"""The analysts' readings and what they are worth on the holdout.

A *reading* is what an analyst looking along a network's own axes notes: per attribute
its best axis and sign (:func:`~embaudit.hypotheses.discovery.best_candidates`), kept when
the axis carries the attribute beyond chance with the network fixed (``p_carried`` ≤
``alpha_discovery``; no association screen). Its *holdout effect* is the attribute's
association with lifespan on the holdout rows, signed in the claimed direction: a reading
of an attribute unrelated to lifespan contributes about 0 ± 1/√n_holdout whatever its
sign, one of a real effect ρ about ±ρ.

A set of networks is summarized by the mean over its networks of each network's mean
holdout effect over its readings (networks without a reading do not count): continuous,
so it resolves differences a replicated/not count over a dozen attributes cannot. That
mean is d·ρ, the networks' mean reading weights d (per attribute column: direction over
the number of readings, averaged over networks) times the holdout effects ρ. Both are
random: the networks (their initialisation and rows) and the holdout rows. Its variance
is estimated without bias as dᵀΣ_ρ d + ρᵀΣ_d ρ - tr(Σ_d Σ_ρ), Σ_ρ the covariance of the
holdout effects over resamples of the holdout rows (or groups) and Σ_d that of d over
networks: resampling rows and networks both and reading the spread of the product
would count the last term three times (with no effect anywhere, tripling the variance;
Owen's pigeonhole bootstrap has the same bias), so the bounds are normal ones with this
variance. The difference of two sets (readings against chance readings, or one regime
against another) has independent network terms and shares the holdout's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from embaudit.hypotheses.inference import SPEARMAN_Z_VARIANCE, HoldoutAssociation

#: bootstrap draws of a share's comparison (networks resampled)
N_DRAWS = 2_000


@dataclass(frozen=True)
class Readings:
    """The readings of N networks: claimed direction per attribute column (±1; 0 = no
    trend to read) and whether it was kept (N × q each)."""

    direction: np.ndarray
    kept: np.ndarray

    @classmethod
    def screened(cls, direction: np.ndarray, p_carried: np.ndarray, alpha: float
                 ) -> Readings:
        """Readings kept when ``p_carried`` ≤ ``alpha``."""
        direction = np.asarray(direction, dtype=int).reshape(-1, np.shape(direction)[-1])
        p_carried = np.nan_to_num(np.asarray(p_carried, dtype=float), nan=1.0)
        return cls(direction, (direction != 0) & (p_carried.reshape(direction.shape) <= alpha))

    def weights(self, testable: np.ndarray) -> np.ndarray:
        """Per network with a reading on a testable column, the signed weight of each
        column in its mean holdout effect (networks × q; rows sum to ±1 per reading)."""
        kept = self.kept & testable[None, :]
        counts = kept.sum(axis=1)
        weights = np.where(kept, self.direction, 0) / np.maximum(counts, 1)[:, None]
        return weights[counts > 0]

    def share(self, values: np.ndarray) -> np.ndarray:
        """Per network with a reading, the share of its readings where ``values`` (N × q
        booleans) holds."""
        counts = self.kept.sum(axis=1)
        hits = (self.kept & values).sum(axis=1)
        return (hits / np.maximum(counts, 1))[counts > 0]


@dataclass(frozen=True)
class Estimate:
    """A mean (or a difference of means) with normal bounds and the spread behind them."""

    estimate: float
    low: float
    high: float
    #: one-sided p of ≤ 0
    p: float
    #: the standard error the holdout rows alone, and the networks alone, contribute
    se_rows: float = float("nan")
    se_networks: float = float("nan")

    @staticmethod
    def missing() -> Estimate:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, nan, nan)


def holdout_covariance(holdout: HoldoutAssociation) -> np.ndarray:
    """Covariance (q × q) of the holdout effects over resamples of the holdout rows (or
    groups), 0 for untestable columns; without resamples, the Fisher-z variance of each
    effect (attributes independent)."""
    testable = np.isfinite(holdout.rho)
    if holdout.resampled is not None and len(holdout.resampled) > 1:
        draws = np.where(testable, np.nan_to_num(holdout.resampled), 0.0)
        return np.atleast_2d(np.cov(draws, rowvar=False))
    rho = np.nan_to_num(holdout.rho)
    spread = (1 - rho**2) ** 2 * SPEARMAN_Z_VARIANCE / max(holdout.n - 3, 1)
    return np.diag(np.where(testable, spread, 0.0))


def mean_effect(first: np.ndarray, second: np.ndarray | None, observed: np.ndarray,
                covariance: np.ndarray, tail: float) -> Estimate:
    """The mean holdout effect of the networks whose weights are ``first`` (from
    :meth:`Readings.weights`), minus that of ``second`` when given: its normal bounds with
    ``tail`` probability beyond each, the p of ≤ 0, and the standard errors of rows and
    networks alone (see the module for the variance). ``observed``: the holdout effects;
    ``covariance``: theirs over resampled holdout rows."""
    if not len(first) or (second is not None and not len(second)):
        return Estimate.missing()
    sets = [(first, 1.0)] + ([] if second is None else [(second, -1.0)])
    weights = sum(sign * w.mean(axis=0) for w, sign in sets)
    spread = sum(_mean_covariance(w) for w, _ in sets)
    estimate = float(weights @ observed)
    rows = float(weights @ covariance @ weights)
    networks = float(observed @ spread @ observed)
    variance = max(rows + networks - float(np.trace(spread @ covariance)),
                   0.25 * max(rows, networks), 1e-18)
    se = np.sqrt(variance)
    z = stats.norm.ppf(1 - tail)
    return Estimate(estimate, estimate - z * se, estimate + z * se,
                    float(stats.norm.sf(estimate / se)), np.sqrt(rows), np.sqrt(networks))


def _mean_covariance(weights: np.ndarray) -> np.ndarray:
    """Covariance of the mean of ``weights``' rows (networks) across networks."""
    if len(weights) < 2:
        return np.zeros((weights.shape[1], weights.shape[1]))
    return np.atleast_2d(np.cov(weights, rowvar=False)) / len(weights)


def mean_share(first: np.ndarray, second: np.ndarray | None, tail: float, seed: int = 0,
               n_draws: int = N_DRAWS) -> Estimate:
    """The mean over networks of a per-network share (``first``), minus that of
    ``second`` when given, with percentile bounds over resampled networks."""
    if not len(first) or (second is not None and not len(second)):
        return Estimate.missing()
    rng = np.random.default_rng(seed)
    sets = [(first, 1.0)] + ([] if second is None else [(second, -1.0)])
    estimate = sum(sign * float(values.mean()) for values, sign in sets)
    total = np.zeros(n_draws)
    for values, sign in sets:
        total += sign * values[rng.integers(len(values), size=(n_draws, len(values)))].mean(1)
    low, high = np.quantile(total, [tail, 1 - tail])
    p = (1 + np.sum(total <= 0)) / (n_draws + 1)
    return Estimate(estimate, float(low), float(high), float(p), 0.0, float(total.std(ddof=1)))


def rows_to_decide(estimate: Estimate, n_holdout: int, margin: float, alpha: float,
                   power: float) -> int | None:
    """Holdout rows at which the one-sided bounds at ``alpha`` decide with ``power``
    whether the true advantage is 0 or ``margin`` (its spread from the rows shrinking as
    1/√rows, the networks' staying), or None when the networks' spread alone is too
    wide for any number of rows."""
    needed = margin / (stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
    networks = estimate.se_networks
    if not np.isfinite(estimate.se_rows) or not np.isfinite(networks) or networks >= needed:
        return None
    return int(np.ceil(n_holdout * estimate.se_rows**2 / (needed**2 - networks**2)))
