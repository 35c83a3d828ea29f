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
random and independent (the networks read the discovery rows, ρ the holdout rows): its
variance is E[d]ᵀΣ_ρ E[d] + μᵀΣ_d μ + tr(Σ_d Σ_ρ), with Σ_ρ the covariance of the
holdout effects over resamples of the holdout rows (or groups), Σ_d that of d over
networks and μ = E[ρ]. The plug-in dᵀΣ_ρ d estimates the first and the last term (both
shrink with more rows: the *rows'* share); ρᵀΣ_d ρ - tr(Σ_d Σ_ρ) estimates the middle
one (floored at 0: the *networks'* share, which more rows leave as it is). Resampling
rows and networks both and reading the spread of the product would count the last term
three times (with no effect anywhere, tripling the variance: the bias of resampling two
crossed factors at once, Owen 2007), so the bounds are normal ones with this variance.
The difference of two sets (readings against chance readings, or one regime against
another) has independent network terms and shares the holdout's. Chance readings have a
mean of about 0 by construction (a permutation network's sign is independent of the
holdout); subtracting them is the comparison the design asks for, and it also absorbs
any bias the reading procedure has of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
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
        column in its mean holdout effect (networks × q; each row's absolute weights sum
        to 1)."""
        kept = self.kept & testable[None, :]
        counts = kept.sum(axis=1)
        weights = np.where(kept, self.direction, 0) / np.maximum(counts, 1)[:, None]
        return weights[counts > 0]

    def share(self, values: np.ndarray, testable: np.ndarray) -> np.ndarray:
        """Per network with a reading on a testable column (the networks of
        :meth:`weights`), the share of those readings where ``values`` (N × q) holds."""
        kept = self.kept & testable[None, :]
        counts = kept.sum(axis=1)
        hits = (kept & values).sum(axis=1)
        return (hits / np.maximum(counts, 1))[counts > 0]


@dataclass(frozen=True)
class Estimate:
    """A mean (or a difference of means) with normal bounds and the spread behind them."""

    estimate: float
    low: float
    high: float
    #: one-sided p of ≤ 0
    p: float
    #: the standard error's share that shrinks with more holdout rows, and the share that
    #: only more networks shrink (the estimate's variance is the sum of their squares)
    se_rows: float = float("nan")
    se_networks: float = float("nan")

    @staticmethod
    def missing() -> Estimate:
        nan = float("nan")
        return Estimate(nan, nan, nan, nan, nan, nan)


def holdout_covariance(holdout: HoldoutAssociation) -> np.ndarray:
    """Covariance (q × q) of the holdout effects over resamples of the holdout rows (or
    groups), pairwise over the resamples where both columns could be computed, 0 for
    untestable columns; for censored lifespans the test's own covariance (from each
    row's or group's influence, so clustered where the test is). Without resamples
    (``n_resamples = 0``, from Python only), the Fisher-z variance of Spearman's rho for
    each effect, attributes taken as independent (an approximation for partial
    effects)."""
    testable = np.isfinite(holdout.rho)
    influence = holdout.covariance()
    if influence is not None:  # censored: the test's own (jackknife or robust) covariance
        influence[~testable] = 0.0
        influence[:, ~testable] = 0.0
        return influence
    if holdout.resampled is not None and len(holdout.resampled) > 1:
        covariance = pd.DataFrame(holdout.resampled).cov().to_numpy(copy=True)
        covariance[~testable] = 0.0
        covariance[:, ~testable] = 0.0
        return np.nan_to_num(covariance)
    rho = np.nan_to_num(holdout.rho)
    spread = (1 - rho**2) ** 2 * SPEARMAN_Z_VARIANCE / max(holdout.n - 3, 1)
    return np.diag(np.where(testable, spread, 0.0))


def mean_effect(first: np.ndarray, second: np.ndarray | None, observed: np.ndarray,
                covariance: np.ndarray, tail: float) -> Estimate:
    """The mean holdout effect of the networks whose weights are ``first`` (from
    :meth:`Readings.weights`), minus that of ``second`` when given: its normal bounds with
    ``tail`` probability beyond each, the p of ≤ 0, and its standard error's two shares
    (see the module). ``observed``: the holdout effects; ``covariance``: theirs over
    resampled holdout rows. Missing when a set has fewer than two networks: one network
    tells nothing of how networks vary."""
    if len(first) < 2 or (second is not None and len(second) < 2):
        return Estimate.missing()
    sets = [(first, 1.0)] + ([] if second is None else [(second, -1.0)])
    weights = sum(sign * w.mean(axis=0) for w, sign in sets)
    spread = sum(_mean_covariance(w) for w, _ in sets)
    estimate = float(weights @ observed)
    rows = float(weights @ covariance @ weights)
    networks = max(float(observed @ spread @ observed - np.trace(spread @ covariance)), 0.0)
    se = np.sqrt(rows + networks)
    if se == 0:
        return Estimate.missing()
    z = stats.norm.ppf(1 - tail)
    return Estimate(estimate, estimate - z * se, estimate + z * se,
                    float(stats.norm.sf(estimate / se)), np.sqrt(rows), np.sqrt(networks))


def _mean_covariance(weights: np.ndarray) -> np.ndarray:
    """Covariance of the mean of ``weights``' rows (networks) across networks."""
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
    return Estimate(estimate, float(low), float(high), float(p), float("nan"),
                    float(total.std(ddof=1)))


def rows_to_decide(estimate: Estimate, n_holdout: int, margin: float, alpha: float,
                   power: float) -> int | None:
    """Holdout rows at which the one-sided bounds at ``alpha`` decide with ``power``
    whether the true advantage is 0 or ``margin``: the rows' share of the variance
    shrinking as 1/rows, the networks' staying. None when the networks' share alone is
    too wide for any number of rows."""
    needed = margin / (stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))
    networks = estimate.se_networks
    if not np.isfinite(estimate.se_rows) or not np.isfinite(networks) or networks >= needed:
        return None
    return int(np.ceil(n_holdout * estimate.se_rows**2 / (needed**2 - networks**2)))


def signed(value: object) -> str:
    """A holdout effect (or a difference of them) as text: +0.012, or n/a."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not np.isfinite(number) else f"{number:+.3f}"
