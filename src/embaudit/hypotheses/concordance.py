"""Harrell's concordance of an attribute with censored lifespans, in O(n log² n), with
its infinitesimal-jackknife standard error.

Convention (lifelines'): a pair is comparable when one product failed first and the
other outlived it (left later, or was censored at that failure time); two failures at
the same time are not comparable. The pair counts +1 when the product that outlived the
other has the higher attribute value, -1 when the lower, 0 on a tie. Somers'
D = (Σ signs) / (comparable pairs) = 2C - 1: positive when a higher value goes with a
longer life, in [-1, 1] as Spearman's ρ is.

Every row's share of the pairs (how many comparable pairs it is in, and their signed
sum) comes from counting, for each row, the rows before it in time order with a
higher or lower value: a merge-sort count done level by level with numpy sorts and
searches (no loop over rows). Those shares are the derivative of D with respect to
each row's weight, so the infinitesimal jackknife (Efron, 1982; the variance R's
``survival::concordance`` reports) costs nothing more: Var(D) = Σ_k U_k², U_k =
(n_k - D·m_k)/M; with groups the U_k of a group are summed first (the cluster-robust
version, with the G/(G-1) small-sample factor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Concordance:
    """Somers' D of one attribute and its standard error; NaN when no pair is
    comparable or the attribute is constant."""

    d: float
    se: float
    pairs: int  # comparable pairs
    clusters: int  # rows, or groups when the error is clustered
    #: each row's (or group's) influence on D: their cross-products give the covariance
    #: of several attributes' D
    influence: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def c(self) -> float:
        """Harrell's C = (D + 1) / 2."""
        return (self.d + 1) / 2


def concordance_test(values: np.ndarray, time: np.ndarray, event: np.ndarray,
                     groups: np.ndarray | None = None) -> Concordance:
    """Somers' D of ``values`` with the censored lifespans and its jackknife error
    (clustered by ``groups`` when given)."""
    values = np.asarray(values, dtype=float)
    if np.ptp(values) == 0:
        return Concordance(float("nan"), float("nan"), 0, 0)
    signed, pairs = row_shares(values, time, event)
    total = pairs.sum() / 2
    if total == 0:
        return Concordance(float("nan"), float("nan"), 0, 0)
    d = signed.sum() / 2 / total
    influence = (signed - d * pairs) / total
    clusters = len(values)
    if groups is not None:
        codes = np.unique(groups, return_inverse=True)[1]
        influence = np.bincount(codes, weights=influence)
        clusters = len(influence)
    if groups is not None and clusters > 1:
        influence = influence * np.sqrt(clusters / (clusters - 1))
    return Concordance(float(d), float(np.sqrt((influence**2).sum())), int(total), clusters,
                       influence)


def row_shares(values: np.ndarray, time: np.ndarray, event: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the signed sum of its comparable pairs (+1 when the row that outlived
    the other has the higher value) and how many comparable pairs it is in. Each pair
    is counted once for each of its two rows."""
    time = np.asarray(time, dtype=float)
    failed = np.asarray(event, dtype=bool)
    ranks = np.unique(values, return_inverse=True)[1]
    same_time = np.unique(time, return_inverse=True)[1]
    ones, failures = np.ones(len(time)), failed.astype(float)
    # as the row that failed first: partners left later (any), or were censored then
    higher, lower, later = _before(-time, ranks, ones)
    tied_higher, tied_lower, tied = _within(same_time, ranks, 1.0 - failures)
    signed_failed = (higher + tied_higher) - (lower + tied_lower)
    pairs_failed = later + tied
    # as the row that outlived: partners failed earlier, or at its censoring time
    higher, lower, earlier = _before(time, ranks, failures)
    tied_higher, tied_lower, tied = _within(same_time, ranks, failures)
    censored = ~failed
    signed_outlived = (lower + censored * tied_lower) - (higher + censored * tied_higher)
    pairs_outlived = earlier + censored * tied
    return (np.where(failed, signed_failed, 0.0) + signed_outlived,
            np.where(failed, pairs_failed, 0.0) + pairs_outlived)


def _before(key: np.ndarray, ranks: np.ndarray, weights: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the weight of rows with a strictly smaller ``key`` whose rank is higher,
    lower, and in all."""
    order = np.argsort(key, kind="stable")
    tie = np.unique(key, return_inverse=True)[1][order]
    sorted_ranks, sorted_weights = ranks[order], weights[order]
    higher, lower = _earlier(sorted_ranks, sorted_weights, np.zeros_like(tie))
    tied_higher, tied_lower = _earlier(sorted_ranks, sorted_weights, tie)
    before = np.cumsum(np.bincount(tie, weights=sorted_weights))
    total = np.concatenate([[0.0], before])[tie]
    out = np.empty((3, len(key)))
    out[:, order] = [higher - tied_higher, lower - tied_lower, total]
    return out[0], out[1], out[2]


def _within(groups: np.ndarray, ranks: np.ndarray, weights: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the weight of rows of its group with a higher rank, a lower rank, and in
    all (the row itself included in the last only)."""
    width = int(ranks.max()) + 2
    start = groups.astype(np.int64) * width
    keys = start + ranks
    below = _WeightBelow(keys, weights)
    higher = below(start + width) - below(keys + 1)
    lower = below(keys) - below(start)
    return higher, lower, below(start + width) - below(start)


def _earlier(ranks: np.ndarray, weights: np.ndarray, segments: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per position p of a sequence: the weight of earlier positions of the same
    segment (contiguous labels) with a higher rank, and with a lower one. A merge-sort
    count: at level L every position in the right half of a block of 2^(L+1) looks up
    the left half of its block in one sorted array, so each earlier pair is counted at
    exactly one level."""
    n = len(ranks)
    width = int(ranks.max()) + 2
    segment_width = int(segments.max()) + 1
    position = np.arange(n)
    higher, lower = np.zeros(n), np.zeros(n)
    size = 1
    while size < n:
        block = position // (2 * size)
        right = (position // size) % 2 == 1
        base = (block * segment_width + segments) * width
        keys = base + ranks
        left = ~right
        below = _WeightBelow(keys[left], weights[left])
        query = keys[right]
        higher[right] += below(base[right] + width) - below(query + 1)
        lower[right] += below(query) - below(base[right])
        size *= 2
    return higher, lower


class _WeightBelow:
    """The total weight of the keys below a bound, for many bounds at once."""

    def __init__(self, keys: np.ndarray, weights: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])

    def __call__(self, bound: np.ndarray) -> np.ndarray:
        return self.cumulative[np.searchsorted(self.keys, bound, side="left")]
