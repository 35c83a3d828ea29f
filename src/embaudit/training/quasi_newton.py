"""Quasi-Newton with a golden-section line search: the optimizer of the loss-landscape
paper's comparison (L-BFGS directions, the step length found by golden-section search
on the loss along the direction, a fixed budget of evaluations).

``torch.optim.LBFGS`` offers a strong-Wolfe search or none; this is the other one.
Golden-section search on ``(0, lr]`` (inside a bracket found by halving and doubling,
so scipy never expands it past the interval) minimises the loss along the line
without looking at slopes, so it can return a step that does not decrease the loss
enough or that breaks the curvature condition: a step is taken only if it passes
Armijo's test (else the search backtracks by halving, and stops with no step), and a
curvature pair enters the history only if ``yᵀs > 0`` (else the inverse-Hessian estimate
would not stay positive definite).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import Tensor

#: Armijo's sufficient-decrease constant
_ARMIJO = 1e-4
#: halvings tried when the golden-section step fails Armijo's test
_BACKTRACKS = 10
#: halvings of the first trial step while looking for any decrease
_HALVINGS = 40


class GoldenSectionLBFGS(torch.optim.Optimizer):
    """L-BFGS directions, golden-section step lengths (``lr``: the initial bracket's
    end; ``evaluations``: the search's budget per iteration)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 1.0, max_iter: int = 20,
                 history_size: int = 10, evaluations: int = 20) -> None:
        super().__init__(params, {"lr": lr, "max_iter": max_iter,
                                  "history_size": history_size,
                                  "evaluations": evaluations})
        if len(self.param_groups) != 1:
            raise ValueError("GoldenSectionLBFGS takes one parameter group")
        self.steps: list[Tensor] = []
        self.changes: list[Tensor] = []

    def _flat(self, grad: bool = False) -> Tensor:
        params = self.param_groups[0]["params"]
        if grad:
            return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                              .reshape(-1) for p in params])
        return torch.cat([p.detach().reshape(-1) for p in params])

    def _assign(self, flat: Tensor) -> None:
        start = 0
        for p in self.param_groups[0]["params"]:
            p.data.copy_(flat[start:start + p.numel()].view_as(p))
            start += p.numel()

    def _direction(self, gradient: Tensor) -> Tensor:
        """``-H g`` by the two-loop recursion over the stored curvature pairs."""
        q, alphas = gradient.clone(), []
        for s, y in zip(reversed(self.steps), reversed(self.changes), strict=True):
            alpha = (s @ q) / (y @ s)
            alphas.append(alpha)
            q -= alpha * y
        if self.steps:
            q *= (self.steps[-1] @ self.changes[-1]) / (self.changes[-1] @ self.changes[-1])
        for (s, y), alpha in zip(zip(self.steps, self.changes, strict=True),
                                 reversed(alphas), strict=True):
            q += s * (alpha - (y @ q) / (y @ s))
        return -q

    @staticmethod
    def _golden_step(along: Callable[[float], float], value: float, lr: float,
                     evaluations: int) -> float:
        """The step length in ``(0, lr]`` by golden-section search: first a bracket
        ``0 < a < b ≤ lr`` with ``L(a)`` below ``L(0)`` and ``L(b)`` (halving from
        ``lr/2`` until the loss falls, doubling while it keeps falling), then scipy's
        golden section inside it (at most ``evaluations`` iterations). ``lr`` when the
        loss still falls there; 0 when no step lowers it."""
        a, low = lr / 2, along(lr / 2)
        for _ in range(_HALVINGS):
            if low < value:
                break
            a /= 2
            low = along(a)
        else:
            return 0.0
        while True:
            b = min(2 * a, lr)
            high = along(b)
            if not high < low:
                break
            if b >= lr:
                return lr
            a, low = b, high
        try:  # scipy re-evaluates the bracket's ends and needs L(a) strictly lowest
            search = minimize_scalar(along, bracket=(0.0, a, b), method="golden",
                                     options={"maxiter": evaluations})
        except ValueError:  # a flat stretch (L(a) = L(b)): a is as good as the search
            return a
        alpha = float(search.x)
        return alpha if np.isfinite(alpha) and 0 < alpha <= lr else a

    def step(self, closure: Callable[[], Tensor]) -> Tensor:  # type: ignore[override]
        """Up to ``max_iter`` iterations; ``closure`` zeroes the gradients, computes the
        loss, calls ``backward`` unless gradients are disabled (the line search only needs
        values) and returns the loss."""
        group = self.param_groups[0]
        with torch.enable_grad():
            loss = closure()
        first = loss
        for _ in range(group["max_iter"]):
            x, gradient = self._flat(), self._flat(grad=True)
            direction = self._direction(gradient)
            slope = float(direction @ gradient)
            if not slope < 0:  # not a descent direction: forget the history
                self.steps, self.changes = [], []
                direction, slope = -gradient, float(-(gradient @ gradient))
            if slope == 0:
                break
            value = float(loss.detach())

            def along(alpha: float, x: Tensor = x, direction: Tensor = direction) -> float:
                self._assign(x + alpha * direction)
                with torch.no_grad():
                    return float(closure())

            alpha = self._golden_step(along, value, group["lr"], group["evaluations"])
            for _ in range(_BACKTRACKS if alpha > 0 else 0):
                if along(alpha) <= value + _ARMIJO * alpha * slope:
                    break
                alpha /= 2
            else:  # no acceptable step along this direction
                self._assign(x)
                break
            self._assign(x + alpha * direction)
            with torch.enable_grad():
                loss = closure()
            s, y = alpha * direction, self._flat(grad=True) - gradient
            if float(y @ s) > 1e-10:
                self.steps.append(s)
                self.changes.append(y)
                del self.steps[:-group["history_size"]], self.changes[:-group["history_size"]]
        return first
