"""The linear regime: a PCA or PLS embedding of the network's width with a ridge head.

It is the baseline that asks whether the network learned anything beyond linear: the
same members (rows, permuted targets), the same embedding width, no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.linear_model import RidgeCV

from embaudit.core.members import MemberSpec
from embaudit.training.diagnostics import RIDGE_ALPHAS, weighted_standardizer


def fit_linear_members(
    X: np.ndarray,
    y: np.ndarray,
    members: Sequence[MemberSpec],
    width: int,
    embedding: Literal["pca", "pls"] = "pca",
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings ``(B, n, width)`` and predictions ``(B, n)`` of every member.

    Each member standardizes with, and fits on, its own rows (bootstrap rows repeated
    by their multiplicity). A PCA embedding ignores the targets, so members that share
    their rows share the decomposition.
    """
    X = np.asarray(X, dtype=np.float64)
    width = min(width, X.shape[1])
    embeddings = np.empty((len(members), len(X), width), dtype=np.float32)
    predictions = np.empty((len(members), len(X)))
    shared: dict[bytes, np.ndarray] = {}
    for b, member in enumerate(members):
        weights = member.train_weights
        rows = np.repeat(np.arange(len(X)), weights)
        targets = member.targets(y)
        key = weights.tobytes()
        if embedding == "pca" and key in shared:
            E = shared[key]
        else:
            mean, scale = weighted_standardizer(X, weights)
            Z = (X - mean) * scale
            if embedding == "pca":
                E = PCA(n_components=width, svd_solver="full").fit(Z[rows]).transform(Z)
                shared[key] = E
            else:
                pls = PLSRegression(n_components=width, scale=False)
                E = pls.fit(Z[rows], targets[rows]).transform(Z)
        head = RidgeCV(alphas=RIDGE_ALPHAS).fit(E[rows], targets[rows])
        embeddings[b] = E
        predictions[b] = head.predict(E)
    return embeddings, predictions
