"""B independent feed-forward regressors evaluated as one batched network.

Layer 1 of all members is one GEMM ``(batch × p) @ (p × B·h1)``; later layers are
batched matmuls ``(B × batch × h)``. Each member standardizes the inputs with its own
statistics: the scaling is folded into its first-layer weights, so the shared GEMM runs
on the raw inputs and training is exactly that of a member fed standardized features.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def _uniform(generator: torch.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
    """``nn.Linear``'s default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1) * bound


class EnsembleMLP(nn.Module):
    """``B`` ReLU networks ``p → hidden[0] → … → hidden[-1] → 1`` trained side by side.

    Parameters
    ----------
    n_features:
        Number of input features ``p``.
    hidden:
        Widths of the hidden layers.
    seeds:
        One seed per member; a member's initial weights depend on its seed only.
    input_mean, input_scale:
        ``(B, p)`` per-member standardization: the member sees ``(x - mean) * scale``.
    """

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int],
        seeds: Sequence[int],
        input_mean: Tensor,
        input_scale: Tensor,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one hidden layer width")
        self.n_members = len(seeds)
        self.hidden = tuple(int(h) for h in hidden)
        widths = (n_features, *self.hidden, 1)
        per_member = [self._init_member(int(s), widths) for s in seeds]
        stacked = [torch.stack(ps) for ps in zip(*per_member, strict=True)]
        # first layer stored as (p, B, h1): the shared GEMM reads it without a copy
        self.first_weight = nn.Parameter(stacked[0].permute(1, 0, 2).contiguous())
        self.first_bias = nn.Parameter(stacked[1])
        self.weights = nn.ParameterList(stacked[2::2])  # (B, h_in, h_out)
        self.biases = nn.ParameterList(t.unsqueeze(1) for t in stacked[3::2])  # (B, 1, h_out)
        self.register_buffer("input_mean", input_mean.to(torch.float32).clone())
        self.register_buffer("input_scale", input_scale.to(torch.float32).clone())

    @staticmethod
    def _init_member(seed: int, widths: Sequence[int]) -> list[Tensor]:
        generator = torch.Generator().manual_seed(seed)
        params: list[Tensor] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            params.append(_uniform(generator, (fan_in, fan_out), fan_in))
            params.append(_uniform(generator, (fan_out,), fan_in))
        return params

    def member_dims(self) -> dict[str, int]:
        """Name of each parameter → the dimension that indexes members."""
        return {name: (1 if name == "first_weight" else 0) for name, _ in self.named_parameters()}

    def forward(
        self, x: Tensor, layer: int = -1, pre_activation: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Predictions ``(B, batch)`` and the embedding ``(B, batch, h)`` of ``layer``.

        ``layer`` indexes the hidden layers (``-1``: the last); ``pre_activation`` takes
        the values before the ReLU.
        """
        layer = layer % len(self.hidden)
        p, B, h1 = self.first_weight.shape
        scaled = self.first_weight * self.input_scale.T.unsqueeze(-1)  # (p, B, h1)
        bias = self.first_bias - torch.einsum(
            "bp,pbh->bh", self.input_mean * self.input_scale, self.first_weight
        )
        z = (x @ scaled.reshape(p, B * h1)).reshape(-1, B, h1).transpose(0, 1) + bias[:, None]
        embedding = z
        for index, (weight, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.relu(z)
            if index == layer:
                embedding = z if pre_activation else h
            z = torch.baddbmm(b, h, weight)
        return z.squeeze(-1), embedding
