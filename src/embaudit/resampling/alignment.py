"""Align embeddings of different members to a common basis (the reference's).

Members live in different bases: axis 3 of one network means nothing to another.
Alignment is fitted on a member's own training rows and applied to every row. Two ways
(``resampling.alignment``):

- ``OrthogonalProcrustes``: one rotation (reflection optional), centring, optional scale;
- ``UnitMatching``: a permutation and sign flip of the axes (natural for units).

``make_aligner`` builds either by name.
"""

from __future__ import annotations

from typing import Literal, Protocol, Self

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.optimize import linear_sum_assignment

Method = Literal["procrustes", "units"]
METHODS: tuple[str, ...] = ("procrustes", "units")


class Aligner(Protocol):
    """A pairwise aligner: ``fit(source, target)``, then ``transform`` source rows."""

    disparity_: float

    def fit(self, source: np.ndarray, target: np.ndarray) -> Aligner: ...

    def transform(self, embedding: np.ndarray) -> np.ndarray: ...


def _check_pair(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or source.shape != target.shape:
        raise ValueError(f"source {source.shape} and target {target.shape} must be the "
                         "same (n × k) shape")
    return source, target


def _rotation(a: np.ndarray, b: np.ndarray, allow_reflection: bool) -> tuple[np.ndarray, float]:
    """The orthogonal R minimising ||a R - b|| (det R > 0 unless reflections are
    allowed) and the trace of Rᵀ aᵀ b it attains (the sum of the signed singular values)."""
    if allow_reflection:
        rotation, singular_sum = orthogonal_procrustes(a, b)
        return rotation, float(singular_sum)
    # scipy has no proper-rotation variant: flip the weakest singular direction (Kabsch)
    u, singular, vt = np.linalg.svd(a.T @ b)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
        singular[-1] *= -1
    return u @ vt, float(singular.sum())


def _disparity(inner: float, norm_a: float, norm_b: float) -> float:
    """Residual of the best scaled fit of unit-norm a onto unit-norm b: 1 - (⟨aR, b⟩ /
    (|a| |b|))², as ``scipy.spatial.procrustes`` reports it; 1 when either is constant."""
    if norm_a > 0 and norm_b > 0:
        return float(min(1.0, max(0.0, 1.0 - (inner / (norm_a * norm_b)) ** 2)))
    return 1.0


class _PairwiseAligner:
    """What the pairwise aligners share: centring on the fit rows, and a fitted linear
    map (``rotation_``, ``scale_``) with its disparity, applied to any rows."""

    scale: bool

    def _centre(self, source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        source, target = _check_pair(source, target)
        self.source_mean_ = source.mean(axis=0)
        self.target_mean_ = target.mean(axis=0)
        return source - self.source_mean_, target - self.target_mean_

    def _finish(self, rotation: np.ndarray, inner: float, a: np.ndarray, b: np.ndarray
                ) -> Self:
        norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
        self.rotation_ = rotation
        self.scale_ = inner / norm_a**2 if self.scale and norm_a > 0 else 1.0
        self.disparity_ = _disparity(inner, norm_a, norm_b)
        return self

    def transform(self, embedding: np.ndarray) -> np.ndarray:
        """Map rows of the source embedding into the target basis."""
        centred = np.asarray(embedding, dtype=np.float64) - self.source_mean_
        return centred @ self.rotation_ * self.scale_ + self.target_mean_


class OrthogonalProcrustes(_PairwiseAligner):
    """Rotation (reflection optional), centring and optional scale onto a target.

    ``fit(source, target)`` finds the orthogonal R minimising ||(S - s̄) R - (T - t̄)||;
    ``transform`` maps any rows of the source's embedding into the target's basis.
    ``disparity_`` is the residual of the fit after both centred matrices are scaled
    to unit Frobenius norm (0: identical shapes, 1: unrelated), as in
    ``scipy.spatial.procrustes``.
    """

    def __init__(self, *, scale: bool = False, allow_reflection: bool = True) -> None:
        self.scale = scale
        self.allow_reflection = allow_reflection

    def fit(self, source: np.ndarray, target: np.ndarray) -> OrthogonalProcrustes:
        a, b = self._centre(source, target)
        rotation, singular_sum = _rotation(a, b, self.allow_reflection)
        return self._finish(rotation, singular_sum, a, b)


class UnitMatching(_PairwiseAligner):
    """Match each target axis to one source axis, flipping its sign where needed.

    The assignment maximises the summed |Pearson correlation| of matched axes on the fit
    rows (``scipy.optimize.linear_sum_assignment``), so axes of different spread still
    match; a match with negative correlation is sign-flipped. A constant (dead) axis
    correlates 0 with everything and keeps sign +1. ``transform`` = centre, permute,
    flip (optionally scale by one factor), add the target's mean. ``permutation_[j]``
    is the source axis that lands on target axis j, ``signs_[j]`` its sign;
    ``rotation_`` is the same map as a signed permutation matrix, and ``disparity_`` is
    defined as for ``OrthogonalProcrustes`` with that matrix in place of the rotation.
    """

    def __init__(self, *, scale: bool = False) -> None:
        self.scale = scale

    def fit(self, source: np.ndarray, target: np.ndarray) -> UnitMatching:
        a, b = self._centre(source, target)
        correlation = _unit_columns(a).T @ _unit_columns(b)  # [source axis, target axis]
        source_axes, target_axes = linear_sum_assignment(np.abs(correlation), maximize=True)
        k = a.shape[1]
        self.permutation_ = np.empty(k, dtype=np.intp)
        self.permutation_[target_axes] = source_axes
        matched = correlation[self.permutation_, np.arange(k)]
        self.signs_ = np.where(matched < 0, -1.0, 1.0)
        rotation = np.zeros((k, k))
        rotation[self.permutation_, np.arange(k)] = self.signs_
        inner = float(np.sum(a[:, self.permutation_] * self.signs_ * b))
        return self._finish(rotation, inner, a, b)


def _unit_columns(centred: np.ndarray) -> np.ndarray:
    """Centred columns scaled to unit norm; a constant column stays 0 (no NaN)."""
    norms = np.linalg.norm(centred, axis=0)
    return centred / np.where(norms > 0, norms, 1.0)


def make_aligner(method: str, *, scale: bool = False, allow_reflection: bool = True) -> Aligner:
    """A fresh pairwise aligner by name: ``procrustes`` or ``units``.

    ``units`` flips signs, which are reflections, so it refuses ``allow_reflection=False``.
    """
    if method == "procrustes":
        return OrthogonalProcrustes(scale=scale, allow_reflection=allow_reflection)
    if method == "units":
        if not allow_reflection:
            raise ValueError("unit matching flips signs (reflections): it needs "
                             "allow_reflection=True")
        return UnitMatching(scale=scale)
    raise ValueError(f"unknown alignment method {method!r}; expected one of {METHODS}")
