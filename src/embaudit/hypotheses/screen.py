"""The discovery screen: is a candidate trend beyond chance on the discovery rows?

A candidate (a, j, s) read off a network says "a is associated with lifespan in
direction s, and axis j carries it". It is *found* when both halves hold beyond chance
on the discovery rows, each against the same permutations of the attribute values
among the discovery rows (within groups or strata when given); the network, its
embedding and its fit to the lifespans stay fixed, so nothing is retrained:

* **carried**: the strength T = max_j |r_ja · r_jy| beats T with the attribute
  permuted ("is a carried by a lifespan-carrying axis beyond chance?");
* **associated**: Spearman(a, y) beats its permutation null, two-sided, and has the
  claimed sign. With censored lifespans y is the log-rank scores, correlated as they
  are (not ranked): the Cox score statistic of a's ranks, whose sign is the Cox
  coefficient's (:mod:`embaudit.hypotheses.censored`).

``p_discovery`` is the larger of the two p-values (an intersection–union test), or 1
when the association's sign is not the claimed direction: never below either. The
association half is what keeps the screen calibrated: an axis mixes whatever the
features encode, so an attribute encoded in the features but unrelated to lifespan is
carried by a lifespan-carrying axis far beyond chance (its T against permuted
attributes gives p < 0.001 in every regime of the sparse calibration world), and no
test of T alone can tell it from a real trend. The retrained null (networks fitted to
permuted lifespans) answers another question, whether a trend is stronger than what
overfitting alone produces; it is reported beside ``found`` and does not decide it.

The statistics are computed from ranks taken once over the discovery rows: permuting
the attribute permutes its ranks, so every permutation costs one GEMM for all networks
at once. In slice mode the axis-side correlation of each axis is computed on its slice,
with the attribute's ranks among all discovery rows (observed and permuted alike).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from embaudit.hypotheses.discovery import (
    DiscoveryMode,
    axis_correlations,
    live_axes,
    slice_rows,
)
from embaudit.hypotheses.ranks import rank_basis, residual_ranks, standardized_ranks
from embaudit.hypotheses.resampled import block_slices, permutation_indices

_TOLERANCE = 1e-12


@dataclass(frozen=True)
class ScreenResult:
    """Per network (rows) and attribute column: the two halves of the screen."""

    strength: np.ndarray  # (N, q) T as the screen computes it
    association: np.ndarray  # (N, q) partial Spearman(a, y) on the discovery rows
    p_carried: np.ndarray  # (N, q)
    p_association: np.ndarray  # (N, q) two-sided

    def p_discovery(self, direction: np.ndarray) -> np.ndarray:
        """max(p_carried, p_association), the association counted only when its sign is
        the claimed ``direction`` (N × q; 0 = no claim, p = 1)."""
        agrees = (np.sign(self.association) == direction) & (direction != 0)
        return np.where(agrees, np.maximum(self.p_carried, self.p_association), 1.0)


@dataclass(frozen=True)
class _Reading:
    """What the screen needs of one network: per axis its residualized ranks on the rows
    it is read on (unit norm, 0 elsewhere) and r_jy; in slice mode also those rows and the
    basis its attribute side is residualized on there (constant and covariates)."""

    axis_vectors: np.ndarray  # (n, k)
    r_lifespan: np.ndarray  # (k,)
    lifespan_vector: np.ndarray  # (n,) residualized ranks of the network's lifespans
    indicators: np.ndarray | None = None  # (n, k), slice mode
    bases: np.ndarray | None = None  # (n, k, c), slice mode


def screen(
    embeddings: Sequence[np.ndarray | None],
    lifespans: Sequence[np.ndarray],
    attributes: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    mode: DiscoveryMode = "axis",
    slice_fraction: float = 0.5,
    blocks: np.ndarray | None = None,
    n_permutations: int = 999,
    seed: int = 0,
    ranked_lifespan: bool = True,
) -> ScreenResult:
    """Screen every attribute column on each network's discovery-row embedding.

    ``embeddings[i]`` (n × k, or None for raw screening: no carried half, p = 0) was fitted
    to ``lifespans[i]`` (n,), e.g. a permutation network's permuted lifespans.
    ``blocks`` (n,) restricts the permutations to rows of one block; a column constant
    within every block (an attribute of the group, such as a product line's material)
    cannot move there, so its block values are permuted among the blocks instead.
    """
    n, q = attributes.shape
    ranked = standardized_ranks(attributes)  # centred, unit norm
    basis = _basis(np.ones(n, bool), covariates)
    readings = [_reading(E, y, attributes, covariates, mode, slice_fraction, ranked_lifespan)
                for E, y in zip(embeddings, lifespans, strict=True)]
    strength, association = _statistics(ranked[:, :, None], readings, basis)
    strength, association = strength[:, :, 0], association[:, :, 0]
    exceed_t = np.zeros_like(strength)
    exceed_r = np.zeros_like(association)
    rng = np.random.default_rng(seed)
    width = q * (2 + sum(r.axis_vectors.shape[1] for r in readings))
    permuter = _Permuter(attributes, ranked, blocks)
    for block in block_slices(n_permutations, max(n * q, width) * 2):
        t, r = _statistics(permuter.draw(block.stop - block.start, rng), readings, basis)
        exceed_t += (t >= strength[:, :, None] - _TOLERANCE).sum(axis=2)
        exceed_r += (np.abs(r) >= np.abs(association)[:, :, None] - _TOLERANCE).sum(axis=2)
    carried = np.array([E is not None for E in embeddings])[:, None]
    total = n_permutations + 1
    return ScreenResult(strength, association,
                        np.where(carried, (1 + exceed_t) / total, 0.0), (1 + exceed_r) / total)


class _Permuter:
    """Permuted attribute ranks (n, q, b): rows within blocks; the columns constant within
    every block by permuting the blocks' values among the blocks (ranks recomputed, as
    blocks of different sizes change the ties)."""

    def __init__(self, attributes: np.ndarray, ranked: np.ndarray, blocks: np.ndarray | None
                 ) -> None:
        self.ranked, self.blocks = ranked, blocks
        self.by_block = np.zeros(attributes.shape[1], bool)
        if blocks is not None:
            codes = np.unique(blocks, return_inverse=True)[1]
            first = np.zeros(codes.max() + 1, dtype=np.int64)
            first[codes[::-1]] = np.arange(len(codes))[::-1]  # a row of each block
            self.values = attributes[first]  # (blocks, q)
            self.codes = codes
            self.by_block = (attributes == self.values[codes]).all(axis=0) \
                & (np.ptp(self.values, axis=0) > 0)

    def draw(self, size: int, rng: np.random.Generator) -> np.ndarray:
        n = len(self.ranked)
        out = np.moveaxis(self.ranked[permutation_indices(n, size, rng, self.blocks)], 0, 2)
        if self.by_block.any():
            moved = rng.permuted(np.broadcast_to(np.arange(len(self.values)),
                                                 (size, len(self.values))), axis=1)
            values = self.values[:, self.by_block][moved[:, self.codes]]  # (b, n, q')
            out[:, self.by_block, :] = np.moveaxis(_standardized_ranks(values), 0, 2)
        return out


def _standardized_ranks(values: np.ndarray) -> np.ndarray:
    """:func:`standardized_ranks` along axis 1 of a (b, n, q) array."""
    ranks = rankdata(values, axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    norm = np.sqrt((ranks**2).sum(axis=1, keepdims=True))
    return np.divide(ranks, norm, out=np.zeros_like(ranks), where=norm > 0)


def _basis(rows: np.ndarray, covariates: np.ndarray | None) -> np.ndarray:
    """:func:`rank_basis` of ``rows`` (a mask), zero on the other rows."""
    local = rank_basis(None if covariates is None else covariates[rows], int(rows.sum()))
    out = np.zeros((len(rows), local.shape[1]))
    out[rows] = local
    return out


def _reading(E: np.ndarray | None, y: np.ndarray, attributes: np.ndarray,
             covariates: np.ndarray | None, mode: DiscoveryMode,
             slice_fraction: float, ranked_lifespan: bool) -> _Reading:
    n = len(y)
    lifespan = residual_ranks(y[:, None], covariates, ranked_lifespan)[:, 0]
    if E is None:
        return _Reading(np.zeros((n, 0)), np.zeros(0), lifespan)
    E = E.astype(np.float64)
    live = live_axes(E)
    r_lifespan = axis_correlations(E, attributes[:, :0], y, mode, slice_fraction, live,
                                   covariates, ranked_lifespan).lifespan
    k = E.shape[1]
    vectors = np.zeros((n, k))
    if mode == "axis":
        vectors[:, live] = residual_ranks(E[:, live], covariates)
        return _Reading(vectors, r_lifespan, lifespan)
    indicators = np.zeros((n, k))
    bases = np.zeros((n, k, 1 + (0 if covariates is None else covariates.shape[1])))
    for j in np.flatnonzero(live):
        rows = np.zeros(n, bool)
        rows[slice_rows(E, j, slice_fraction, live)] = True
        local = None if covariates is None else covariates[rows]
        vectors[rows, j] = residual_ranks(E[rows, j:j + 1], local)[:, 0]
        indicators[rows, j] = 1.0
        local_basis = _basis(rows, covariates)
        bases[:, j, :local_basis.shape[1]] = local_basis
    return _Reading(vectors, r_lifespan, lifespan, indicators, bases)


def _statistics(ranked: np.ndarray, readings: Sequence[_Reading], basis: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """T and Spearman(a, y), each (N, q, b), of attribute ranks ``ranked`` (n, q, b)."""
    n, q, b = ranked.shape
    flat = ranked.reshape(n, q * b)
    norm = _norms(flat, np.ones((n, 1)), basis[:, None, :])[0]  # all rows, covariates out
    lifespans = np.column_stack([r.lifespan_vector for r in readings])
    association = _divide(lifespans.T @ flat, norm)  # (N, q·b)
    if readings[0].indicators is None:  # axis mode: every axis reads every row
        vectors = np.concatenate([r.axis_vectors for r in readings], axis=1)
        r_attribute = _divide(vectors.T @ flat, norm)  # (Σk, q·b)
        strengths, start = [], 0
        for reading in readings:
            k = reading.axis_vectors.shape[1]
            strengths.append(_strength(r_attribute[start:start + k], reading.r_lifespan,
                                       q * b))
            start += k
    else:
        strengths = [_strength(_divide(r.axis_vectors.T @ flat,
                                       _norms(flat, r.indicators, r.bases)),
                               r.r_lifespan, q * b) for r in readings]
    return np.stack(strengths).reshape(-1, q, b), association.reshape(-1, q, b)


def _strength(r_attribute: np.ndarray, r_lifespan: np.ndarray, width: int) -> np.ndarray:
    """max_j |r_ja · r_jy| per column (0 without axes)."""
    if r_attribute.shape[0] == 0:
        return np.zeros(width)
    return np.abs(r_attribute * r_lifespan[:, None]).max(axis=0)


def _norms(flat: np.ndarray, indicators: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Per axis (columns of ``indicators``, n × k), the norm of each column of ``flat`` on
    its rows after removing its basis (``bases``, n × k × c): (k, m)."""
    n, k, c = bases.shape
    total = indicators.T @ flat**2
    projected = ((bases.reshape(n, k * c).T @ flat) ** 2).reshape(k, c, -1).sum(axis=1)
    return np.sqrt(np.clip(total - projected, 0.0, None))


def _divide(numerator: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """numerator / norm, 0 where the norm vanishes (a column constant on those rows)."""
    return np.divide(numerator, norm, out=np.zeros(np.broadcast_shapes(numerator.shape,
                                                                       norm.shape)),
                     where=norm > 1e-9)
