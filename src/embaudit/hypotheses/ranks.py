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


def spearman_matrix(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Spearman correlation of every column of ``left`` with every column of ``right``.

    ``left`` is (n × k) and ``right`` (n × m); returns (k × m). A constant column
    correlates 0 with everything.
    """
    left = left.reshape(len(left), -1)
    right = right.reshape(len(right), -1)
    return standardized_ranks(left).T @ standardized_ranks(right)
