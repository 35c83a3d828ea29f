"""Read candidate hypotheses off an embedding, as analysts do.

For each live axis j and attribute a on the discovery rows: r_ja = Spearman(E_j, a),
r_jy = Spearman(E_j, y). In **slice** mode (the analysts' method: fix every axis but
one) both are computed on the fraction of rows closest to the median in the other
axes. The candidate for a claims direction s = sign(r_ja · r_jy) with strength
T = |r_ja · r_jy|, on the axis where T is largest. T is the association of a with y
that a one-factor reading of the axis implies. When no live axis carries any trend
(T = 0: every axis dead, or the attribute constant on these rows) the direction is 0:
there is no claim to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from embaudit.hypotheses.ranks import outcome_correlations, spearman_matrix

DiscoveryMode = Literal["axis", "slice"]
#: axes whose spread on the discovery rows is below this are dead (skipped)
DEAD_AXIS_TOLERANCE = 1e-6


@dataclass(frozen=True)
class AxisCorrelations:
    """Per-axis correlations with each attribute (k × q) and with lifespan (k,)."""

    attribute: np.ndarray
    lifespan: np.ndarray

    @property
    def products(self) -> np.ndarray:
        """r_ja · r_jy for every axis and attribute (k × q)."""
        return self.attribute * self.lifespan[:, None]


@dataclass(frozen=True)
class Candidates:
    """One candidate hypothesis per attribute column: its best axis and strength."""

    axis: np.ndarray  # (q,) int
    direction: np.ndarray  # (q,) +1 / -1, or 0 when no trend was read
    strength: np.ndarray  # (q,)
    r_axis_attribute: np.ndarray  # (q,)
    r_axis_lifespan: np.ndarray  # (q,)


def live_axes(embedding: np.ndarray) -> np.ndarray:
    """Boolean mask of axes that vary on the given rows."""
    return embedding.std(axis=0) > DEAD_AXIS_TOLERANCE


def slice_rows(embedding: np.ndarray, axis: int, fraction: float, live: np.ndarray) -> np.ndarray:
    """Rows closest to the median in every live axis except ``axis`` (standardized).

    Axes that do not vary on these rows (a ReLU unit can be live on the discovery rows
    and dead on the holdout) cannot be standardized and are left out of the distance.
    """
    others = live.copy()
    others[axis] = False
    rest = embedding[:, others]
    scale = rest.std(axis=0)
    rest, scale = rest[:, scale > DEAD_AXIS_TOLERANCE], scale[scale > DEAD_AXIS_TOLERANCE]
    n_keep = max(3, round(fraction * len(embedding)))
    if rest.shape[1] == 0 or n_keep >= len(embedding):
        return np.arange(len(embedding))
    distance = (((rest - np.median(rest, axis=0)) / scale) ** 2).sum(axis=1)
    return np.argpartition(distance, n_keep - 1)[:n_keep]


def axis_correlations(
    embedding: np.ndarray,
    attributes: np.ndarray,
    lifespan: np.ndarray,
    mode: DiscoveryMode = "axis",
    slice_fraction: float = 0.5,
    live: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    ranked_lifespan: bool = True,
) -> AxisCorrelations:
    """Spearman correlations of each axis with the attributes and lifespan (partial
    Spearman, controlling for ``covariates``, when given; ``ranked_lifespan=False``:
    with the lifespan scores as they are, for censored lifespans).

    Dead axes (``live`` False) get zero correlations so no candidate uses them.
    """
    live = live_axes(embedding) if live is None else live
    k = embedding.shape[1]

    def correlations(axes: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """(axes' columns × (1 + q)): r with lifespan, then with each attribute."""
        local = None if covariates is None else covariates[rows]
        return np.column_stack([
            outcome_correlations(axes, lifespan[rows], local, ranked_lifespan),
            spearman_matrix(axes, attributes[rows], local)])

    if mode == "axis":
        r = correlations(embedding, slice(None))
    elif mode == "slice":
        r = np.zeros((k, 1 + attributes.shape[1]))
        for j in np.flatnonzero(live):
            rows = slice_rows(embedding, j, slice_fraction, live)
            r[j] = correlations(embedding[rows, j:j + 1], rows)[0]
    else:
        raise ValueError(f"mode must be 'axis' or 'slice', not {mode!r}")
    r[~live] = 0.0
    return AxisCorrelations(attribute=r[:, 1:], lifespan=r[:, 0])


def best_candidates(correlations: AxisCorrelations) -> Candidates:
    """Per attribute, the axis with the largest |r_ja · r_jy|."""
    products = correlations.products
    axis = np.abs(products).argmax(axis=0)
    columns = np.arange(products.shape[1])
    chosen = products[axis, columns]
    return Candidates(
        axis=axis,
        direction=np.sign(chosen).astype(int),
        strength=np.abs(chosen),
        r_axis_attribute=correlations.attribute[axis, columns],
        r_axis_lifespan=correlations.lifespan[axis],
    )


def raw_candidates(attributes: np.ndarray, lifespan: np.ndarray,
                   covariates: np.ndarray | None = None, ranked_lifespan: bool = True
                   ) -> Candidates:
    """Raw screening, no embedding: (partial) Spearman(a, y) on the discovery rows
    (with the lifespan scores as they are when not ``ranked_lifespan``)."""
    r = outcome_correlations(attributes, lifespan, covariates, ranked_lifespan)
    q = len(r)
    return Candidates(
        axis=np.full(q, -1),
        direction=np.sign(r).astype(int),
        strength=np.abs(r),
        r_axis_attribute=np.full(q, np.nan),
        r_axis_lifespan=np.full(q, np.nan),
    )
