"""The optimizer study as the loss-landscape paper ran it: quasi-Newton with a
golden-section line search, and early stopping matched on validation loss."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob
from embaudit.training.quasi_newton import GoldenSectionLBFGS


def _minimise(loss_of, x0: torch.Tensor, iterations: int) -> tuple[torch.Tensor, list[float]]:
    x = x0.clone().requires_grad_()
    optimizer = GoldenSectionLBFGS([x], lr=1.0, max_iter=1)
    values = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = loss_of(x)
        if torch.is_grad_enabled():
            value.backward()
        return value

    for _ in range(iterations):
        values.append(float(optimizer.step(closure)))
    return x.detach(), values


def test_golden_section_quasi_newton_solves_a_quadratic_and_never_goes_uphill():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(15, 15, generator=g, dtype=torch.float64)
    hessian = a @ a.T + torch.eye(15, dtype=torch.float64)
    b = torch.randn(15, generator=g, dtype=torch.float64)
    x, values = _minimise(lambda x: 0.5 * x @ hessian @ x - b @ x,
                          torch.zeros(15, dtype=torch.float64), 60)
    np.testing.assert_allclose(x.numpy(), torch.linalg.solve(hessian, b).numpy(), atol=1e-5)
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(values))
    # Rosenbrock: curved, non-convex along the way; Armijo keeps every step downhill
    rosenbrock = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # noqa: E731
    x, values = _minimise(rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64), 200)
    assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(values))
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-3)


def _world(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    y = X[:, :3] @ np.array([1.0, -0.5, 0.8]) + 0.5 * rng.normal(size=n)
    return X, y, discovery_holdout_split(y, 0.3, 5, seed=0)


def test_training_with_the_golden_section_line_search_fits_the_data():
    X, y, split = _world()
    members = plan_members(split, len(y), "overfit", n_bootstrap=0, n_permutations=0,
                           root_seed=1)
    losses = {}
    for search in ("strong_wolfe", "golden_section"):
        training = TrainingConfig(optimizer="lbfgs", learning_rate=1.0, batch_size=None,
                                  max_epochs=10, lbfgs_line_search=search)
        fit = fit_ensemble(TrainingJob(X, y, rows=split.discovery, regime="overfit",
                                       training=training, network=NetworkConfig(hidden=(8, 4))),
                           members)
        losses[search] = float(fit.diagnostics["train_loss"].iloc[0])
    assert losses["golden_section"] < 0.2 and losses["strong_wolfe"] < 0.2


def test_early_stopping_can_stop_at_a_validation_loss_instead_of_a_patience():
    X, y, split = _world(seed=1)
    members = plan_members(split, len(y), "early_stopping", n_bootstrap=0, n_permutations=0,
                           root_seed=1, validation_fraction=0.25)
    common = {"max_epochs": 200, "patience": 200}

    def run(target: float | None):
        training = TrainingConfig(stop_at_validation_loss=target, **common)
        return fit_ensemble(TrainingJob(X, y, rows=split.discovery, regime="early_stopping",
                                        training=training, network=NetworkConfig(hidden=(8, 4))),
                            members)

    free = run(None)
    curve = free.curves["validation_loss"].to_numpy()
    target = float(np.quantile(curve, 0.5))  # a level the run passes on its way down
    matched = run(target)
    reached = matched.curves["validation_loss"].to_numpy()
    stop = int(np.argmax(reached <= target))
    assert reached[stop] <= target and len(reached) == stop + 1  # stopped right there
    assert len(reached) < len(curve)
    assert bool(matched.diagnostics["reached_target"].iloc[0])
    with pytest.raises(ValueError, match="stop_at_validation_loss"):
        TrainingConfig(stop_at_validation_loss=-1.0)


def test_matched_early_stopping_checks_quasi_newton_after_every_iteration():
    from embaudit.resampling.options import matched_stopping

    lbfgs = TrainingConfig(optimizer="lbfgs", lbfgs_iterations=20, max_epochs=150,
                           patience=10, batch_size=None)
    matched = matched_stopping(lbfgs, 0.3)
    assert matched.stop_at_validation_loss == 0.3 and matched.lbfgs_iterations == 1
    assert (matched.max_epochs, matched.patience) == (3000, 200)  # the same budget
    sgd = matched_stopping(TrainingConfig(optimizer="sgd"), 0.3)
    assert sgd.stop_at_validation_loss == 0.3 and sgd.max_epochs == TrainingConfig().max_epochs


def test_a_flat_stretch_along_the_direction_gives_a_step_not_an_error():
    # the loss falls to a plateau: L(a) == L(b), no strict bracket for scipy
    along = lambda alpha: max(1.0 - alpha, 0.5)  # noqa: E731
    alpha = GoldenSectionLBFGS._golden_step(along, 1.0, lr=4.0, evaluations=20)
    assert 0 < alpha <= 4.0 and along(alpha) < 1.0
