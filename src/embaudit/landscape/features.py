"""Which input features the minima rely on: weights a basin conserves, and permutation
importance on the holdout to compare them with."""

from __future__ import annotations

import numpy as np
import torch

from embaudit.landscape.functional import Layout


def conserved_relevance(first_layers: np.ndarray) -> np.ndarray:
    """Per input feature, how conserved its first-layer weights are across minima.

    ``first_layers``: ``(M, h1, p)`` aligned, canonicalized first-layer weights of M
    minima. Per weight, the mean across minima is its conserved part and the spread its
    unconserved part; a feature's relevance is the share of its column's energy that is
    conserved, ``Σ_u mean_uj² / Σ_u (mean_uj² + var_uj)``: about 1/M for weights that
    recur with no fixed sign or size, near 1 for weights every minimum shares.
    """
    mean = first_layers.mean(axis=0)
    variance = first_layers.var(axis=0)
    energy = (mean**2 + variance).sum(axis=0)
    return np.where(energy > 0, (mean**2).sum(axis=0) / np.where(energy > 0, energy, 1), 0.0)


def permutation_importance(layout: Layout, members: torch.Tensor, x: torch.Tensor,
                           y: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Per input feature, how much the members' mean prediction loses on ``(x, y)`` when
    that feature's values are shuffled among the rows (one seeded shuffle each).

    Shuffling feature j moves every first-layer pre-activation by ``W_:j Δx_j``, a
    rank-one change: the first layer is computed once, only the rest per feature.
    """
    generator = torch.Generator().manual_seed(seed)
    layers = layout.unflatten(members)
    w1, b1 = layers[0]

    def rest(z: torch.Tensor) -> torch.Tensor:
        for w, b in layers[1:]:
            z = torch.matmul(w, torch.relu(z)) + b[..., None]
        return z[..., 0, :].mean(0)

    with torch.no_grad():
        z1 = torch.matmul(w1, x.T) + b1[..., None]  # (M, h1, n)
        base = ((rest(z1) - y) ** 2).mean()
        importance = np.empty(x.shape[1])
        for j in range(x.shape[1]):
            delta = x[torch.randperm(len(x), generator=generator), j] - x[:, j]
            moved = z1 + w1[:, :, j, None] * delta[None, None, :]
            importance[j] = float(((rest(moved) - y) ** 2).mean() - base)
    return importance
