"""Weight matching: reorder one network's hidden units to line up with another's.

Hidden units can be permuted without changing the function, so two minima that are
one basin up to a permutation look far apart on the straight line between them.
Matching maximizes ``Σ_l ⟨W_l^a, P_l W_l^b P_{l-1}ᵀ⟩ + ⟨b_l^a, P_l b_l^b⟩`` by
coordinate descent over the layers, each step an assignment problem
(``scipy.optimize.linear_sum_assignment``); a local search, so barriers are reported
before and after it. Both networks should be canonicalized first
(:func:`~embaudit.landscape.functional.canonicalize`), so unit scales do not decide.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from embaudit.landscape.functional import Layout, permute_units


def match_units(layout: Layout, target: Tensor, moving: Tensor, max_sweeps: int = 50,
                seed: int = 0) -> list[np.ndarray]:
    """Permutations of ``moving``'s hidden layers that best line its weights up with
    ``target``'s (both flat ``(P,)``); apply them with :func:`align_units`."""
    a = [(w.double().numpy(), b.double().numpy()) for w, b in layout.unflatten(target)]
    m = [(w.double().numpy(), b.double().numpy()) for w, b in layout.unflatten(moving)]
    widths = layout.widths[1:-1]
    perms = [np.arange(h) for h in widths]
    rng = np.random.default_rng(seed)
    for _ in range(max_sweeps):
        changed = False
        for layer in rng.permutation(len(widths)):
            before = perms[layer - 1] if layer > 0 else None
            after = perms[layer + 1] if layer + 1 < len(widths) else None
            w_in = m[layer][0] if before is None else m[layer][0][:, before]
            score = a[layer][0] @ w_in.T + np.outer(a[layer][1], m[layer][1])
            w_out = m[layer + 1][0] if after is None else m[layer + 1][0][after]
            score += a[layer + 1][0].T @ w_out
            _, order = linear_sum_assignment(score, maximize=True)
            if not np.array_equal(order, perms[layer]):
                perms[layer], changed = order, True
        if not changed:
            break
    return perms


def align_units(layout: Layout, target: Tensor, moving: Tensor) -> Tensor:
    """``moving`` with its hidden units reordered to match ``target``: the same function,
    the weights lined up."""
    return permute_units(layout, moving, match_units(layout, target, moving))


def align_all(layout: Layout, target: Tensor, members: Tensor) -> Tensor:
    """Every row of ``members (B, P)`` aligned to ``target (P,)``."""
    return torch.stack([align_units(layout, target, member) for member in members])
