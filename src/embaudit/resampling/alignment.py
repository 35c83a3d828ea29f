"""Align embeddings of different members to a common basis (the reference's).

Members live in different bases: axis 3 of one network means nothing to another.
Alignment is fitted on the discovery rows only and applied to every row.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes


class OrthogonalProcrustes:
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
        if source.shape != target.shape:
            raise ValueError(f"source {source.shape} and target {target.shape} differ in shape")
        self.source_mean_ = source.mean(axis=0)
        self.target_mean_ = target.mean(axis=0)
        a = (source - self.source_mean_).astype(np.float64)
        b = (target - self.target_mean_).astype(np.float64)
        if self.allow_reflection:
            rotation, singular_sum = orthogonal_procrustes(a, b)
        else:
            u, singular, vt = np.linalg.svd(a.T @ b)
            if np.linalg.det(u @ vt) < 0:
                u[:, -1] *= -1
                singular[-1] *= -1
            rotation, singular_sum = u @ vt, singular.sum()
        norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
        self.rotation_ = rotation
        self.scale_ = singular_sum / norm_a**2 if self.scale and norm_a > 0 else 1.0
        if norm_a > 0 and norm_b > 0:
            self.disparity_ = float(max(0.0, 1.0 - (singular_sum / (norm_a * norm_b)) ** 2))
        else:
            self.disparity_ = 1.0
        return self

    def transform(self, embedding: np.ndarray) -> np.ndarray:
        """Map rows of the source embedding into the target basis."""
        return (embedding - self.source_mean_) @ self.rotation_ * self.scale_ + self.target_mean_
