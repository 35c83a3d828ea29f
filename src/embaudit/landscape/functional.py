"""Trained members as plain ReLU networks in common coordinates, evaluated as a batch.

Every member standardizes its inputs and targets on its own rows, and batch norm (in
evaluation mode) is an affine map per unit: all of it folds into the weights. After
folding, every member is a plain network ``x_c → ŷ_c`` between *common* coordinates
(inputs and target standardized on the discovery rows), so losses, curvatures and
distances of different members are in the same units: a loss of 1 is no better than
predicting the mean lifespan.

Parameters of ``B`` members are one flat tensor ``(B, P)``; :class:`Layout` maps it to
the layers. Member losses are summed for differentiation, so the Hessian of the sum is
block-diagonal: one Hessian-vector product returns every member's own ``H_b v_b``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

_BN_EPS = 1e-5  # EnsembleBatchNorm's


@dataclass(frozen=True)
class Layout:
    """Widths ``(p, h1, …, 1)`` of a network and where each layer sits in a flat vector."""

    widths: tuple[int, ...]

    @property
    def n_parameters(self) -> int:
        return sum(a * b + b for a, b in itertools.pairwise(self.widths))

    @property
    def n_hidden(self) -> int:
        return len(self.widths) - 2

    def unflatten(self, flat: Tensor) -> list[tuple[Tensor, Tensor]]:
        """``(W (…, out, in), b (…, out))`` per layer, views of ``flat (…, P)``."""
        layers, start = [], 0
        lead = flat.shape[:-1]
        for fan_in, fan_out in itertools.pairwise(self.widths):
            weight = flat[..., start:start + fan_in * fan_out].reshape(*lead, fan_out, fan_in)
            start += fan_in * fan_out
            layers.append((weight, flat[..., start:start + fan_out]))
            start += fan_out
        return layers

    def flatten(self, layers: Sequence[tuple[Tensor, Tensor]]) -> Tensor:
        """The inverse of :meth:`unflatten`."""
        parts = [t for w, b in layers for t in (w.flatten(-2), b)]
        return torch.cat(parts, dim=-1)


@dataclass(frozen=True)
class CommonScale:
    """Standardization shared by every member's landscape: discovery-row statistics."""

    input_mean: np.ndarray  # (p,)
    input_sd: np.ndarray  # (p,), 1 for constant columns
    target_mean: float
    target_sd: float

    @classmethod
    def from_rows(cls, X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> CommonScale:
        x = X[rows].astype(np.float64)
        sd = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(sd > 0, sd, 1.0), float(y[rows].mean()),
                   float(y[rows].std()) or 1.0)

    def inputs(self, X: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.as_tensor((X - self.input_mean) / self.input_sd, dtype=dtype)

    def target(self, y: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.as_tensor((y - self.target_mean) / self.target_sd, dtype=dtype)


def fold_members(state: Mapping[str, np.ndarray], scale: CommonScale,
                 dtype: torch.dtype = torch.float32) -> tuple[Layout, Tensor]:
    """Flat parameters ``(B, P)`` of plain networks in common coordinates that compute
    what the trained members compute (in evaluation mode) from their ``state``
    (``EnsembleFit.state`` or the store's checkpoint)."""
    s = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in state.items()}
    n_later = sum(1 for k in s if k.startswith("weights."))
    layers = [(s["first_weight"], s["first_bias"])]
    layers += [(s[f"weights.{i}"], s[f"biases.{i}"][..., 0]) for i in range(n_later)]
    # layer 1 on common inputs: the member saw (x - μ_m) * scale_m, x = x_c * sd_c + μ_c
    w1, b1 = layers[0]
    factor = torch.as_tensor(scale.input_sd)[None, :] * s["input_scale"]  # (B, p)
    shift = (torch.as_tensor(scale.input_mean)[None, :] - s["input_mean"]) * s["input_scale"]
    layers[0] = (w1 * factor[:, None, :], b1 + (w1 * shift[:, None, :]).sum(-1))
    for i in range(n_later):  # batch norm in evaluation mode: z ↦ a z + c per unit
        if f"norms.{i}.weight" not in s:
            continue
        a = s[f"norms.{i}.weight"][..., 0] / torch.sqrt(s[f"norms.{i}.running_var"][..., 0]
                                                       + _BN_EPS)
        c = s[f"norms.{i}.bias"][..., 0] - s[f"norms.{i}.running_mean"][..., 0] * a
        w, b = layers[i]
        layers[i] = (w * a[..., None], b * a + c)
    # output on the common target scale: ŷ_c = (ŷ_m * sd_m + mean_m - mean_c) / sd_c
    ratio = s["target_sd"] / scale.target_sd
    offset = (s["target_mean"] - scale.target_mean) / scale.target_sd
    w, b = layers[-1]
    layers[-1] = (w * ratio[:, None, None], b * ratio[:, None] + offset[:, None])
    layout = Layout((w1.shape[-1], *(w.shape[-2] for w, _ in layers)))
    return layout, layout.flatten(layers).to(dtype)


def predict(layout: Layout, flat: Tensor, x: Tensor) -> Tensor:
    """Predictions ``(B, n)`` of the networks ``flat (B, P)`` on inputs ``x (n, p)``."""
    layers = layout.unflatten(flat)
    w, b = layers[0]
    # one 2-D product for every member's first layer: a batched matmul against the
    # shared x would make its gradient's linearization (the curvature's Hessian-vector
    # products) keep an expanded copy of x per member
    h = torch.mm(w.reshape(-1, w.shape[-1]), x.T).view(*w.shape[:-1], len(x)) \
        + b[..., None]  # (B, h1, n)
    for w, b in layers[1:]:
        h = torch.matmul(w, torch.relu(h)) + b[..., None]
    return h[..., 0, :]


def mixture_losses(layout: Layout, basis: Tensor, mixing: Tensor, x: Tensor, y: Tensor
                   ) -> Tensor:
    """Mean squared error ``(T,)`` of the networks ``mixing (T, J) @ basis (J, P)``.

    The first layer is linear in the parameters, so its pre-activations are mixed from
    the J basis networks' own: J matrix products instead of T (a path's T points are
    mixtures of a few basis vectors, :mod:`embaudit.landscape.paths`).
    """
    layers = layout.unflatten(basis)
    w, b = layers[0]
    h = torch.einsum("tj,jon->ton", mixing, torch.matmul(w, x.T) + b[..., None])
    for w, b in layers[1:]:
        mixed_w = torch.einsum("tj,joi->toi", mixing, w)
        h = torch.matmul(mixed_w, torch.relu(h)) + (mixing @ b)[..., None]
    error = h[..., 0, :] - y
    return (error * error).mean(-1)


def member_losses(layout: Layout, flat: Tensor, x: Tensor, y: Tensor,
                  weights: Tensor | None = None) -> Tensor:
    """Weighted mean squared error of each network (``y``, ``weights``: (n,) or (B, n))."""
    error = predict(layout, flat, x) - y
    if weights is None:
        return (error * error).mean(-1)
    return (weights * error * error).sum(-1) / weights.sum(-1)


def canonicalize(layout: Layout, flat: Tensor) -> Tensor:
    """The same functions with every hidden unit's incoming weights and bias of unit
    norm, the scale pushed to its outgoing weights (ReLU is positively homogeneous).

    Networks that differ only by such rescalings map to one point, so what is measured
    there (sharpness, distances) cannot be inflated by rescaling (Dinh et al., 2017).
    """
    layers = [(w.clone(), b.clone()) for w, b in layout.unflatten(flat)]
    for i in range(layout.n_hidden):
        w, b = layers[i]
        norm = torch.sqrt((w * w).sum(-1) + b * b)
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        layers[i] = (w / norm[..., None], b / norm)
        w_next, b_next = layers[i + 1]
        layers[i + 1] = (w_next * norm[..., None, :], b_next)
    return layout.flatten(layers)


def permute_units(layout: Layout, flat: Tensor, permutations: Sequence[np.ndarray]) -> Tensor:
    """One network ``flat (P,)`` with hidden layer ``l``'s units reordered by
    ``permutations[l]`` (new unit ``i`` is old unit ``permutations[l][i]``)."""
    layers = [(w.clone(), b.clone()) for w, b in layout.unflatten(flat)]
    for i, order in enumerate(permutations):
        index = torch.as_tensor(np.asarray(order), dtype=torch.long)
        w, b = layers[i]
        layers[i] = (w[index], b[index])
        w_next, b_next = layers[i + 1]
        layers[i + 1] = (w_next[:, index], b_next)
    return layout.flatten(layers)
