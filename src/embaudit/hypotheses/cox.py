"""A Cox model that converges: Efron ties, Newton–Raphson with step-halving, robust
(sandwich) errors, and a small ridge penalty, reported as such, where the data
separate.

Why not ``statsmodels``' ``PHReg``: on a covariate with a heavy right tail (17 SD above
its mean) its optimizer steps to coefficients where, after the one maximum it subtracts
from every row's linear predictor, the risk sets of long-lived rows underflow to 0, and
the fit returns NaN with a ``RuntimeWarning`` (about half of 600-row subsets of one real
lab value); its loop over failure times also makes a fit of 30,000 rows take seconds.
Here every sum over a risk set is a cumulative sum over rows sorted by time, a step is
halved until the partial likelihood rises (a step into underflow never does; the
classical safeguard, lifelines' too), and covariates are standardized, so a coefficient
is a log hazard ratio per SD.

Separation (a covariate that orders failures perfectly) sends the maximum to infinity:
when a coefficient passes ``SEPARATION`` per SD or Newton does not converge, the model is
fitted again with the ridge penalty ``RIDGE``·β²/2, and ``penalized`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: |log hazard ratio per SD| beyond which the data are taken as separated
SEPARATION = 10.0
#: the ridge penalty used then (a N(0, 1) prior on every standardized coefficient)
RIDGE = 1.0
_MAX_ITERATIONS = 60
_MAX_HALVINGS = 40


@dataclass(frozen=True)
class CoxFit:
    """Coefficients per SD of each covariate (log hazard ratios: positive = shorter
    life), their robust covariance, the rows' influence on them (clusters × p: the
    covariance is its cross-product), and how the fit went."""

    coefficients: np.ndarray
    covariance: np.ndarray
    influence: np.ndarray
    #: the inverse information: the model's own covariance, beside the robust one
    model_covariance: np.ndarray
    converged: bool
    penalized: bool
    iterations: int


class EfronLikelihood:
    """The Efron partial likelihood of standardized covariates: value, score, information
    and score residuals at any coefficients."""

    def __init__(self, exog: np.ndarray, time: np.ndarray, event: np.ndarray) -> None:
        order = np.argsort(-np.asarray(time, dtype=float), kind="stable")
        self.order = order
        self.x = np.asarray(exog, dtype=float)[order]
        self.failed = np.asarray(event, dtype=bool)[order]
        times = np.asarray(time, dtype=float)[order]
        # time groups, latest first: a group's risk set is every row of it and before
        self.group = np.unique(-times, return_inverse=True)[1]
        self.n_groups = int(self.group.max()) + 1 if len(times) else 0
        self.deaths = np.bincount(self.group, weights=self.failed, minlength=self.n_groups)
        fails = np.flatnonzero(self.failed)
        first = np.searchsorted(self.group[fails], self.group[fails], side="left")
        # each failure's place among the failures of its group: Efron's r / d
        self.fraction = (np.arange(len(fails)) - first) / self.deaths[self.group[fails]]
        self.fails = fails

    def _weights(self, beta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The linear predictor, its largest value, and exp(predictor - largest)."""
        eta = self.x @ beta
        shift = float(eta.max())
        return eta, shift, np.exp(eta - shift)

    def _efron_sums(self, values: np.ndarray) -> np.ndarray:
        """Per failure, the sum of ``values`` (rows × any trailing shape) over its risk
        set less its share r/d of the failures tied with it (Efron's correction)."""
        g, k = self.group, self.n_groups
        at_risk = np.cumsum(_group_sum(g, values, k), axis=0)
        tied = _group_sum(g[self.failed], values[self.failed], k)
        gf = g[self.fails]
        r = self.fraction.reshape(-1, *[1] * (values.ndim - 1))
        return at_risk[gf] - r * tied[gf]

    def loglike(self, beta: np.ndarray) -> float:
        eta, shift, w = self._weights(beta)
        den = self._efron_sums(w)
        if np.any(den <= 0):  # a step so long the risk sets underflow: not taken
            return -np.inf
        return float(eta[self.fails].sum() - (np.log(den) + shift).sum())

    def derivatives(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score (p,) and observed information (p × p)."""
        _, _, w = self._weights(beta)
        x = self.x
        den = self._efron_sums(w)
        mean = self._efron_sums(w[:, None] * x) / den[:, None]
        second = self._efron_sums(w[:, None, None] * x[:, :, None] * x[:, None, :])
        score = x[self.fails].sum(axis=0) - mean.sum(axis=0)
        information = (second / den[:, None, None]).sum(axis=0) - mean.T @ mean
        return score, information

    def score_residuals(self, beta: np.ndarray) -> np.ndarray:
        """Per row (in the caller's order) its share of the score, with Efron's weights:
        δᵢ(xᵢ - x̄ of its failure time) - Σ over the risk sets it is in of its expected
        share. They sum to the score."""
        _, _, w = self._weights(beta)
        k, gf, r = self.n_groups, self.group[self.fails], self.fraction
        den = self._efron_sums(w)
        mean = self._efron_sums(w[:, None] * self.x) / den[:, None]
        hazard = np.bincount(gf, weights=1 / den, minlength=k)
        weighted = _group_sum(gf, mean / den[:, None], k)
        own_hazard = np.bincount(gf, weights=(1 - r) / den, minlength=k)
        own_weighted = _group_sum(gf, (1 - r)[:, None] * mean / den[:, None], k)
        average = _group_sum(gf, mean, k) / np.maximum(self.deaths, 1)[:, None]
        # groups after a row's own (earlier times) in the latest-first order
        later_hazard = np.concatenate([np.cumsum(hazard[::-1])[::-1][1:], [0.0]])
        later_weighted = np.concatenate([np.cumsum(weighted[::-1], axis=0)[::-1][1:],
                                         np.zeros((1, self.x.shape[1]))])
        g = self.group
        rate = later_hazard[g] + np.where(self.failed, own_hazard[g], hazard[g])
        centre = later_weighted[g] + np.where(self.failed[:, None], own_weighted[g],
                                              weighted[g])
        residuals = self.failed[:, None] * (self.x - average[g]) \
            - w[:, None] * (self.x * rate[:, None] - centre)
        out = np.empty_like(residuals)
        out[self.order] = residuals
        return out


def fit_cox(exog: np.ndarray, time: np.ndarray, event: np.ndarray,
            groups: np.ndarray | None = None) -> CoxFit:
    """Fit a Cox model on ``exog`` (n × p, standardized here); robust errors clustered by
    ``groups`` when given. Never raises on hard data: a separated fit is refitted with
    the ridge penalty and says so."""
    exog = np.asarray(exog, dtype=float).reshape(len(time), -1)
    scale = exog.std(axis=0)
    exog = (exog - exog.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    likelihood = EfronLikelihood(exog, time, event)
    beta, converged, iterations = _newton(likelihood, 0.0)
    penalized = not converged or bool(np.any(np.abs(beta) > SEPARATION))
    if penalized:
        beta, converged, iterations = _newton(likelihood, RIDGE)
    _, information = likelihood.derivatives(beta)
    bread = np.linalg.pinv(information + (RIDGE if penalized else 0.0) * np.eye(len(beta)))
    residuals = likelihood.score_residuals(beta)
    if groups is not None:
        codes = np.unique(groups, return_inverse=True)[1]
        residuals = _group_sum(codes, residuals, int(codes.max()) + 1)
        if len(residuals) > 1:  # the small-sample factor of clustered errors
            residuals = residuals * np.sqrt(len(residuals) / (len(residuals) - 1))
    influence = residuals @ bread
    return CoxFit(beta, influence.T @ influence, influence, bread, converged, penalized,
                  iterations)


def _newton(likelihood: EfronLikelihood, ridge: float) -> tuple[np.ndarray, bool, int]:
    """Maximize the (ridge-penalized) partial likelihood from 0, halving a step until the
    objective rises; converged when the step is below 1e-9 or the rise below 1e-12."""
    p = likelihood.x.shape[1]
    beta = np.zeros(p)

    def objective(b: np.ndarray) -> float:
        return likelihood.loglike(b) - ridge * float(b @ b) / 2

    current = objective(beta)
    for iteration in range(1, _MAX_ITERATIONS + 1):
        score, information = likelihood.derivatives(beta)
        score, information = score - ridge * beta, information + ridge * np.eye(p)
        try:
            step = np.linalg.solve(information, score)
        except np.linalg.LinAlgError:
            step = score / max(float(np.trace(information)), 1.0)
        for _ in range(_MAX_HALVINGS):
            candidate = objective(beta + step)
            if np.isfinite(candidate) and candidate >= current - 1e-12 * abs(current):
                break
            step = step / 2
        else:
            return beta, False, iteration
        beta, rise, current = beta + step, candidate - current, candidate
        if np.max(np.abs(step)) < 1e-9 or abs(rise) < 1e-12 * max(abs(current), 1.0):
            return beta, True, iteration
        if np.any(np.abs(beta) > 4 * SEPARATION):
            return beta, False, iteration
    return beta, False, _MAX_ITERATIONS


def _group_sum(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``values``' rows (any trailing shape) per code."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.bincount(codes, weights=column, minlength=size)
                    for column in flat.T], axis=1) if flat.shape[1] else np.zeros((size, 0))
    return out.reshape((size, *values.shape[1:]))
