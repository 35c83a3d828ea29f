"""Adam, AdamW and SGD over a :class:`RawFeatureEnsemble`: torch's own optimizers.

The ensemble's parameters are the standardized network's (one flat tensor; see
:mod:`embaudit.training.raw`), so each optimizer is ``torch.optim``'s on them, with
torch's fused kernel, and only rebuilds the raw-feature pass's ``[U | c]`` after its
step. The fused kernel's scalar tail (the last ``numel % 16`` elements of a tensor; its
threads split at multiples of 16) rounds differently from its vector body, so a member
whose elements fell in the tail alone but in the body inside a larger ensemble would not
train bit for bit the same. The raw ensemble pads each member's share to a multiple of
:data:`FUSED_ALIGNMENT` floats, so no element is ever in the tail; autograd's parameters
(:func:`parameter_groups`) go to the fused kernel where their per-member slices are such
a multiple, and to the ``foreach`` implementation (separate element-wise operations,
whose vector and scalar code round alike) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from embaudit.training.raw import MEMBER_ALIGNMENT, RawFeatureEnsemble

#: parameters whose per-member size is a multiple of this go to torch's fused kernel
FUSED_ALIGNMENT = MEMBER_ALIGNMENT


def member_aligned(parameter: Tensor) -> bool:
    """Whether a ``(B, …)`` parameter's per-member slice suits the fused kernel."""
    return parameter[0].numel() % FUSED_ALIGNMENT == 0


def parameter_groups(parameters: Iterable[Tensor]) -> list[dict[str, Any]]:
    """The parameters in one ``fused`` group (aligned ones) and one ``foreach`` group."""
    parameters = list(parameters)
    aligned = [p for p in parameters if member_aligned(p)]
    rest = [p for p in parameters if not member_aligned(p)]
    return ([{"params": aligned, "fused": True}] if aligned else []) + \
        ([{"params": rest, "foreach": True}] if rest else [])


class _RawFeatureOptimizer(torch.optim.Optimizer):
    """One parameter group over the ensemble's flat parameters; each update is
    ``torch.optim``'s functional step (fused), then the rebuild of ``[U | c]``."""

    ensemble: RawFeatureEnsemble

    def step(self, closure: Callable[[], float] | None = None) -> None:
        """One update (``closure`` is not used: the gradients are the ensemble's)."""
        self.update()

    def update(self) -> None:
        """One update, without the per-call hooks and profiling of :meth:`step` (a
        step of this workload is ~2 ms, and they took ~0.1 ms of it)."""
        with torch.no_grad():
            self._functional_step(self.param_groups[0], self.state[self.ensemble.flat])
        self.ensemble.refresh()
        self._opt_called = True  # what an LR scheduler checks for: a step was taken

    def _functional_step(self, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Gradients are written whole by each backward pass: nothing to reset."""


class EnsembleAdam(_RawFeatureOptimizer, torch.optim.Adam):
    """Adam (``weight_decay`` 0) or AdamW (decoupled decay) on every member at once."""

    def __init__(self, ensemble: RawFeatureEnsemble, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        flat = ensemble.flat
        torch.optim.Adam.__init__(self, [flat], lr=lr, betas=betas, eps=eps,
                                  weight_decay=weight_decay, fused=True,
                                  decoupled_weight_decay=True)
        self.ensemble = ensemble
        self.state[flat].update(step=torch.zeros((), device=flat.device),
                                exp_avg=torch.zeros_like(flat),
                                exp_avg_sq=torch.zeros_like(flat))

    def _functional_step(self, group: dict[str, Any], state: dict[str, Any]) -> None:
        flat = self.ensemble.flat
        beta1, beta2 = group["betas"]
        adam(
            [flat], [flat.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [],
            [state["step"]], fused=True, decoupled_weight_decay=True, amsgrad=False,
            beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
            eps=group["eps"], maximize=False)


class EnsembleSGD(_RawFeatureOptimizer, torch.optim.SGD):
    """SGD with momentum (``torch.optim.SGD``'s: dampening 0, coupled weight decay)."""

    def __init__(self, ensemble: RawFeatureEnsemble, lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        torch.optim.SGD.__init__(self, [ensemble.flat], lr=lr, momentum=momentum,
                                 weight_decay=weight_decay, fused=True)
        self.ensemble = ensemble

    def _functional_step(self, group: dict[str, Any], state: dict[str, Any]) -> None:
        flat = self.ensemble.flat
        buffers = [state.get("momentum_buffer")]  # the first step makes it: the gradient
        sgd(
            [flat], [flat.grad], buffers, fused=True, weight_decay=group["weight_decay"],
            momentum=group["momentum"], lr=group["lr"], dampening=0.0, nesterov=False,
            maximize=False)
        if group["momentum"] != 0:
            state["momentum_buffer"] = buffers[0]
