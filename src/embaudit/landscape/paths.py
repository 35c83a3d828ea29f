"""Loss barriers between two minima: along the straight line, and along a low curved
path (a Fourier series laid over the line).

A path's points are mixtures of a few basis vectors: ``ω(t) = Σ_j φ_j(t) B_j`` with
``B = [start, end - start, c_1, …, c_K]`` and ``φ(t) = [1, t, sin(πt), …, sin(Kπt)]``.
``loss(B, φ)`` maps the basis ``(J, P)`` and the mixing weights of T points ``(T, J)``
to their losses ``(T,)``; for a network, the first layer (linear in the parameters) is
then J matrix products however many points the path has
(:func:`~embaudit.landscape.functional.mixture_losses`). :func:`pointwise` adapts a
loss of plain points.

A path reports absolute heights (the landscape's own units, so paths of one group
compare): its highest point (the saddle height a disconnectivity graph merges at), the
barrier from each end (the highest point minus that end's loss: how far a minimum must
climb to leave along this path) and the *excess* over the straight interpolation of the
end losses. No single "barrier" taken from the higher end: it hides a climb from the
lower one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PathLoss = Callable[[Tensor, Tensor], Tensor]  # basis (J, P), mixing (T, J) -> (T,)


def pointwise(loss: Callable[[Tensor], Tensor]) -> PathLoss:
    """A :data:`PathLoss` from a loss of points ``(T, P) -> (T,)``."""
    return lambda basis, mixing: loss(mixing @ basis)


@dataclass(frozen=True)
class PathResult:
    """A path's losses on its grid ``t`` and its barriers."""

    t: np.ndarray
    losses: np.ndarray

    @property
    def height(self) -> float:
        """The highest loss on the path (absolute)."""
        return float(self.losses.max())

    @property
    def barrier_from_start(self) -> float:
        return self.height - float(self.losses[0])

    @property
    def barrier_from_end(self) -> float:
        return self.height - float(self.losses[-1])

    @property
    def excess_barrier(self) -> float:
        linear = (1 - self.t) * self.losses[0] + self.t * self.losses[-1]
        return float((self.losses - linear).max())


def judge_points(n_terms: int, n_points: int = 17) -> int:
    """Points of the grid :func:`fourier_path` judges a path on (straight lines that
    are compared with it should use the same grid)."""
    return 3 * (max(n_points, 4 * n_terms + 1) - 1) + 1


def _grid(n_points: int, dtype: torch.dtype) -> Tensor:
    return torch.linspace(0.0, 1.0, n_points, dtype=dtype)


def _mixing(t: Tensor, n_terms: int) -> Tensor:
    """``φ(t)`` for every point: ``[1, t, sin(πt), …, sin(Kπt)]``, shape ``(T, 2 + K)``."""
    k = torch.arange(1, n_terms + 1, dtype=t.dtype)
    return torch.cat([torch.ones_like(t)[:, None], t[:, None],
                      torch.sin(torch.pi * k[None, :] * t[:, None])], dim=1)


def straight_path(loss: PathLoss, start: Tensor, end: Tensor, n_points: int = judge_points(4)
                  ) -> PathResult:
    """Losses along ``(1 - t) start + t end`` on ``n_points`` evenly spaced ``t`` (by
    default the grid :func:`fourier_path` judges its default path on)."""
    t = _grid(n_points, start.dtype)
    with torch.no_grad():
        losses = loss(torch.stack([start, end - start]), _mixing(t, 0))
    return PathResult(t.double().numpy(), losses.double().numpy())


def fourier_path(loss: PathLoss, start: Tensor, end: Tensor, *, n_terms: int = 4,
                 n_points: int = 17, steps: int = 50, learning_rate: float = 0.05,
                 smoothness: float = 1e-4, sharpness: float = 20.0,
                 training_loss: PathLoss | None = None, seed: int = 0) -> PathResult:
    """A low path ``ω(t) = (1 - t) start + t end + Σ_{k≤K} c_k sin(kπt)`` between two
    minima: the coefficients ``c`` are fitted with Adam to lower a soft maximum of the
    loss on the grid (``sharpness`` sets how close to the maximum), plus
    ``smoothness · Σ k² |c_k|²``. Starts on the straight line and keeps the best path
    seen, so its height on the grid never exceeds the straight line's. The grid has
    ``n_points`` (at least ``4 K + 1``, so every term is resolved) and the path is
    judged on a grid three times finer. A small random start (``seed``) breaks the
    symmetry of a loss that is flat across the line.

    ``training_loss`` (default ``loss``) is what the fit descends, e.g. on a mini-batch
    of rows; ``loss`` judges which path is best. ``learning_rate`` is relative to the
    distance between the end points per coordinate.
    """
    fit_grid = _grid(max(n_points, 4 * n_terms + 1), start.dtype)
    judge_grid = _grid(judge_points(n_terms, n_points), start.dtype)
    fit_mixing, judge_mixing = _mixing(fit_grid, n_terms), _mixing(judge_grid, n_terms)
    scale = float((end - start).norm() / np.sqrt(start.shape[-1])) or 1.0
    generator = torch.Generator().manual_seed(seed)
    coefficients = (1e-3 * scale * torch.randn(n_terms, start.shape[-1], generator=generator,
                                               dtype=start.dtype)).requires_grad_()
    line = torch.stack([start, end - start])
    optimizer = torch.optim.Adam([coefficients], lr=learning_rate * scale)
    penalty = torch.arange(1, n_terms + 1, dtype=start.dtype) ** 2
    fit_loss = training_loss or loss

    with torch.no_grad():
        best = loss(line, judge_mixing[:, :2])
    spread = float(best.max() - best.min()) or 1.0
    check_every = max(1, steps // 5)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        values = fit_loss(torch.cat([line, coefficients]), fit_mixing)
        soft_max = torch.logsumexp(values * (sharpness / spread), 0) * (spread / sharpness)
        objective = soft_max + smoothness * (penalty[:, None] * coefficients**2).sum()
        objective.backward()
        optimizer.step()
        if step % check_every == 0 or step == steps:
            with torch.no_grad():
                values = loss(torch.cat([line, coefficients]), judge_mixing)
                if values.max() < best.max():
                    best = values
    return PathResult(judge_grid.double().numpy(), best.detach().double().numpy())
