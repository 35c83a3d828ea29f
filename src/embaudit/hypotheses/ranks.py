"""Vectorized Spearman correlations (Pearson correlations of average ranks)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def standardized_ranks(values: np.ndarray) -> np.ndarray:
    """Column-wise average ranks, centred and scaled to unit norm (constant → 0)."""
    ranks = rankdata(values, axis=0).astype(np.float64)
    ranks -= ranks.mean(axis=0)
    norm = np.sqrt((ranks**2).sum(axis=0))
    return np.divide(ranks, norm, out=np.zeros_like(ranks), where=norm > 0)


def standardized(values: np.ndarray) -> np.ndarray:
    """Column-wise values, centred and scaled to unit norm (constant → 0)."""
    centred = np.asarray(values, dtype=np.float64) - np.mean(values, axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)


def residual_ranks(values: np.ndarray, covariates: np.ndarray | None,
                   ranked: bool = True) -> np.ndarray:
    """Standardized ranks residualized on the covariates' ranks, rescaled to unit norm:
    the inputs of a partial Spearman correlation (a column they determine → 0).
    ``ranked=False`` uses the values as they are (scores, such as censored lifespans'
    log-rank scores, whose size matters)."""
    scaled = standardized_ranks(values) if ranked else standardized(values)
    if covariates is None or covariates.shape[1] == 0:
        return scaled
    ranked_c = standardized_ranks(covariates)
    residual = scaled - ranked_c @ (np.linalg.pinv(ranked_c) @ scaled)  # pinv: rank-safe
    norm = np.sqrt((residual**2).sum(axis=0))
    return np.divide(residual, norm, out=np.zeros_like(residual), where=norm > 1e-9)


def spearman_matrix(left: np.ndarray, right: np.ndarray,
                    covariates: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlation of every column of ``left`` with every column of ``right``
    (partial Spearman, controlling for ``covariates``, when given).

    ``left`` is (n × k) and ``right`` (n × m); returns (k × m). A constant column
    correlates 0 with everything.
    """
    left = left.reshape(len(left), -1)
    right = right.reshape(len(right), -1)
    return residual_ranks(left, covariates).T @ residual_ranks(right, covariates)


def outcome_correlations(left: np.ndarray, outcome: np.ndarray,
                         covariates: np.ndarray | None = None, ranked: bool = True
                         ) -> np.ndarray:
    """(Partial) correlation of the ranks of every column of ``left`` (n × k) with
    ``outcome`` (n,): Spearman's when ``ranked``, else with the outcome's values (k,)."""
    left = left.reshape(len(left), -1)
    return residual_ranks(left, covariates).T @ residual_ranks(outcome[:, None], covariates,
                                                                ranked)[:, 0]


def rank_basis(covariates: np.ndarray | None, n: int) -> np.ndarray:
    """Orthonormal basis (n × c) of the constant and the covariates' ranks: what a partial
    Spearman correlation removes (rank-safe: collinear covariates add nothing)."""
    columns = [np.ones((n, 1))]
    if covariates is not None and covariates.shape[1]:
        columns.append(standardized_ranks(covariates))
    u, s, _ = np.linalg.svd(np.column_stack(columns), full_matrices=False)
    return u[:, s > 1e-10 * s.max()]
