"""Statistics of right-censored lifespans: products still in service are data.

Direction convention everywhere: **positive = longer lifespan** (a lower hazard).

* :func:`lifespan_scores`: minus the martingale residuals of the null Cox model,
  Λ̂(Tᵢ) - δᵢ (Nelson–Aalen; tied times share one increment). They sum to zero, they are
  the log-rank scores, and without censoring they are the Savage scores, a monotone
  function of the lifespans' ranks. Discovery ranks them where it ranks lifespans
  without censoring, so every rank statistic and its permutation machinery carry over:
  a product censored at t ranks above one that failed at t, and permutations move
  (time, event) pairs together.
* :func:`concordance`: Harrell's C of an attribute with the lifespans (lifelines'
  convention: C > 0.5 when a higher value goes with a longer life; ties in the
  attribute count ½; two failures at the same time are not comparable; a product
  censored when another failed outlived it). The holdout effect is Somers'
  D = 2C - 1, in [-1, 1] as Spearman's ρ is.
* :func:`signed_logrank`: the log-rank test of a binary attribute, signed.
* :func:`cox_wald`: a Cox model's Wald z of one attribute, partial given covariates,
  robust (sandwich) errors, Efron ties (statsmodels ``PHReg``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from embaudit.data.table import Table
from embaudit.hypotheses.inference import (
    HoldoutAssociation,
    family_omnibus,
    holdout_association,
)
from embaudit.hypotheses.resampled import (
    block_slices,
    containing,
    percentile_interval,
    permutation_null,
)


def lifespan_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Λ̂(Tᵢ) - δᵢ: higher for longer (or longer-followed) lifespans; see the module."""
    event = np.asarray(event, dtype=float)
    inverse, deaths, at_risk = _risk_sets(time, event)
    cumulative_hazard = np.cumsum(deaths / at_risk)
    return cumulative_hazard[inverse] - event


def _risk_sets(time: np.ndarray, event: np.ndarray, weights: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's distinct-time index, and per distinct time (ascending) the weighted
    failures then and the weighted rows still at risk (all rows by default)."""
    unique, inverse = np.unique(np.asarray(time, dtype=float), return_inverse=True)
    weights = np.ones(len(inverse)) if weights is None else np.asarray(weights, dtype=float)
    deaths = np.bincount(inverse, weights=event * weights, minlength=len(unique))
    exits = np.bincount(inverse, weights=weights, minlength=len(unique))
    return inverse, deaths, exits[::-1].cumsum()[::-1]


def split_scores(time: np.ndarray, event: np.ndarray, parts: list[np.ndarray]
                 ) -> np.ndarray:
    """Lifespan scores of each part of a split (e.g. discovery and holdout rows), each
    from its own rows only, so nothing of one part enters the other's scores."""
    scores = np.full(len(time), np.nan)
    for rows in parts:
        scores[rows] = lifespan_scores(time[rows], event[rows])
    return scores


def comparable_pairs(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """(n × n) booleans: [i, j] when j failed first and i outlived it (left later, or
    was censored at j's failure time)."""
    time = np.asarray(time, dtype=float)
    failed = np.asarray(event, dtype=bool)
    later = time[:, None] > time[None, :]
    censored_then = (time[:, None] == time[None, :]) & ~failed[:, None]
    return (later | censored_then) & failed[None, :]


def concordance(values: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Harrell's C of ``values`` with the lifespans (NaN without comparable pairs)."""
    pairs = comparable_pairs(time, event)
    values = np.asarray(values, dtype=float)
    order = np.sign(values[:, None] - values[None, :])
    total = pairs.sum()
    if total == 0:
        return float("nan")
    return float(((order[pairs] + 1) / 2).sum() / total)


def somers_d(attributes: np.ndarray, time: np.ndarray, event: np.ndarray,
             weights: np.ndarray | None = None) -> np.ndarray:
    """Somers' D = 2C - 1 of every attribute column: (q,) or, with row ``weights``
    (R × n, e.g. bootstrap multiplicities), (R × q). A pair's weight is the product of
    its rows' weights, so a resample counts its repeated rows as the copies they are.
    NaN where no comparable pair has weight, or the column is constant."""
    pairs = comparable_pairs(time, event).astype(float)
    single = weights is None
    W = np.ones((1, len(time))) if single else np.asarray(weights, dtype=float)
    denominator = np.einsum("ri,ij,rj->r", W, pairs, W)
    out = np.empty((len(W), attributes.shape[1]))
    for column in range(attributes.shape[1]):
        a = attributes[:, column]
        signed = pairs * np.sign(a[:, None] - a[None, :])
        out[:, column] = np.einsum("ri,ij,rj->r", W, signed, W)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = out / denominator[:, None]
    d[:, np.ptp(attributes, axis=0) == 0] = np.nan
    return d[0] if single else d


def bootstrap_somers_d(attributes: np.ndarray, time: np.ndarray, event: np.ndarray,
                       n_resamples: int, seed: int, groups: np.ndarray | None = None
                       ) -> np.ndarray:
    """Somers' D on ``n_resamples`` resamples with replacement: (R × q). Rows are
    resampled, or whole ``groups`` when given (a group drawn twice counts its rows
    twice). Its cost grows as resamples × n², fine for holdouts of several thousand
    rows."""
    n = len(time)
    codes = np.arange(n) if groups is None else np.unique(groups, return_inverse=True)[1]
    units = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, attributes.shape[1]))
    for block in block_slices(n_resamples, n * n):
        counts = np.stack([np.bincount(rng.integers(0, units, units), minlength=units)[codes]
                           for _ in range(block.stop - block.start)])
        draws[block] = somers_d(attributes, time, event, counts)
    return draws


def signed_logrank(group: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Log-rank z of a binary attribute, positive when the group coded 1 lives longer
    (fewer failures than expected); its square is the log-rank χ²."""
    group = np.asarray(group, dtype=float)
    event = np.asarray(event, dtype=float)
    _, deaths, at_risk = _risk_sets(time, event)
    _, deaths_1, at_risk_1 = _risk_sets(time, event, group)
    expected_1 = deaths * at_risk_1 / at_risk
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(at_risk > 1, deaths * (at_risk_1 / at_risk) * (1 - at_risk_1 / at_risk)
                            * (at_risk - deaths) / (at_risk - 1), 0.0)
    total = variance.sum()
    if total <= 0:
        return float("nan")
    return float((expected_1.sum() - deaths_1.sum()) / np.sqrt(total))


def cox_wald(attribute: np.ndarray, time: np.ndarray, event: np.ndarray,
             covariates: np.ndarray | None = None, groups: np.ndarray | None = None
             ) -> float:
    """Wald z of ``attribute`` in a Cox model (with ``covariates``), Efron ties, robust
    (sandwich) errors, clustered by ``groups`` when given; positive when a higher value
    goes with a longer life (a negative log-hazard coefficient). NaN when the model
    cannot be fitted (e.g. no failures)."""
    exog = attribute[:, None] if covariates is None else np.column_stack([attribute,
                                                                          covariates])
    scale = exog.std(axis=0)
    if scale[0] == 0 or not np.any(event):
        return float("nan")
    exog = (exog - exog.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    model = PHReg(time, exog, status=np.asarray(event, dtype=float), ties="efron")
    try:
        params = model.fit(disp=False).params
        # the sandwich by hand: statsmodels' score residuals are NaN (0/0) for rows
        # censored before the first failure, whose true residual is 0
        residuals = np.nan_to_num(model.score_residuals(params))
        if groups is not None:
            codes = np.unique(groups, return_inverse=True)[1]
            residuals = np.stack([np.bincount(codes, weights=r) for r in residuals.T], 1)
        bread = np.linalg.inv(-model.hessian(params))
        variance = (bread @ residuals.T @ residuals @ bread)[0, 0]
    except (np.linalg.LinAlgError, ValueError):
        return float("nan")
    z = -params[0] / np.sqrt(variance) if variance > 0 else np.nan
    return float(z) if np.isfinite(z) else float("nan")


def one_sided(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p of "longer lifespan" (z > 0 side) and of "shorter", from a standard normal z;
    NaN stays NaN, and p never reaches 0."""
    tiny = np.finfo(float).tiny
    positive = np.where(np.isnan(z), np.nan, np.maximum(stats.norm.sf(z), tiny))
    negative = np.where(np.isnan(z), np.nan, np.maximum(stats.norm.cdf(z), tiny))
    return positive, negative


def censored_association(
    attributes: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    covariates: np.ndarray | None = None,
    *,
    groups: np.ndarray | None = None,
    families: np.ndarray | None = None,
    n_resamples: int = 2_000,
    n_permutations: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> HoldoutAssociation:
    """Test every attribute column against censored lifespans on the holdout rows.

    The effect is Somers' D (``rho``; positive: longer life with a higher value) with a
    percentile bootstrap interval (``n_resamples`` resamples of rows, or of whole
    groups). The one-sided p comes from the signed log-rank test for a binary column
    without covariates or groups, else from the Cox model's robust Wald z (partial
    given ``covariates``, clustered by ``groups``). ``null`` (``n_permutations`` > 0,
    for max-T) is the permutation null of the correlation of the attribute's ranks
    with the lifespan scores, permuted as (time, event) pairs, and ``statistic`` that
    correlation.
    """
    covariates = None if covariates is None or covariates.shape[1] == 0 else \
        covariates[:, np.ptp(covariates, axis=0) > 0]
    covariates = covariates if covariates is not None and covariates.shape[1] else None
    testable = np.ptp(attributes, axis=0) > 0
    z = np.full(attributes.shape[1], np.nan)
    for column in np.flatnonzero(testable):
        values = attributes[:, column]
        if covariates is None and groups is None and len(np.unique(values)) == 2:
            z[column] = signed_logrank(values == values.max(), time, event)
        else:
            z[column] = cox_wald(values, time, event, covariates, groups)
    p_positive, p_negative = one_sided(z)
    d = somers_d(attributes, time, event)
    low = high = np.full(attributes.shape[1], np.nan)
    resampled = None
    if n_resamples:
        resampled = bootstrap_somers_d(attributes, time, event, n_resamples, seed, groups)
        low, high = containing(*percentile_interval(resampled, ~testable, confidence), d)
    statistic, null = None, np.zeros((0, attributes.shape[1]))
    if n_permutations:
        statistic, null = permutation_null(attributes, lifespan_scores(time, event),
                                           covariates, n_permutations, seed + 1)
    return HoldoutAssociation(
        np.where(testable, d, np.nan), p_positive, p_negative, len(time), low, high, null,
        n_covariates=0 if covariates is None else covariates.shape[1],
        confidence=confidence, statistic=statistic, resampled=resampled,
        grouped=groups is not None,
        family_p=None if families is None else family_omnibus(
            attributes, time, families, p_positive, p_negative, plain=False))


def lifespan_association(table: Table, rows: np.ndarray, attributes: np.ndarray,
                         covariates: np.ndarray | None, families: np.ndarray, *,
                         n_resamples: int, n_permutations: int, max_t: bool,
                         confidence: float, seed: int) -> HoldoutAssociation:
    """The holdout test of ``attributes`` (already restricted to ``rows``) against the
    lifespans of ``table``'s ``rows``: :func:`censored_association` with an event
    column, else :func:`~embaudit.hypotheses.inference.holdout_association`. The
    resampling null (``n_permutations`` draws) is drawn where it decides something: for
    max-T, and for the wild cluster bootstrap of a group column without censoring."""
    groups = None if table.groups is None else table.groups[rows]
    if table.events is not None:
        return censored_association(
            attributes, table.lifespan[rows], table.events[rows], covariates, groups=groups,
            families=families, n_resamples=n_resamples,
            n_permutations=n_permutations if max_t else 0, confidence=confidence, seed=seed)
    return holdout_association(
        attributes, table.y[rows], covariates, groups=groups, families=families,
        n_resamples=n_resamples,
        n_permutations=n_permutations if max_t or groups is not None else 0,
        confidence=confidence, seed=seed)
