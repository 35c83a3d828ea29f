"""Align embeddings of different members to a common basis (the reference's).

Members live in different bases: axis 3 of one network means nothing to another.
Alignment is fitted on the discovery rows only and applied to every row. Three ways:

- ``OrthogonalProcrustes``: one rotation (reflection optional), centring, optional scale;
- ``UnitMatching``: a permutation and sign flip of the axes (natural for units);
- ``GeneralizedProcrustes``: every member rotated onto an iterated consensus, whose frame
  is then rotated onto the reference.

``make_aligner`` builds the pairwise ones by name; ``align_members`` aligns a stack of
members to the reference with any of the three.

Loops over members run with one BLAS thread: their matrices are tiny (1000s × k, k × k),
and threads only add hand-off latency, several-fold on a busy machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal, Protocol, Self

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits

Method = Literal["procrustes", "generalized", "units"]
METHODS: tuple[str, ...] = ("procrustes", "generalized", "units")


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


class GeneralizedProcrustes:
    """Rotate every member onto a consensus, iterated to convergence, in the reference's
    frame.

    ``fit(embeddings, reference_index)`` centres each member, starts the consensus at
    the reference, and repeats: rotate (and, with ``scale``, scale) each member onto the
    consensus; take their mean as the new consensus (rescaled to the reference's size
    when scaling, lest it shrink); stop once it moves by less than ``tol`` relative to
    its norm, or after ``max_iter`` rounds (``converged_`` False, with a warning).

    A consensus has no preferred basis, so its frame is finally rotated onto the
    reference member: the rotation of the consensus onto the reference is the transpose
    of the reference's own rotation onto the consensus, so the reference maps exactly
    onto itself and every axis keeps the reference's meaning, as with pairwise
    alignment. ``transform(index, embedding)`` maps rows of member ``index`` into that
    frame (plus the reference's mean). ``disparities_`` are each member's disparities
    to the consensus it was last fitted to, defined as for ``OrthogonalProcrustes``.
    """

    def __init__(self, *, max_iter: int = 100, tol: float = 1e-10, scale: bool = False,
                 allow_reflection: bool = True) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.scale = scale
        self.allow_reflection = allow_reflection

    def fit(self, embeddings: Sequence[np.ndarray] | np.ndarray,
            reference_index: int = 0) -> GeneralizedProcrustes:
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(embeddings, reference_index)

    def _fit(self, embeddings: Sequence[np.ndarray] | np.ndarray,
             reference_index: int) -> GeneralizedProcrustes:
        if not isinstance(self.max_iter, int | np.integer) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be ≥ 0, got {self.tol!r}")
        members = [np.asarray(e, dtype=np.float64) for e in embeddings]
        shapes = {e.shape for e in members}
        if not members or len(shapes) != 1 or members[0].ndim != 2:
            raise ValueError(f"need one or more (n × k) embeddings of one shape, got {shapes}")
        m = len(members)
        if not -m <= reference_index < m:
            raise IndexError(f"reference_index {reference_index} out of range for {m} members")
        reference_index %= m
        self.means_ = np.stack([e.mean(axis=0) for e in members])
        centred = np.stack(members) - self.means_[:, None, :]
        norms = np.linalg.norm(centred, axis=(1, 2))
        k = centred.shape[2]
        rotations, inner, scales = np.empty((m, k, k)), np.empty(m), np.ones(m)
        consensus = centred[reference_index].copy()
        size = norms[reference_index]
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):
            self.n_iter_, fitted_to = iteration, consensus
            for i in range(m):
                rotations[i], inner[i] = _rotation(centred[i], fitted_to, self.allow_reflection)
            if self.scale:
                scales = np.divide(inner, norms**2, out=np.ones(m), where=norms > 0)
            consensus = np.einsum("i,ink->nk", scales / m, np.matmul(centred, rotations))
            if self.scale and np.linalg.norm(consensus) > 0:
                consensus *= size / np.linalg.norm(consensus)
            change = np.linalg.norm(consensus - fitted_to)
            if change <= self.tol * max(np.linalg.norm(fitted_to), np.finfo(float).tiny):
                self.converged_ = True
                break
        if not self.converged_:
            warnings.warn(f"generalized Procrustes did not converge in {self.max_iter} "
                          "iterations", RuntimeWarning, stacklevel=3)
        norm_c = np.linalg.norm(fitted_to)
        self.disparities_ = np.array([_disparity(inner[i], norms[i], norm_c) for i in range(m)])
        to_reference = rotations[reference_index].T  # the consensus's frame → the reference's
        self.reference_index_ = reference_index
        self.rotations_ = rotations @ to_reference
        self.scales_ = scales / scales[reference_index]
        self.consensus_ = (consensus @ to_reference / scales[reference_index]
                           + self.means_[reference_index])
        return self

    def transform(self, index: int, embedding: np.ndarray) -> np.ndarray:
        """Map rows of member ``index``'s embedding into the reference's frame."""
        return ((np.asarray(embedding, dtype=np.float64) - self.means_[index])
                @ self.rotations_[index] * self.scales_[index]
                + self.means_[self.reference_index_])


def make_aligner(method: str, *, scale: bool = False, allow_reflection: bool = True) -> Aligner:
    """A fresh pairwise aligner by name: ``procrustes`` or ``units``.

    ``units`` flips signs, which are reflections, so it refuses ``allow_reflection=False``;
    ``generalized`` aligns all members at once (``GeneralizedProcrustes``, ``align_members``).
    """
    if method == "procrustes":
        return OrthogonalProcrustes(scale=scale, allow_reflection=allow_reflection)
    if method == "units":
        if not allow_reflection:
            raise ValueError("unit matching flips signs (reflections): it needs "
                             "allow_reflection=True")
        return UnitMatching(scale=scale)
    if method == "generalized":
        raise ValueError("generalized Procrustes is not pairwise: use GeneralizedProcrustes "
                         "or align_members(method='generalized')")
    raise ValueError(f"unknown alignment method {method!r}; expected one of {METHODS}")


def align_members(
    embeddings: np.ndarray,
    reference: np.ndarray,
    fit_rows: np.ndarray | Sequence[np.ndarray],
    method: str = "procrustes",
    *,
    scale: bool = False,
    allow_reflection: bool = True,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray]:
    """Every member (M, n, k) in the reference's (n, k) basis, and each one's disparity.

    Each alignment is fitted on ``fit_rows`` (one row-index array or boolean mask shared
    by all members, or one per member) and applied to all n rows. ``generalized`` needs
    shared rows: its consensus is built from the reference and all members on the same
    rows; its disparities are to that consensus. Returns float64 arrays.
    """
    embeddings = np.asarray(embeddings)
    reference = np.asarray(reference, dtype=np.float64)
    if embeddings.ndim != 3 or embeddings.shape[1:] != reference.shape:
        raise ValueError(f"embeddings {embeddings.shape} must be (M, n, k) with the "
                         f"reference's (n, k) = {reference.shape}")
    rows, shared = _member_rows(fit_rows, len(embeddings))
    with threadpool_limits(limits=1, user_api="blas"):
        return _align(embeddings, reference, rows, shared, method, scale=scale,
                      allow_reflection=allow_reflection, max_iter=max_iter, tol=tol)


def _align(embeddings: np.ndarray, reference: np.ndarray, rows: list[np.ndarray],
           shared: np.ndarray | None, method: str, *, scale: bool, allow_reflection: bool,
           max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    aligned = np.empty(embeddings.shape, dtype=np.float64)
    if method == "generalized":
        if shared is None:
            raise ValueError("generalized Procrustes needs one set of fit rows shared by all "
                             "members")
        gpa = GeneralizedProcrustes(max_iter=max_iter, tol=tol, scale=scale,
                                    allow_reflection=allow_reflection)
        gpa.fit([reference[shared], *(e[shared] for e in embeddings)], reference_index=0)
        for i, embedding in enumerate(embeddings):
            aligned[i] = gpa.transform(i + 1, embedding)
        return aligned, gpa.disparities_[1:].copy()
    make_aligner(method, scale=scale, allow_reflection=allow_reflection)  # validate once
    disparity = np.empty(len(embeddings))
    target = None if shared is None else reference[shared]
    for i, embedding in enumerate(embeddings):
        embedding = embedding.astype(np.float64, copy=False)
        aligner = make_aligner(method, scale=scale, allow_reflection=allow_reflection)
        aligner.fit(embedding[rows[i]], reference[rows[i]] if target is None else target)
        aligned[i] = aligner.transform(embedding)
        disparity[i] = aligner.disparity_
    return aligned, disparity


def _member_rows(fit_rows: np.ndarray | Sequence[np.ndarray],
                 n_members: int) -> tuple[list[np.ndarray], np.ndarray | None]:
    """One fit-row selection per member, and the one they share (None if they don't)."""
    if not isinstance(fit_rows, np.ndarray) and len(fit_rows) and np.ndim(fit_rows[0]) == 0:
        fit_rows = np.asarray(fit_rows)  # a flat list of row indices
    if isinstance(fit_rows, np.ndarray) and fit_rows.ndim == 1:
        return [fit_rows] * n_members, fit_rows
    rows = [np.asarray(r) for r in fit_rows]
    if len(rows) != n_members:
        raise ValueError(f"{len(rows)} fit-row sets for {n_members} members")
    return rows, None
