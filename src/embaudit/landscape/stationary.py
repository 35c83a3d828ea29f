"""Minima that are minima: polishing trained points to stationary points of the loss a
landscape is measured on, and saying what each point is.

Training stops on its own rule (a loss tolerance, a patience, a budget), not at a
stationary point: Adam and SGD end with gradients far from zero, and a bootstrap member
minimised its own weighted loss, not the one paths are measured on. Geometry between
points that are not minima of the measured loss reads the distance to the nearest
minimum as a barrier. So every point is polished on that loss first and classified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from embaudit.landscape.curvature import MemberLoss, Spectrum, gradient_norm

#: L-BFGS iterations between convergence checks (members that converged leave the batch)
_CHUNK = 250

#: what a measured point is
MINIMUM, SADDLE, NOT_STATIONARY, STOPPED_EARLY, CURVATURE_UNCONVERGED = (
    "minimum", "saddle", "not stationary", "stopped early", "curvature not converged")


@dataclass(frozen=True)
class Polished:
    """Points after polishing, with each member's gradient norm before and after."""

    theta: Tensor  # (B, P)
    gradient_before: np.ndarray  # (B,)
    gradient_after: np.ndarray  # (B,)
    iterations: np.ndarray  # (B,) L-BFGS iterations each member took part in


def gradient_norms(loss: MemberLoss, theta: Tensor) -> np.ndarray:
    """``|∇L_b|`` per member, as numbers (:func:`~embaudit.landscape.curvature.
    gradient_norm`)."""
    return gradient_norm(loss, theta.detach()).detach().double().numpy()


def polish(loss: MemberLoss, theta: Tensor, tolerance: float, max_iterations: int
           ) -> Polished:
    """L-BFGS with a strong-Wolfe line search on the summed member losses until every
    member's gradient norm is at most ``tolerance`` (or ``max_iterations``). ``loss``
    is one loss for any number of members (every member on the same rows).

    The sum is separable, so its stationary points are exactly those where every member
    is stationary; members that reach the tolerance leave the batch, so a slow member
    never moves a finished one. Runs in the dtype of ``theta`` (float64 for tight
    tolerances). One thread: a thousand iterations amplify the rounding of a
    multi-threaded sum, and the point reached must not depend on where it ran.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _polish(loss, theta, tolerance, max_iterations)
    finally:
        torch.set_num_threads(threads)


def _polish(loss: MemberLoss, theta: Tensor, tolerance: float, max_iterations: int
            ) -> Polished:
    theta = theta.detach().clone()
    before = gradient_norms(loss, theta)
    after, iterations = before.copy(), np.zeros(len(theta), dtype=int)
    done = 0
    while done < max_iterations:
        active = np.flatnonzero(after > tolerance)
        if not active.size:
            break
        index = torch.as_tensor(active, dtype=torch.long)
        part = theta[index].clone().requires_grad_()
        steps = min(_CHUNK, max_iterations - done)
        optimizer = torch.optim.LBFGS([part], lr=1.0, max_iter=steps, history_size=20,
                                      tolerance_grad=0.0, tolerance_change=0.0,
                                      line_search_fn="strong_wolfe")

        def closure(part: Tensor = part, optimizer: torch.optim.LBFGS = optimizer
                    ) -> Tensor:
            optimizer.zero_grad()
            value = loss(part).sum()
            value.backward()
            return value

        optimizer.step(closure)
        with torch.no_grad():
            theta[index] = part.detach()
        after = gradient_norms(loss, theta)
        # the iterations L-BFGS took (it may stop before the chunk's end)
        iterations[active] += int(optimizer.state[part].get("n_iter", steps))
        done += steps
    return Polished(theta, before, after, iterations)


def classify(gradient_norm: np.ndarray, spectrum: Spectrum, gradient_tolerance: float,
             curvature_tolerance: float, stopped_early: bool = False) -> np.ndarray:
    """Per point: ``minimum`` (gradient within tolerance, no eigenvalue below
    ``-curvature_tolerance · |λ_max|``), ``saddle`` (a negative one: Ritz values lie
    inside the spectrum, so a negative Ritz value proves one even before Lanczos
    converged), ``curvature not converged`` (stationary, λ_min not yet known), ``not
    stationary`` or ``stopped early`` (the regime stops before a stationary point by
    design)."""
    floor = -curvature_tolerance * np.abs(spectrum.largest)
    status = np.where(spectrum.smallest < floor, SADDLE,
                      np.where(spectrum.converged, MINIMUM, CURVATURE_UNCONVERGED))
    moving = gradient_norm > gradient_tolerance
    return np.where(moving, STOPPED_EARLY if stopped_early else NOT_STATIONARY, status)
