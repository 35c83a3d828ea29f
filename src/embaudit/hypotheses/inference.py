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
from scipy import stats
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from embaudit.hypotheses.clustered import cluster_bootstrap_effects, wild_cluster_t
from embaudit.hypotheses.ranks import spearman_matrix, standardized_ranks
from embaudit.hypotheses.resampled import (
    bootstrap_effects,
    containing,
    max_t_p_values,
    percentile_interval,
    permutation_null,
)

#: Bonett & Wright (2000): variance factor of Fisher's z for Spearman's rho
SPEARMAN_Z_VARIANCE = 1.06


@dataclass(frozen=True)
class HoldoutAssociation:
    """Association of each attribute column with lifespan on the holdout rows.

    ``rho_low``/``rho_high`` are a percentile bootstrap interval of rho (``resampled``
    holds its draws), ``null`` the resampling null of ``statistic`` (rho with lifespans
    permuted; with groups the cluster-robust t under the wild cluster bootstrap), all
    unsigned: a claimed direction signs them. ``family_p`` is the omnibus p of each
    column's attribute when it has several columns (the levels of a categorical
    attribute), else NaN.
    """

    rho: np.ndarray  # (q,) Spearman (partial Spearman with covariates)
    p_positive: np.ndarray  # one-sided p for a positive association
    p_negative: np.ndarray  # one-sided p for a negative association
    n: int
    rho_low: np.ndarray
    rho_high: np.ndarray
    null: np.ndarray = field(repr=False)  # (R, q) null draws of ``statistic``
    n_covariates: int = 0
    confidence: float = 0.95
    statistic: np.ndarray | None = field(default=None, repr=False)  # (q,); None: rho
    resampled: np.ndarray | None = field(default=None, repr=False)  # (B, q) bootstrap rho
    family_p: np.ndarray | None = None  # (q,)
    grouped: bool = False
    #: what ``rho`` measures (censored lifespans: Somers' D, or a log hazard ratio per SD)
    effect_name: str = "Spearman"
    #: tests whose p is effect / standard_error (censored lifespans): the error, each
    #: row's (or group's) influence on the effects (clusters × q), the failures
    standard_error: np.ndarray | None = field(default=None, repr=False)
    influence: np.ndarray | None = field(default=None, repr=False)
    events: int | None = None
    #: per column, why it could not be tested ('' when it could) and how it was
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

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

    def reason(self, column: int) -> str:
        """Why ``column`` could not be tested, in words ('' when it was)."""
        if self.reasons:
            return self.reasons[column]
        return "" if np.isfinite(self.rho[column]) else "it could not be computed"

    def covariance(self) -> np.ndarray | None:
        """Covariance (q × q) of the effects from the rows' influence, when the test has
        one (censored lifespans), else None."""
        return None if self.influence is None else self.influence.T @ self.influence

    def power(self, effect: float, alpha: np.ndarray | float) -> np.ndarray:
        """Power per column of the one-sided test at ``alpha`` against a true ``effect``
        (effects with a standard error: normal approximation at that error; else the
        Fisher-z approximation of Spearman's rho on these rows)."""
        z_alpha = stats.norm.ppf(1 - np.asarray(alpha, dtype=float))
        if self.standard_error is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                return stats.norm.sf(z_alpha - effect / self.standard_error)
        shift = np.arctanh(effect) * np.sqrt(max(self.n - 3 - self.n_covariates, 1)
                                             / SPEARMAN_Z_VARIANCE)
        return np.broadcast_to(stats.norm.sf(z_alpha - shift), self.rho.shape).copy()

    def required(self, effect: float, alpha: np.ndarray, power: float
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per column, the rows a one-sided test at ``alpha`` needs to detect ``effect``
        with ``power`` (-1: none can), and for censored lifespans the failures (events)
        that needs, what the power depends on: Schoenfeld's argument, error² ∝ 1 /
        events, applied to this test's own error; the rows assume the same share of
        failures."""
        if self.standard_error is None or not self.events:
            return required_holdout_size(np.full(len(self.rho), effect), alpha, power) \
                + self.n_covariates, None
        z = stats.norm.ppf(1 - np.asarray(alpha, dtype=float)) + stats.norm.ppf(power)
        with np.errstate(invalid="ignore"):
            events = np.ceil(self.events * (self.standard_error * z / effect) ** 2)
        known = np.isfinite(events) & (effect > 0)
        events = np.where(known, events, -1).astype(np.int64)
        rows = np.where(known, np.ceil(events * self.n / self.events), -1).astype(np.int64)
        return rows, events

    def p_max_t(self, direction: np.ndarray) -> np.ndarray:
        """Westfall–Young max-T adjusted one-sided p-values over the columns with a
        direction (the others are NaN and stay out of the family), never below the
        column's own p."""
        signed = np.where(direction != 0, direction, np.nan)
        statistic = self.rho if self.statistic is None else self.statistic
        adjusted = max_t_p_values(signed * statistic, self.null * signed[None, :])
        return np.maximum(adjusted, self.p_value(direction))


def spearman_p_positive(rho: np.ndarray, n: np.ndarray | int, n_covariates: int = 0
                        ) -> np.ndarray:
    """One-sided p of a positive Spearman association (t approximation, as scipy's)."""
    return _positive(stats.t.sf(_spearman_t(rho, n, n_covariates), _df(n, n_covariates)))


def spearman_p_negative(rho: np.ndarray, n: np.ndarray | int, n_covariates: int = 0
                        ) -> np.ndarray:
    """One-sided p of a negative association, from its own tail (no 1 - p cancellation:
    a strong negative effect keeps a p above 0)."""
    return _positive(stats.t.cdf(_spearman_t(rho, n, n_covariates), _df(n, n_covariates)))


def _positive(p: np.ndarray) -> np.ndarray:
    """p-values below double precision's reach as its smallest positive number, not 0."""
    return np.where(np.isnan(p), np.nan, np.maximum(p, np.finfo(float).tiny))


def _df(n: np.ndarray | int, n_covariates: int) -> np.ndarray:
    return np.maximum(np.asarray(n) - 2 - n_covariates, 1)


def _spearman_t(rho: np.ndarray, n: np.ndarray | int, n_covariates: int) -> np.ndarray:
    return rho * np.sqrt(_df(n, n_covariates) / np.clip(1.0 - rho**2, 1e-12, None))


def holdout_association(
    attributes: np.ndarray,
    lifespan: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    groups: np.ndarray | None = None,
    families: np.ndarray | None = None,
    n_resamples: int = 2_000,
    n_permutations: int = 9_999,
    confidence: float = 0.95,
    seed: int = 0,
) -> HoldoutAssociation:
    """Test every attribute column against lifespan on the holdout rows.

    Without covariates: Spearman's rho with the t approximation (as
    ``scipy.stats.spearmanr``). With covariates: OLS of rank(lifespan) on rank(a) and
    the covariates' ranks with HC3 standard errors; the effect is the partial Spearman rho.
    With ``groups``: the same regression with cluster-robust errors, referred to its wild
    cluster bootstrap (``n_permutations`` draws, at least 999), and intervals that
    resample whole groups (:mod:`embaudit.hypotheses.clustered`). A column that is
    constant on the holdout cannot be tested: its rho and p are NaN. Intervals:
    percentile bootstrap (``n_resamples``; 0: none); null: ``n_permutations``.
    ``families`` (a code per column) names the columns of one attribute: each family of
    several columns gets an omnibus p (:func:`family_omnibus`).
    """
    n = len(lifespan)
    testable = np.ptp(attributes, axis=0) > 0
    if covariates is not None:
        covariates = covariates[:, np.ptp(covariates, axis=0) > 0]
        covariates = covariates if covariates.shape[1] else None
    n_covariates = 0 if covariates is None else covariates.shape[1]
    statistic = null = None
    if covariates is None:
        rho = np.where(testable, spearman_matrix(lifespan, attributes)[0], np.nan)
        p_positive, p_negative = spearman_p_positive(rho, n), spearman_p_negative(rho, n)
    else:
        rho, t, n_covariates = _partial_rank_tests(attributes, lifespan, covariates, testable)
        df = n - n_covariates - 2
        p_positive, p_negative = _positive(stats.t.sf(t, df)), _positive(stats.t.cdf(t, df))
    if groups is not None:
        statistic, null = wild_cluster_t(attributes, lifespan, groups, covariates,
                                         max(n_permutations, 999), seed + 1)
        draws = len(null) + 1.0
        p_positive = np.where(testable, (1 + (null >= statistic - 1e-12).sum(0)) / draws,
                              np.nan)
        p_negative = np.where(testable, (1 + (null <= statistic + 1e-12).sum(0)) / draws,
                              np.nan)
        rho = np.where(np.isfinite(statistic), rho, np.nan)
    elif n_permutations:
        _, null = permutation_null(attributes, lifespan, covariates, n_permutations, seed + 1)
    low = high = np.full(attributes.shape[1], np.nan)
    resampled = None
    if n_resamples:
        resampled = bootstrap_effects(attributes, lifespan, covariates, n_resamples, seed) \
            if groups is None else cluster_bootstrap_effects(attributes, lifespan, groups,
                                                             covariates, n_resamples, seed)
        low, high = containing(*percentile_interval(resampled, np.isnan(rho), confidence),
                               rho)
    return HoldoutAssociation(
        rho, p_positive, p_negative, n, low, high,
        np.zeros((0, attributes.shape[1])) if null is None else null,
        n_covariates=n_covariates, confidence=confidence, statistic=statistic,
        resampled=resampled, grouped=groups is not None,
        family_p=None if families is None else family_omnibus(
            attributes, lifespan, families, p_positive, p_negative,
            plain=covariates is None and groups is None),
        reasons=tuple("constant on these rows" if not t else "" if np.isfinite(r) else
                      "the covariates determine it" if covariates is not None else
                      "its cluster-robust test could not be computed"
                      for t, r in zip(testable, rho, strict=True)))


def family_omnibus(attributes: np.ndarray, lifespan: np.ndarray, families: np.ndarray,
                   p_positive: np.ndarray, p_negative: np.ndarray, plain: bool
                   ) -> np.ndarray:
    """Omnibus p of each family of several columns (a categorical attribute's levels,
    one-vs-rest), NaN for one-column families: Kruskal–Wallis of lifespan across the
    levels; with covariates or groups, where it does not apply, Bonferroni over the
    levels' two-sided p-values."""
    out = np.full(attributes.shape[1], np.nan)
    for family in np.unique(families):
        columns = np.flatnonzero(families == family)
        if len(columns) < 2:
            continue
        present = [c for c in columns if np.ptp(attributes[:, c]) > 0]
        if plain and len(present) >= 2:
            samples = [lifespan[attributes[:, c] > 0] for c in present]
            p = stats.kruskal(*samples).pvalue if np.ptp(lifespan) > 0 else 1.0
        else:
            two_sided = 2 * np.minimum(p_positive[columns], p_negative[columns])
            p = min(1.0, len(columns) * np.nanmin(two_sided)) \
                if np.isfinite(two_sided).any() else np.nan
        out[columns] = p
    return out


def _partial_rank_tests(attributes: np.ndarray, lifespan: np.ndarray, covariates: np.ndarray,
                        testable: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Partial Spearman rho and the HC3 t of rank(a) in OLS of rank(y) on it and the
    covariates' ranks, per column (NaN when the covariates determine the attribute)."""
    ranked_y = standardized_ranks(lifespan[:, None])[:, 0]
    ranked_a = standardized_ranks(attributes)
    design_c = add_constant(standardized_ranks(covariates), has_constant="add")
    partial = spearman_matrix(lifespan, attributes, covariates)[0]
    rho = np.full(attributes.shape[1], np.nan)
    t = np.full(attributes.shape[1], np.nan)
    for column in np.flatnonzero(testable):
        residual_a = OLS(ranked_a[:, column], design_c).fit().resid
        if np.ptp(residual_a) <= 1e-12:  # the covariates determine the attribute
            continue
        rho[column] = partial[column]
        design = np.column_stack([ranked_a[:, column], design_c])
        t[column] = OLS(ranked_y, design).fit(cov_type="HC3").tvalues[0]
    return rho, t, covariates.shape[1]


def sign_consistency(directions: np.ndarray, claimed: np.ndarray) -> np.ndarray:
    """Share of resampled members (rows of ``directions``) agreeing with ``claimed``."""
    return (directions == claimed[None, :]).mean(axis=0)


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
