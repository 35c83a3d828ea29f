"""Statistics of right-censored lifespans: products still in service are data.

Direction convention everywhere: **positive = longer lifespan** (a lower hazard).

* :func:`lifespan_scores`: minus the martingale residuals of the null Cox model,
  Λ̂(Tᵢ) - δᵢ (Nelson–Aalen; tied times share one increment). They sum to zero and are
  the log-rank scores. Discovery correlates an attribute's ranks with the scores
  themselves, not with their ranks: that correlation is the Cox score (log-rank)
  statistic of the attribute's ranks, whose sign is the Cox coefficient's, and its
  permutation null costs what Spearman's does ((time, event) pairs move together).
  Ranking the scores would not do: at heavy censoring every failure scores below every
  censored row, and the ranks mostly order follow-up time.
* :func:`censored_association`, the holdout test: effect, interval and p from one
  model. Without covariates Somers' D = 2C - 1 of Harrell's concordance (lifelines'
  convention: positive when a higher value goes with a longer life; ties in the
  attribute count ½; two failures at the same time are not comparable; a product
  censored when another failed outlived it) with its infinitesimal-jackknife error
  (:mod:`embaudit.hypotheses.concordance`, O(n log² n)); given covariates minus the
  Cox coefficient per SD with its robust error (:mod:`embaudit.hypotheses.cox`, Efron
  ties, a fit that converges on heavy tails and says when it had to be penalized).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from embaudit.data.table import Table
from embaudit.hypotheses.concordance import concordance_test
from embaudit.hypotheses.cox import RIDGE, fit_cox
from embaudit.hypotheses.inference import (
    HoldoutAssociation,
    family_omnibus,
    holdout_association,
)
from embaudit.hypotheses.resampled import permutation_null


def lifespan_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Λ̂(Tᵢ) - δᵢ: higher for longer (or longer-followed) lifespans; see the module."""
    event = np.asarray(event, dtype=float)
    inverse, deaths, at_risk = _risk_sets(time, event)
    cumulative_hazard = np.cumsum(deaths / at_risk)
    return cumulative_hazard[inverse] - event


def _risk_sets(time: np.ndarray, event: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's distinct-time index, and per distinct time (ascending) the failures
    then and the rows still at risk."""
    unique, inverse = np.unique(np.asarray(time, dtype=float), return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=len(unique))
    exits = np.bincount(inverse, minlength=len(unique))
    return inverse, deaths, exits[::-1].cumsum()[::-1]


def split_scores(time: np.ndarray, event: np.ndarray, parts: list[np.ndarray]
                 ) -> np.ndarray:
    """Lifespan scores of each part of a split (e.g. discovery and holdout rows), each
    from its own rows only, so nothing of one part enters the other's scores."""
    scores = np.full(len(time), np.nan)
    for rows in parts:
        scores[rows] = lifespan_scores(time[rows], event[rows])
    return scores


def concordance(values: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C of ``values`` with the lifespans (NaN without comparable pairs)."""
    return concordance_test(values, time, event).c


@dataclass(frozen=True)
class CensoredEffect:
    """One attribute's holdout test: the effect (positive = longer life), its standard
    error and influence per row (or group), and why it could not be tested ('' if it
    could); ``note`` says how, when that needs saying (a penalized Cox fit)."""

    effect: float
    se: float
    influence: np.ndarray
    reason: str = ""
    note: str = ""


#: up to this many groups a clustered error is the leave-one-group-out jackknife (the
#: infinitesimal jackknife and the sandwich reject too often with few groups: 6 % at 5 %
#: with 20, benchmarks/censored_tests.py); beyond, the infinitesimal one
JACKKNIFE_GROUPS = 200


def somers_d_effect(values: np.ndarray, time: np.ndarray, event: np.ndarray,
                    groups: np.ndarray | None = None) -> CensoredEffect:
    """Somers' D with its infinitesimal-jackknife error; with ``groups``, the
    leave-one-group-out jackknife's (up to :data:`JACKKNIFE_GROUPS` groups)."""
    found = concordance_test(values, time, event, groups)
    if not np.isfinite(found.d) or not found.se > 0:
        return CensoredEffect(np.nan, np.nan, found.influence,
                              "no pair of rows where one outlived the other's failure"
                              if found.pairs == 0 else "every comparable pair is tied")
    jackknifed = None if groups is None else _group_jackknife(
        lambda keep: concordance_test(values[keep], time[keep], event[keep]).d, groups)
    if jackknifed is not None:
        return CensoredEffect(found.d, *jackknifed)
    return CensoredEffect(found.d, found.se, found.influence)


def cox_effect(values: np.ndarray, time: np.ndarray, event: np.ndarray,
               covariates: np.ndarray, groups: np.ndarray | None = None) -> CensoredEffect:
    """Minus the Cox coefficient of ``values`` per SD given ``covariates`` (a log hazard
    ratio: positive = longer life; :mod:`embaudit.hypotheses.cox`). Its error: with
    ``groups`` the leave-one-group-out jackknife's (up to :data:`JACKKNIFE_GROUPS`
    groups, else the clustered sandwich); without, the larger of the robust and the
    model-based errors (the sandwich alone rejects too often with few failures)."""
    design = np.column_stack([values, covariates])
    standardized = (design - design.mean(axis=0)) / design.std(axis=0)
    residual = standardized[:, 0] - standardized[:, 1:] @ np.linalg.lstsq(
        standardized[:, 1:], standardized[:, 0], rcond=None)[0]
    if residual.std() < 1e-6:
        return CensoredEffect(np.nan, np.nan, np.zeros(0), "the covariates determine it")
    fit = fit_cox(design, time, event, groups)
    note = f"Cox fit with ridge penalty {RIDGE:g} (the rows separate)" if fit.penalized \
        else ""
    robust = float(fit.covariance[0, 0])
    if not fit.converged or not robust > 0:
        return CensoredEffect(np.nan, np.nan, fit.influence[:, 0],
                              "the Cox model did not converge", note)
    effect = -float(fit.coefficients[0])
    if groups is not None:
        scale = values.std()

        def refit(keep: np.ndarray) -> float:
            again = fit_cox(design[keep], time[keep], event[keep])
            return -float(again.coefficients[0]) * scale / values[keep].std() \
                if again.converged and values[keep].std() > 0 else np.nan

        jackknifed = _group_jackknife(refit, groups)
        if jackknifed is not None:
            return CensoredEffect(effect, *jackknifed, note=note)
        return CensoredEffect(effect, np.sqrt(robust), -fit.influence[:, 0], note=note)
    variance = max(robust, float(fit.model_covariance[0, 0]))
    return CensoredEffect(effect, np.sqrt(variance),
                          -fit.influence[:, 0] * np.sqrt(variance / robust), note=note)


def _group_jackknife(estimate: Callable[[np.ndarray], float], groups: np.ndarray
                     ) -> tuple[float, np.ndarray] | None:
    """The leave-one-group-out jackknife error of ``estimate`` (a function of the rows
    kept) and each group's pseudo-influence (their cross-products give covariances);
    None with more than :data:`JACKKNIFE_GROUPS` groups, fewer than 3, or a group whose
    removal leaves nothing to estimate."""
    codes = np.unique(groups, return_inverse=True)[1]
    size = int(codes.max()) + 1
    if not 3 <= size <= JACKKNIFE_GROUPS:
        return None
    left_out = np.array([estimate(codes != g) for g in range(size)])
    if not np.isfinite(left_out).all():
        return None
    influence = np.sqrt((size - 1) / size) * (left_out - left_out.mean())
    se = float(np.sqrt((influence**2).sum()))
    return (se, influence) if se > 0 else None


def one_sided(z: np.ndarray, df: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """p of "longer lifespan" (z > 0 side) and of "shorter", from a standard normal z
    (Student's t with ``df`` degrees of freedom when finite); NaN stays NaN, and p never
    reaches 0."""
    tiny = np.finfo(float).tiny
    positive = np.where(np.isnan(z), np.nan, np.maximum(stats.t.sf(z, df), tiny))
    negative = np.where(np.isnan(z), np.nan, np.maximum(stats.t.cdf(z, df), tiny))
    return positive, negative


def censored_association(
    attributes: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    groups: np.ndarray | None = None,
    families: np.ndarray | None = None,
    n_permutations: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> HoldoutAssociation:
    """Test every attribute column against censored lifespans on the holdout rows.

    One model gives each column's effect, interval and p, so they cannot disagree:
    without covariates the effect is Somers' D (positive: longer life with a higher
    value) with its infinitesimal-jackknife error; given ``covariates`` it is minus the
    Cox coefficient per SD (a log hazard ratio) with the larger of its robust and
    model-based errors; with ``groups`` both take the leave-one-group-out jackknife's
    error (:func:`somers_d_effect`, :func:`cox_effect`). z = effect / error is referred
    to Student's t with G - 1 degrees of freedom for G groups, else with the failures
    less one per parameter; the interval is effect ± the same quantile times the error.
    A column that cannot be tested has NaN and its reason in words (``reasons``).
    ``null`` (``n_permutations`` > 0, for max-T) is the permutation null of the
    correlation of the attribute's ranks with the lifespan scores (the discovery
    statistic), permuted as (time, event) pairs.
    """
    covariates = None if covariates is None or covariates.shape[1] == 0 else \
        covariates[:, np.ptp(covariates, axis=0) > 0]
    covariates = covariates if covariates is not None and covariates.shape[1] else None
    event = np.asarray(event, dtype=bool)
    q = attributes.shape[1]
    clusters = len(time) if groups is None else len(np.unique(groups))
    effects = [CensoredEffect(np.nan, np.nan, np.zeros(0), "no failure among these rows")
               if not event.any() else
               CensoredEffect(np.nan, np.nan, np.zeros(0), "one group on these rows: a "
                              "test clustered by group needs two or more")
               if clusters < 2 else
               CensoredEffect(np.nan, np.nan, np.zeros(0), "constant on these rows")
               if np.ptp(attributes[:, column]) == 0 else
               somers_d_effect(attributes[:, column], time, event, groups)
               if covariates is None else
               cox_effect(attributes[:, column], time, event, covariates, groups)
               for column in range(q)]
    effect = np.array([e.effect for e in effects])
    se = np.array([e.se for e in effects])
    # small samples: the t reference with G - 1 degrees of freedom for G groups, else
    # with the failures less one per parameter
    df = max(clusters - 1, 1) if groups is not None else max(
        int(event.sum()) - 1 - (0 if covariates is None else covariates.shape[1]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = effect / se
    p_positive, p_negative = one_sided(z, df)
    half = stats.t.ppf((1 + confidence) / 2, df) * se
    bound = 1.0 if covariates is None else np.inf
    influence = np.zeros((clusters, q))
    for column, e in enumerate(effects):
        if len(e.influence) == clusters and np.isfinite(e.effect):
            influence[:, column] = e.influence
    statistic, null = None, np.zeros((0, q))
    if n_permutations:
        statistic, null = permutation_null(attributes, lifespan_scores(time, event),
                                           covariates, n_permutations, seed + 1,
                                           ranked=False)
    return HoldoutAssociation(
        effect, p_positive, p_negative, len(time),
        np.maximum(effect - half, -bound), np.minimum(effect + half, bound), null,
        n_covariates=0 if covariates is None else covariates.shape[1],
        confidence=confidence, statistic=statistic, grouped=groups is not None,
        family_p=None if families is None else family_omnibus(
            attributes, time, families, p_positive, p_negative, plain=False),
        effect_name="Somers' D" if covariates is None else "log hazard ratio per SD",
        standard_error=se, influence=influence, events=int(event.sum()),
        reasons=tuple(e.reason for e in effects), notes=tuple(e.note for e in effects))


def interval_level(alpha: float) -> float:
    """The two-sided level of a censored holdout interval tested one-sided at ``alpha``:
    1 - 2α, whose bounds are the test's, so a bound excludes 0 exactly when p < α."""
    return 1 - 2 * alpha


def lifespan_association(table: Table, rows: np.ndarray, attributes: np.ndarray,
                         covariates: np.ndarray | None, families: np.ndarray | None, *,
                         n_resamples: int, n_permutations: int, max_t: bool,
                         confidence: float, seed: int, alpha: float | None = None
                         ) -> HoldoutAssociation:
    """The holdout test of ``attributes`` (already restricted to ``rows``) against the
    lifespans of ``table``'s ``rows``: :func:`censored_association` with an event column
    (its interval comes from the test's own error, ``n_resamples`` is not used, and with
    ``alpha`` it is the one-sided test's at that level: two-sided 1 - 2α, so a bound
    excludes 0 exactly when p < α), else
    :func:`~embaudit.hypotheses.inference.holdout_association`. The resampling null
    (``n_permutations`` draws) is drawn where it decides something: for max-T, and for
    the wild cluster bootstrap of a group column without censoring."""
    groups = None if table.groups is None else table.groups[rows]
    if table.events is not None:
        return censored_association(
            attributes, table.lifespan[rows], table.events[rows], covariates, groups=groups,
            families=families, n_permutations=n_permutations if max_t else 0,
            confidence=confidence if alpha is None else interval_level(alpha), seed=seed)
    return holdout_association(
        attributes, table.y[rows], covariates, groups=groups, families=families,
        n_resamples=n_resamples,
        n_permutations=n_permutations if max_t or groups is not None else 0,
        confidence=confidence, seed=seed)
