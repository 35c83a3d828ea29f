"""Resampling statistics on fixed data: label permutations and row bootstraps, vectorized.

Ranks are computed once and permuted (the ranks of a permuted vector are the permuted
ranks), so each permutation of the lifespans costs one GEMV per axis or attribute:
10,000 permutations × 50 attributes × 16 axes are a few GEMMs. Two uses:

* :func:`permutation_strengths`: the discovery strength T of every attribute on a
  *fixed* embedding under permuted lifespans. Valid on rows the network never saw; on
  its training rows it is the naive screening this tool exists to correct (the network
  memorised the real lifespans, not the permuted ones).
* :func:`permutation_null`: the null of attribute vs lifespan on the holdout, for
  one-sided permutation p-values and their Westfall–Young single-step max-T adjustment
  (``correction = "maxt"``). With covariates, residualized lifespan ranks are permuted
  (Freedman–Lane).

:func:`bootstrap_effects` resamples rows for percentile intervals of the (partial)
Spearman effect (:func:`bootstrap_interval`).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from embaudit.hypotheses.ranks import residual_ranks, standardized_ranks

#: permutations or resamples computed per block (bounds memory at ~100 MB)
_BLOCK_ELEMENTS = 12_000_000


def permutation_indices(n: int, n_permutations: int, rng: np.random.Generator,
                        blocks: np.ndarray | None = None) -> np.ndarray:
    """``(n_permutations, n)`` independent uniform permutations of ``range(n)``; with
    ``blocks`` (an integer code per position), each moves positions only within their
    block (groups or strata)."""
    if blocks is None:
        return rng.permuted(np.broadcast_to(np.arange(n), (n_permutations, n)), axis=1)
    # both orders list the positions block by block (blocks in the same order, same
    # sizes): in index order, and shuffled within each block; pairing them permutes
    # within blocks only
    in_order = np.argsort(blocks, kind="stable")
    shuffled = np.argsort(blocks[None, :] + rng.random((n_permutations, n)), axis=1)
    out = np.empty((n_permutations, n), dtype=np.int64)
    out[:, in_order] = shuffled
    return out


def block_slices(total: int, per_item: int) -> list[slice]:
    """Slices of ``range(total)``: items of ``per_item`` elements each, ~100 MB a slice."""
    size = max(1, _BLOCK_ELEMENTS // max(per_item, 1))
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]


def permutation_strengths(
    embedding: np.ndarray,
    attributes: np.ndarray,
    lifespan: np.ndarray,
    n_permutations: int = 10_000,
    seed: int = 0,
    live: np.ndarray | None = None,
    ranked: bool = True,
) -> np.ndarray:
    """Null strengths ``max_j |r_ja · r_jy|`` per attribute under permuted lifespans
    (``ranked=False``: lifespan scores correlated as they are, for censored lifespans).

    Whole-axis discovery on a fixed embedding (n × k) with attributes (n × q); returns
    ``(n_permutations, q)``. Dead axes (``live`` False) carry no trend.
    """
    E = standardized_ranks(embedding)
    if live is not None:
        E[:, ~live] = 0.0
    r_attribute = E.T @ standardized_ranks(attributes)  # (k, q), fixed under permutation
    ranked_y = residual_ranks(lifespan[:, None], None, ranked)[:, 0]
    rng = np.random.default_rng(seed)
    n, q = len(lifespan), r_attribute.shape[1]
    out = np.empty((n_permutations, q))
    for block in block_slices(n_permutations, n + r_attribute.size):
        permuted = ranked_y[permutation_indices(n, block.stop - block.start, rng)]
        r_lifespan = permuted @ E  # (b, k)
        products = np.abs(r_lifespan[:, :, None] * r_attribute[None, :, :])
        out[block] = products.max(axis=1)
    return out


def permutation_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """p = (1 + #{T_null ≥ T}) / (M + 1) per column; ``null`` is (M × q). A NaN
    statistic (untestable) gets a NaN p."""
    exceed = (null >= observed[None, :] - 1e-12).sum(axis=0)
    return np.where(np.isnan(observed), np.nan, (1.0 + exceed) / (null.shape[0] + 1.0))


def max_t_p_values(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Single-step Westfall–Young max-T adjusted p-values (family-wise control).

    NaN columns (untestable) neither enter the maxima nor get a p-value.
    """
    maxima = np.nanmax(null, axis=1) if np.isfinite(null).any() else np.full(len(null), -np.inf)
    exceed = (maxima[:, None] >= observed[None, :] - 1e-12).sum(axis=0)
    return np.where(np.isfinite(observed), (1.0 + exceed) / (null.shape[0] + 1.0), np.nan)


def permutation_null(
    attributes: np.ndarray,
    lifespan: np.ndarray,
    covariates: np.ndarray | None = None,
    n_permutations: int = 9_999,
    seed: int = 0,
    ranked: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(Partial) Spearman(a, y) per column and its permutation null ``(R, q)``
    (``ranked=False``: with y's values, such as log-rank scores, not its ranks).

    Lifespan ranks are permuted; with covariates, their residuals on the covariates
    are permuted, residualized again and rescaled (Freedman–Lane). Columns constant on
    these rows, or determined by the covariates, are NaN. Sign the statistic and its
    null by a claimed direction for one-sided p-values (:func:`permutation_p_values`,
    :func:`max_t_p_values`).
    """
    A = residual_ranks(attributes, covariates)
    y = residual_ranks(lifespan[:, None], covariates, ranked)[:, 0]
    testable = np.abs(A).sum(axis=0) > 0
    observed = np.where(testable, y @ A, np.nan)
    basis = _column_basis(standardized_ranks(covariates)) if covariates is not None \
        else np.zeros((len(y), 0))
    rng = np.random.default_rng(seed)
    null = np.empty((n_permutations, A.shape[1]))
    for block in block_slices(n_permutations, len(y)):
        permuted = y[permutation_indices(len(y), block.stop - block.start, rng)]
        # A ⟂ covariates, so only the norm of the re-residualized lifespans changes
        norm = np.sqrt(np.clip(1.0 - ((permuted @ basis) ** 2).sum(axis=1), 1e-12, None))
        null[block] = (permuted @ A) / norm[:, None]
    null[:, ~testable] = np.nan
    return observed, null


def _column_basis(matrix: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space (rank-safe)."""
    if matrix.shape[1] == 0:
        return matrix
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    return u[:, s > 1e-10 * max(s.max(), 1e-300)]


def bootstrap_interval(
    attributes: np.ndarray,
    lifespan: np.ndarray,
    covariates: np.ndarray | None = None,
    n_resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval of (partial) Spearman(a, y) per column, resampling
    rows with replacement (ranks recomputed in every resample); see
    :func:`percentile_interval`."""
    return percentile_interval(
        bootstrap_effects(attributes, lifespan, covariates, n_resamples, seed),
        np.ptp(attributes, axis=0) == 0, confidence)


def bootstrap_effects(
    attributes: np.ndarray,
    lifespan: np.ndarray,
    covariates: np.ndarray | None = None,
    n_resamples: int = 2_000,
    seed: int = 0,
) -> np.ndarray:
    """(Partial) Spearman(a, y) per column on ``n_resamples`` row resamples (with
    replacement): ``(n_resamples, q)``, NaN where a resample leaves a column constant."""
    n, q = attributes.shape
    rng = np.random.default_rng(seed)
    effects = np.empty((n_resamples, q))
    width = q + 1 + (0 if covariates is None else covariates.shape[1])
    for block in block_slices(n_resamples, n * width):
        index = rng.integers(0, n, size=(block.stop - block.start, n))
        effects[block] = _resampled_spearman(attributes[index], lifespan[index],
                                             None if covariates is None else covariates[index])
    return effects


def percentile_interval(effects: np.ndarray, constant: np.ndarray, confidence: float = 0.95
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column of resampled effects ``(R, q)``.

    NaN for columns constant on the rows (``constant``), and for columns constant (or
    determined by the covariates) in more than 5% of the resamples, such as a rare binary
    level, whose percentiles would be biased.
    """
    tail = (1 - confidence) / 2 * 100
    untestable = constant | (np.isnan(effects).mean(axis=0) > 0.05)
    effects = np.where(untestable[None, :], 0.0, effects)
    low, high = np.nanpercentile(effects, [tail, 100 - tail], axis=0)
    return np.where(untestable, np.nan, low), np.where(untestable, np.nan, high)


def containing(low: np.ndarray, high: np.ndarray, estimate: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """An interval widened, where needed, to contain its estimate: a percentile interval
    of a skewed resampling distribution can miss the estimate it is reported beside.
    NaN bounds (no interval) stay NaN."""
    return (np.where(np.isnan(low), np.nan, np.fmin(low, estimate)),
            np.where(np.isnan(high), np.nan, np.fmax(high, estimate)))


def _resampled_spearman(A: np.ndarray, y: np.ndarray, covariates: np.ndarray | None
                        ) -> np.ndarray:
    """Spearman (partial given covariates) per resample: A (b, n, q), y (b, n) → (b, q)."""
    ranked_a = rankdata(A, axis=1)
    ranked_y = rankdata(y, axis=1)[:, :, None]
    ranked_a -= ranked_a.mean(axis=1, keepdims=True)
    ranked_y -= ranked_y.mean(axis=1, keepdims=True)
    before = (ranked_a**2).sum(axis=1) * (ranked_y**2).sum(axis=1)
    if covariates is not None and covariates.shape[2] > 0:
        ranked_c = rankdata(covariates, axis=1)
        ranked_c -= ranked_c.mean(axis=1, keepdims=True)
        solve = np.linalg.pinv(ranked_c)  # rank-safe when a resample repeats one value
        ranked_a -= ranked_c @ (solve @ ranked_a)
        ranked_y -= ranked_c @ (solve @ ranked_y)
    numerator = (ranked_a * ranked_y).sum(axis=1)
    denominator = np.sqrt((ranked_a**2).sum(axis=1) * (ranked_y**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):  # relative: rank scale grows with n
        return np.where(denominator > 1e-6 * np.sqrt(before), numerator / denominator, np.nan)
