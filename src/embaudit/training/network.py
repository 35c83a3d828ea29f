"""B independent feed-forward regressors evaluated as one batched network.

Activations are kept feature-major, ``(B, h, batch)``, so every layer works on
contiguous memory: layer 1 of all members is one GEMM ``(B·h1 × p) @ (p × batch)``
with the bias fused in, later layers are batched GEMMs ``(B × h_out × h_in) @ (B ×
h_in × batch)``. Each member standardizes the inputs with its own statistics: the
scaling is folded into its first-layer weights, so the shared GEMM reads the raw inputs
and the network computes exactly what a member fed standardized features computes. The
parameters are those of the standardized network (what checkpoints store); training
without batch norm runs on a raw-feature copy of them (:mod:`embaudit.training.raw`).

Everything random about a member (initial weights, dropout masks) comes from its own
seed, so a member trains the same alone or inside any ensemble.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

_DROPOUT_STREAM = 1_000_003  # offsets a member's dropout generator from its init seed


def _uniform(generator: torch.Generator, shape: tuple[int, ...], fan_in: int) -> Tensor:
    """``nn.Linear``'s default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator, dtype=torch.float32) * 2 - 1) * bound


class _StandardizedLinear(torch.autograd.Function):
    """Layer 1 of every member on standardized inputs, from the raw inputs.

    Forward: ``z_b = (W_b ⊙ s_b) xᵀ + b_b - (W_b ⊙ s_b)·μ_b`` as one GEMM over all
    members. Backward, by hand: one GEMM for ``G = dz x`` and two in-place passes,
    ``dW = (G - db ⊗ μ) ⊙ s``, where autograd would allocate several weight-sized
    temporaries per step. Every operation's arithmetic per member is independent of B.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, weight: Tensor,
                bias: Tensor, mean: Tensor, scale: Tensor) -> Tensor:
        B, h, p = weight.shape
        scaled = weight * scale[:, None, :]
        # bias - W̃·mean as an element-wise product and a row reduction: unlike a batched
        # GEMV, its arithmetic per member is the same for every B (exactness)
        effective_bias = bias - (scaled * mean[:, None, :]).sum(-1)
        z = torch.addmm(effective_bias.reshape(B * h, 1), scaled.reshape(B * h, p), x.T)
        ctx.save_for_backward(x, mean, scale)
        return z.view(B, h, -1)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_z: Tensor
                 ) -> tuple[None, Tensor, Tensor, None, None]:
        x, mean, scale = ctx.saved_tensors
        B, h, n = grad_z.shape
        flat = grad_z.reshape(B * h, n)
        grad_bias = flat.sum(1).view(B, h)
        grad_weight = torch.mm(flat, x).view(B, h, -1)
        grad_weight.addcmul_(grad_bias[:, :, None], mean[:, None, :], value=-1.0)
        grad_weight.mul_(scale[:, None, :])
        return None, grad_weight, grad_bias, None, None


class EnsembleBatchNorm(nn.Module):
    """Batch norm per member and unit, on each member's own rows (weighted).

    In training, unit statistics are the member's weighted mean and variance over the
    batch (rows a member does not train on have weight 0); running estimates serve
    evaluation, as in ``nn.BatchNorm1d``.
    """

    def __init__(self, n_members: int, width: int, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(n_members, width, 1))
        self.bias = nn.Parameter(torch.zeros(n_members, width, 1))
        self.register_buffer("running_mean", torch.zeros(n_members, width, 1))
        self.register_buffer("running_var", torch.ones(n_members, width, 1))

    def forward(self, z: Tensor, row_weights: Tensor | None) -> Tensor:
        if self.training:
            w = torch.ones_like(z[:, :1]) if row_weights is None else row_weights[:, None, :]
            total = w.sum(-1, keepdim=True).clamp_min(1.0)
            mean = (z * w).sum(-1, keepdim=True) / total
            var = ((z - mean) ** 2 * w).sum(-1, keepdim=True) / total
            with torch.no_grad():  # a member with no rows in this batch keeps its estimates
                seen = w.sum(-1, keepdim=True) > 0
                unbiased = var * total / (total - 1).clamp_min(1.0)
                self.running_mean.copy_(torch.where(
                    seen, self.running_mean.lerp(mean, self.momentum), self.running_mean))
                self.running_var.copy_(torch.where(
                    seen, self.running_var.lerp(unbiased, self.momentum), self.running_var))
        else:
            mean, var = self.running_mean, self.running_var
        return (z - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


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
    dropout:
        Dropout rate after each hidden ReLU (training only).
    batch_norm:
        Batch norm (per member, weighted) before each hidden ReLU.
    """

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int],
        seeds: Sequence[int],
        input_mean: Tensor,
        input_scale: Tensor,
        *,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("hidden must name at least one hidden layer width")
        self.n_members = len(seeds)
        self.hidden = tuple(int(h) for h in hidden)
        self.seeds = [int(s) for s in seeds]
        self.dropout = float(dropout)
        widths = (n_features, *self.hidden, 1)
        per_member = [self._init_member(s, widths) for s in self.seeds]
        stacked = [torch.stack(ps) for ps in zip(*per_member, strict=True)]
        self.first_weight = nn.Parameter(stacked[0])  # (B, h1, p)
        self.first_bias = nn.Parameter(stacked[1])  # (B, h1)
        self.weights = nn.ParameterList(stacked[2::2])  # (B, h_out, h_in)
        self.biases = nn.ParameterList(t.unsqueeze(-1) for t in stacked[3::2])  # (B, h_out, 1)
        self.norms = nn.ModuleList(
            EnsembleBatchNorm(self.n_members, h) for h in self.hidden
        ) if batch_norm else None
        self.register_buffer("input_mean", input_mean.to(torch.float32).clone())
        self.register_buffer("input_scale", input_scale.to(torch.float32).clone())
        self._dropout_generators: list[torch.Generator] | None = None

    @staticmethod
    def _init_member(seed: int, widths: Sequence[int]) -> list[Tensor]:
        generator = torch.Generator().manual_seed(seed)
        params: list[Tensor] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            params.append(_uniform(generator, (fan_out, fan_in), fan_in))
            params.append(_uniform(generator, (fan_out,), fan_in))
        return params

    def member_state(self) -> dict[str, Tensor]:
        """Every per-member tensor (parameters and running statistics), member dim 0."""
        state = dict(self.named_parameters())
        state.update((k, v) for k, v in self.named_buffers() if k.startswith("norms."))
        return state

    def forward(self, x: Tensor, row_weights: Tensor | None = None) -> Tensor:
        """Predictions ``(B, batch)``; ``row_weights`` ``(B, batch)`` feed batch norm."""
        *_, (output, _) = self._layers(x, row_weights)
        return output.squeeze(1)

    def embed(self, x: Tensor, layer: int = -1, pre_activation: bool = False
              ) -> tuple[Tensor, Tensor]:
        """Predictions ``(B, batch)`` and the embedding ``(B, batch, h)`` of ``layer``.

        ``layer`` indexes the hidden layers (``-1``: the last); ``pre_activation`` takes
        the values before the ReLU.
        """
        layer = layer % len(self.hidden)
        embedding = None
        for index, (z, h) in enumerate(self._layers(x, None)):
            if index == layer:
                embedding = z if pre_activation else h
        return z.squeeze(1), embedding.transpose(1, 2)

    def _layers(self, x: Tensor, row_weights: Tensor | None) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (pre-activation, post-activation) of each hidden layer, then the output."""
        z = _StandardizedLinear.apply(x, self.first_weight, self.first_bias, self.input_mean,
                                      self.input_scale)
        for index, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            if self.norms is not None:
                z = self.norms[index](z, row_weights)
            h = torch.relu(z)
            yield z, h
            if self.dropout > 0 and self.training:
                h = h * self._dropout_mask(h)
            z = torch.baddbmm(b, w, h)
        yield z, z

    def _dropout_mask(self, h: Tensor) -> Tensor:
        """Inverted-dropout mask, each member's drawn from its own generator."""
        if self._dropout_generators is None:
            self._dropout_generators = [
                torch.Generator().manual_seed(s + _DROPOUT_STREAM) for s in self.seeds
            ]
        keep = 1.0 - self.dropout
        draws = torch.stack([torch.rand(h.shape[1:], generator=g)
                             for g in self._dropout_generators])  # on the CPU: any device
        return ((draws < keep).to(h.dtype) / keep).to(h.device)  # draws the same masks
