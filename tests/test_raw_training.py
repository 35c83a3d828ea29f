"""Training in raw-feature coordinates is training the standardized network.

U = W ⊙ s with the centring as a bias term and W's optimizer applied to U: in exact
arithmetic the same trajectory; here it is checked step by step against torch's own
optimizers on W in float64, and whole trainings against the folded formulation (the
one batch norm still uses) in float32 within a documented tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from embaudit.config import ExecutionConfig, NetworkConfig, TrainingConfig
from embaudit.data.worlds import product_lifespan
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training import native
from embaudit.training.execution import cluster_client, train_members
from embaudit.training.fit import chunk_members, combine_fits, fit_ensemble
from embaudit.training.module import EnsembleRegressor
from embaudit.training.network import EnsembleMLP
from embaudit.training.optim import EnsembleAdam, EnsembleSGD
from embaudit.training.raw import RawFeatureEnsemble
from exactness import assert_same_member

P, HIDDEN, B = 9, (6, 4), 3


def _ensemble(dtype_seed: int = 0, hidden: tuple[int, ...] = HIDDEN, dropout: float = 0.0,
              native: bool | None = None) -> tuple[EnsembleMLP, RawFeatureEnsemble]:
    g = torch.Generator().manual_seed(dtype_seed)
    mean = torch.randn(B, P, generator=g) * 3
    scale = 0.2 + torch.rand(B, P, generator=g) * 3
    network = EnsembleMLP(P, hidden, [11, 12, 13], mean, scale, dropout=dropout)
    return network, RawFeatureEnsemble(network, torch.randn(P, generator=g), native=native)


def _needs_kernel() -> None:
    if native.kernel() is None:
        pytest.skip("no C compiler: the kernels are not built")


def _w_space_gradients(raw: RawFeatureEnsemble, g: torch.Generator) -> list[torch.Tensor]:
    """Random raw gradients written into ``raw``; returns the gradients of W, b and the
    later parameters they stand for (float64)."""
    raw.grad_first.normal_(generator=g)
    raw.grad_rest.normal_(generator=g)
    Bn, h, p = raw.shape
    G = raw.grad_first.double().view(Bn, h, raw.width)
    db = G[..., p]
    gW = raw.scale.double()[:, None] * (G[..., :p] - db[..., None] * raw.mean.double()[:, None])
    return [gW, db, *(t.double() for t in raw.grad_weights + raw.grad_biases)]


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("use_kernel", [True, False])
def test_update_of_u_is_torch_optimizer_update_of_w(kind, use_kernel, monkeypatch):
    """Five steps of EnsembleAdam/SGD on U move W = U / s as torch's optimizer moves W."""
    if use_kernel:
        _needs_kernel()
    network, raw = _ensemble()
    params = [network.first_weight, network.first_bias, *network.weights, *network.biases]
    reference = [p.detach().double().clone().requires_grad_() for p in params]
    if kind == "sgd":
        ours = EnsembleSGD(raw, lr=0.05, momentum=0.9, weight_decay=0.01, native=use_kernel)
        theirs = torch.optim.SGD(reference, lr=0.05, momentum=0.9, weight_decay=0.01)
    else:
        decay = 0.1 if kind == "adamw" else 0.0
        ours = EnsembleAdam(raw, lr=0.01, weight_decay=decay, native=use_kernel)
        theirs = (torch.optim.AdamW if decay else torch.optim.Adam)(
            reference, lr=0.01, weight_decay=decay)
    g = torch.Generator().manual_seed(5)
    for _ in range(5):
        for tensor, grad in zip(reference, _w_space_gradients(raw, g), strict=True):
            tensor.grad = grad.reshape(tensor.shape)
        theirs.step()
        ours.step()
        raw.store(network)
        for mine, expected in zip(params, reference, strict=True):
            torch.testing.assert_close(mine.double(), expected.detach(), rtol=2e-5, atol=2e-6)
        # the bias column is b - U·μ of the updated parameters
        Bn, h, p = raw.shape
        first = raw.first.view(Bn, h, raw.width)
        torch.testing.assert_close(
            first[..., p], raw.bias.view(Bn, h) - (first[..., :p] * raw.mean[:, None]).sum(-1),
            rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_kernel", [True, False])
def test_forward_and_backward_are_the_standardized_networks(use_kernel):
    if use_kernel:
        _needs_kernel()
    network, raw = _ensemble(1, native=use_kernel)
    x = torch.randn(20, P, dtype=torch.float32) * 2 + 1
    prediction = raw.forward(raw.inputs(x))
    expected = network(x)
    torch.testing.assert_close(prediction, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    (expected * upstream).sum().backward()
    raw.backward(upstream)
    _, h, p = raw.shape
    G = raw.grad_first.view(B, h, raw.width)
    gW = raw.scale[:, None] * (G[..., :p] - G[..., p, None] * raw.mean[:, None])
    torch.testing.assert_close(gW, network.first_weight.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(G[..., p], network.first_bias.grad, rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(raw.grad_weights + raw.grad_biases,
                            [*network.weights, *network.biases], strict=True):
        torch.testing.assert_close(mine, theirs.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hidden, rows, dropout", [((6, 4), 20, 0.0), ((20, 7, 3), 13, 0.0),
                                                   ((33, 17), 9, 0.3), ((16,), 64, 0.5)])
def test_compiled_later_layers_are_the_torch_passes(hidden, rows, dropout):
    """Widths and batches that are no multiple of the kernel's vector and row blocks,
    dropout masks drawn alike: predictions and every gradient agree within rounding."""
    _needs_kernel()
    (network, compiled), (twin, torch_pass) = (
        _ensemble(2, hidden, dropout, native=flag) for flag in (True, False))
    x = compiled.inputs(torch.randn(rows, P, generator=torch.Generator().manual_seed(1)))
    for _ in range(2):  # the second batch draws new dropout masks in both
        torch.testing.assert_close(compiled.forward(x), torch_pass.forward(x),
                                   rtol=1e-5, atol=1e-6)
        upstream = torch.randn(B, rows)
        compiled.backward(upstream)
        torch_pass.backward(upstream)
        torch.testing.assert_close(compiled.grad_first, torch_pass.grad_first,
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(compiled.grad_rest, torch_pass.grad_rest,
                                   rtol=1e-4, atol=1e-5)
    assert network.dropout == twin.dropout


def test_compiled_mse_gradient_is_the_torch_one():
    """Targets and weights as the data module slices them (rows of a wider gather), a
    member switched off, a batch without weight: same gradient and the same tallies."""
    _needs_kernel()
    modules = []
    for use_kernel in (True, False):
        network, _ = _ensemble(3)
        module = EnsembleRegressor(network, TrainingConfig(), 0.0, 1)
        module.raw = RawFeatureEnsemble(network, torch.zeros(P), native=use_kernel)
        module.active[1] = False
        modules.append(module)
    g = torch.Generator().manual_seed(4)
    x = modules[0].raw.inputs(torch.randn(10, P, generator=g))
    targets = torch.randn(B, 25, generator=g)[:, 5:15]
    weights = torch.randint(0, 3, (B, 25), generator=g).float()[:, 5:15]
    weights[2] = 0.0
    compiled, reference = (m._prediction_gradient(x, targets, weights) for m in modules)
    torch.testing.assert_close(compiled, reference, rtol=1e-5, atol=1e-6)
    assert compiled[1].abs().max() == 0 and compiled[0].abs().max() > 0
    for name in ("_sse", "_weight"):
        torch.testing.assert_close(getattr(modules[0], name), getattr(modules[1], name),
                                   rtol=1e-5, atol=0.0)


def _world_members(n_bootstrap: int = 4, n_permutations: int = 3, regime: str = "overfit"):
    world = product_lifespan(n=300, p=40, seed=3)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, regime, n_bootstrap=n_bootstrap,
                           n_permutations=n_permutations, root_seed=4,
                           validation_fraction=0.2 if regime == "regularized" else None)
    return world, split, members


@pytest.mark.parametrize("regime, optimizer", [("overfit", "adam"), ("weight_decay", "adam"),
                                               ("dropout", "adam"), ("overfit", "sgd"),
                                               ("regularized", "sgd")])
def test_whole_training_agrees_with_the_folded_formulation(regime, optimizer, monkeypatch):
    """Float32 rounding differs between the two formulations and training carries it
    forward: after 15 epochs the embeddings agree within 2e-3 (documented tolerance)."""
    world, split, members = _world_members(regime=regime)
    config = TrainingConfig(optimizer=optimizer, max_epochs=15, overfit_tolerance=1e-9,
                            learning_rate=1e-3 if optimizer == "adam" else 1e-2,
                            weight_decay=0.05, dropout=0.2)
    common = dict(rows=split.discovery, regime=regime, training=config,
                  network=NetworkConfig(hidden=(16, 8)))
    raw = fit_ensemble(world.table.X, world.table.y, members, **common)
    original = EnsembleRegressor.__init__

    def folded(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.raw = None  # the autograd pass with the standardization folded in

    monkeypatch.setattr(EnsembleRegressor, "__init__", folded)
    reference = fit_ensemble(world.table.X, world.table.y, members, **common)
    scale = np.abs(reference.embeddings).max()
    np.testing.assert_allclose(raw.embeddings, reference.embeddings, atol=2e-3 * scale)
    np.testing.assert_allclose(raw.predictions, reference.predictions, rtol=2e-3, atol=2e-3)


def test_kernel_and_torch_fallback_train_alike_and_members_stay_independent(monkeypatch):
    _needs_kernel()
    world, split, members = _world_members()
    config = TrainingConfig(max_epochs=10, overfit_tolerance=1e-9)
    common = dict(rows=split.discovery, regime="overfit", training=config,
                  network=NetworkConfig(hidden=(16, 8)))
    compiled = fit_ensemble(world.table.X, world.table.y, members, **common)
    monkeypatch.setattr(native, "kernel", lambda: None)  # every pass on torch operations
    fallback = fit_ensemble(world.table.X, world.table.y, members, **common)
    np.testing.assert_allclose(compiled.embeddings, fallback.embeddings, atol=1e-4)
    alone = fit_ensemble(world.table.X, world.table.y, [members[2]], **common)
    assert_same_member(alone.embeddings[0], fallback.embeddings[2], atol=1e-5)


def test_worker_processes_give_the_in_process_members():
    world, split, members = _world_members(n_bootstrap=6, n_permutations=5)
    training = TrainingConfig(max_epochs=4, chunk_size=3)
    network = NetworkConfig(hidden=(16, 8))
    assert len(chunk_members(members, world.table.X.shape, network, training)) == 4
    options = dict(rows=split.discovery, regime="overfit", training=training,
                   network=network, holdout=split.holdout, shuffle_seed=0)
    with cluster_client(ExecutionConfig(n_workers=2)) as pool:
        assert pool is not None and pool.n_workers == 2
        pooled = train_members(world.table.X, world.table.y, members, client=pool, **options)
    local = train_members(world.table.X, world.table.y, members, client=None, keep_state=True,
                          **options)
    assert pooled.member_ids == local.member_ids
    assert_same_member(pooled.embeddings, local.embeddings, atol=1e-5, compiled_pass=True)
    # chunks finishing in any order are put back in the members' order, every table
    chunks = chunk_members(members, world.table.X.shape, network, training)
    parts = [fit_ensemble(world.table.X, world.table.y, chunk, **options) for chunk in chunks]
    reordered = combine_fits(parts[::-1], local.member_ids)
    np.testing.assert_array_equal(reordered.embeddings, local.embeddings)
    np.testing.assert_array_equal(reordered.predictions, local.predictions)
    pd.testing.assert_frame_equal(reordered.diagnostics, local.diagnostics)
    pd.testing.assert_frame_equal(reordered.curves, local.curves)
    assert local.state
    for name, values in local.state.items():
        np.testing.assert_array_equal(reordered.state[name], values, err_msg=name)
    assert list(reordered.diagnostics["member_id"]) == local.member_ids
    assert list(reordered.curves["member_id"].unique()) == local.member_ids
    with cluster_client(ExecutionConfig(n_workers=1)) as none:
        assert none is None


def test_chunks_are_balanced_across_workers():
    world, _, members = _world_members(n_bootstrap=10, n_permutations=9)
    network, training = NetworkConfig(hidden=(16, 8)), TrainingConfig(memory_budget_mb=1.2)
    for workers in (1, 2, 3):
        chunks = chunk_members(members, world.table.X.shape, network, training, workers)
        sizes = [len(c) for c in chunks]
        assert sum(sizes) == len(members) and max(sizes) - min(sizes) <= 1
        if len(chunks) > 1:
            assert len(chunks) % workers == 0, (workers, sizes)


def test_a_compiler_that_fails_leaves_the_torch_update(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBAUDIT_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    native.kernel.cache_clear()
    try:
        assert native.kernel() is None
        assert not list(tmp_path.glob("*.so"))  # nothing half-written left behind
        _, raw = _ensemble()
        with pytest.raises(RuntimeError, match="no C compiler"):
            EnsembleAdam(raw, native=True)
        with pytest.raises(RuntimeError, match="no C compiler"):
            _ensemble(native=True)
    finally:
        native.kernel.cache_clear()
