"""Adam, AdamW and SGD over a :class:`RawFeatureEnsemble`, in one pass per step.

Each optimizer is W's optimizer in standardized coordinates, written for U = W ⊙ s (see
:mod:`embaudit.training.raw`): W's gradient is ``s ⊙ (dz xᵀ - db μᵀ)`` and a step ΔW of
W moves U by ``s ⊙ ΔW``, so the moments (and SGD's momentum) are exactly those of the
standardized network, and Adam on U this way is Adam on W with a per-feature learning
rate ``lr·s`` and ε scaled by ``σ`` — in exact arithmetic. The arithmetic per element is
``torch.optim``'s single-tensor one. The compiled kernel (:mod:`embaudit.training.native`)
makes the rank-1 gradient correction, the update of every parameter and the new bias
``c = b - U μ`` one pass; without a C compiler the same update runs as torch operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from embaudit.training.native import address, kernel_for
from embaudit.training.raw import RawFeatureEnsemble


class _EnsembleOptimizer(torch.optim.Optimizer):
    """Shared set-up: one parameter group over the ensemble's flat storage."""

    def __init__(self, ensemble: RawFeatureEnsemble, defaults: dict[str, Any],
                 native: bool | None = None) -> None:
        super().__init__([ensemble.first, ensemble.bias, ensemble.rest], defaults)
        self.ensemble = ensemble
        self.kernel = kernel_for(ensemble.first.device, native)
        self.steps = 0

    def step(self, closure: Callable[[], float] | None = None) -> None:
        """One update (``closure`` is not used: the gradients are the ensemble's)."""
        self.update()

    def update(self) -> None:
        """One update, without ``torch.optim``'s per-call hooks and profiling."""
        raise NotImplementedError

    def _count(self) -> None:
        self.steps += 1
        self._opt_called = True  # what an LR scheduler checks for: a step was taken

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Gradients are written whole by each backward pass: nothing to reset."""

    def _weight_gradient(self) -> tuple[Tensor, Tensor]:
        """W's gradient ``s ⊙ (dz xᵀ - db μᵀ)`` and db (the torch path)."""
        e = self.ensemble
        raw, db = e.columns(e.grad_first)
        return e.scale[:, None] * (raw - db[..., None] * e.mean[:, None]), db


class EnsembleAdam(_EnsembleOptimizer):
    """Adam (``weight_decay`` 0) or AdamW (decoupled decay) on every member at once."""

    def __init__(self, ensemble: RawFeatureEnsemble, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, native: bool | None = None) -> None:
        super().__init__(ensemble, {"lr": lr, "betas": betas, "eps": eps,
                                    "weight_decay": weight_decay}, native)
        self.exp_avg = [torch.zeros_like(ensemble.first), torch.zeros_like(ensemble.rest)]
        self.exp_avg_sq = [torch.zeros_like(ensemble.first), torch.zeros_like(ensemble.rest)]

    @torch.no_grad()
    def update(self) -> None:
        group = self.param_groups[0]
        self._count()
        lr, (beta1, beta2) = group["lr"], group["betas"]
        step_size = lr / (1 - beta1**self.steps)
        bc2_sqrt = (1 - beta2**self.steps) ** 0.5
        decay = 1 - lr * group["weight_decay"]
        e = self.ensemble
        if self.kernel is not None:
            B, h, p = e.shape
            (m, m_rest), (v, v_rest) = self.exp_avg, self.exp_avg_sq
            self.kernel.adam_step(
                B, h, p, e.width, *map(address, (e.first, e.bias, e.grad_first, m, v, e.scale,
                                         e.mean)),
                e.rest.numel(), *map(address, (e.rest, e.grad_rest, m_rest, v_rest)),
                1 - beta1, beta2, 1 - beta2, step_size, 1 / bc2_sqrt, group["eps"], decay)
            return
        grad, db = self._weight_gradient()
        U, _ = e.columns(e.first)
        (m, m_rest), (v, v_rest) = self.exp_avg, self.exp_avg_sq
        first_m, bias_m = e.columns(m)
        first_v, bias_v = e.columns(v)
        for param, g, mk, vk, scale in (
                (U, grad, first_m, first_v, e.scale[:, None]),
                (e.bias.view(db.shape), db, bias_m, bias_v, None),
                (e.rest, e.grad_rest, m_rest, v_rest, None)):
            mk.lerp_(g, 1 - beta1)
            vk.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            delta = mk.mul(-step_size) / (vk.sqrt().mul_(1 / bc2_sqrt) + group["eps"])
            param.mul_(decay).add_(delta if scale is None else scale * delta)
        e.recentre()


class EnsembleSGD(_EnsembleOptimizer):
    """SGD with momentum (``torch.optim.SGD``'s: dampening 0, coupled weight decay)."""

    def __init__(self, ensemble: RawFeatureEnsemble, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, native: bool | None = None) -> None:
        super().__init__(ensemble, {"lr": lr, "momentum": momentum,
                                    "weight_decay": weight_decay}, native)
        self.momentum_buffer = [torch.zeros_like(ensemble.first),
                                torch.zeros_like(ensemble.rest)]

    @torch.no_grad()
    def update(self) -> None:
        group = self.param_groups[0]
        self._count()
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        e = self.ensemble
        buf, buf_rest = self.momentum_buffer
        if self.kernel is not None:
            B, h, p = e.shape
            self.kernel.sgd_step(
                B, h, p, e.width, *map(address, (e.first, e.bias, e.grad_first, buf, e.scale, e.sd,
                                         e.mean)),
                e.rest.numel(), *map(address, (e.rest, e.grad_rest, buf_rest)),
                lr, momentum, decay, int(self.steps == 1))
            return
        grad, db = self._weight_gradient()
        U, _ = e.columns(e.first)
        first_buf, bias_buf = e.columns(buf)
        bias = e.bias.view(db.shape)
        for param, g, b, scale, sd in (
                (U, grad, first_buf, e.scale[:, None], e.sd[:, None]),
                (bias, db, bias_buf, None, None),
                (e.rest, e.grad_rest, buf_rest, None, None)):
            g = g + decay * (param if sd is None else sd * param)
            b.copy_(g) if self.steps == 1 else b.mul_(momentum).add_(g)
            param.add_(-lr * b if scale is None else scale * (-lr * b))
        e.recentre()
