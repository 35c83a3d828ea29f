"""How well one member aligns to the reference: disparity, PROTEST and linear CKA.

Disparity says how far apart the two shapes are after alignment; PROTEST asks whether
the fit is better than the fit to the same rows in a random order (any two
embeddings align somewhat, more so with few rows and many axes); linear CKA compares
the two representations without fitting anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from embaudit.resampling.alignment import Aligner, make_aligner


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear centred kernel alignment of two (n × k) and (n × l) embeddings.

    ||Yᵀ X||²_F / (||Xᵀ X||_F ||Yᵀ Y||_F) on column-centred X and Y (Kornblith et al.
    2019): 1 for embeddings equal up to rotation, reflection, isotropic scale and
    translation, near 0 for unrelated ones; symmetric. 0 when either is constant.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"X {X.shape} and Y {Y.shape} must be 2-D with the same rows")
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    denominator = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    if denominator == 0:
        return 0.0
    return float(np.linalg.norm(Y.T @ X) ** 2 / denominator)


def protest(
    source: np.ndarray,
    target: np.ndarray,
    n_permutations: int = 99,
    seed: int = 0,
    *,
    method: str | Callable[[], Aligner] = "procrustes",
    scale: bool = False,
    allow_reflection: bool = True,
) -> tuple[float, float]:
    """PROTEST (Jackson 1995): is the alignment of source onto target better than chance?

    The statistic is the Procrustes correlation √(1 - disparity) of the fit; the null
    refits with the source's rows randomly permuted (seeded), which keeps both shapes
    but breaks which row is which. ``method`` names a pairwise aligner
    (``make_aligner``) or is a factory of fresh ones. Returns the statistic and
    p = (1 + #{permuted ≥ observed}) / (R + 1).
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be ≥ 1, got {n_permutations}")
    if callable(method):
        factory = method
    else:
        def factory() -> Aligner:
            return make_aligner(method, scale=scale, allow_reflection=allow_reflection)
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)

    def statistic(rows: np.ndarray | slice) -> float:
        return float(np.sqrt(1.0 - factory().fit(source[rows], target).disparity_))

    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only wait
        observed = statistic(slice(None))
        permuted = np.array([statistic(rng.permutation(len(source)))
                             for _ in range(n_permutations)])
    # a tolerance so that ties with the observed fit, up to rounding, count as ≥
    exceed = int(np.sum(permuted >= observed - 1e-12))
    return observed, (1 + exceed) / (n_permutations + 1)


@dataclass(frozen=True)
class AlignmentQuality:
    """One member's alignment to the reference (on the rows it was computed on)."""

    disparity: float  # 0: same shape after alignment, 1: unrelated
    protest_statistic: float  # Procrustes correlation √(1 - disparity)
    protest_p: float  # permutation p-value of that fit
    cka: float  # linear CKA, needs no alignment


def alignment_quality(
    source: np.ndarray,
    target: np.ndarray,
    *,
    method: str = "procrustes",
    n_permutations: int = 99,
    seed: int = 0,
    scale: bool = False,
    allow_reflection: bool = True,
) -> AlignmentQuality:
    """Disparity, PROTEST and linear CKA of aligning ``source`` onto ``target``.

    Pass the rows the alignment is fitted on (the discovery rows) for the fit's own
    quality, or other rows to check that it holds beyond them. ``method`` is a pairwise
    method (``procrustes`` or ``units``); for ``generalized`` members, ``procrustes``
    measures the same pairwise agreement with the reference.
    """
    options = {"scale": scale, "allow_reflection": allow_reflection}
    # all under one BLAS thread: switching OpenBLAS back to its threads between the
    # pieces costs more than the pieces themselves on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        disparity = make_aligner(method, **options).fit(source, target).disparity_
        statistic, p_value = protest(source, target, n_permutations, seed, method=method,
                                     **options)
        cka = linear_cka(source, target)
    return AlignmentQuality(disparity=disparity, protest_statistic=statistic,
                            protest_p=p_value, cka=cka)
