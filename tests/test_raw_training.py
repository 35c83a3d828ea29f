"""Training in raw-feature coordinates is training the standardized network.

U = W ⊙ s with the centring as a bias term in the passes, torch's own optimizers on W:
in exact arithmetic the same trajectory; here checked step by step against torch's
optimizers on the network in float64, and whole trainings against the folded
formulation (the one batch norm still uses) in float32 within a documented tolerance.
A member's arithmetic never depends on the ensemble: bit for bit where the BLAS is
exact (``exactness.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from embaudit.config import ExecutionConfig, NetworkConfig, TrainingConfig
from embaudit.data.worlds import product_lifespan
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.data import Epoch
from embaudit.training.execution import cluster_client, train_members
from embaudit.training.fit import chunk_members, combine_fits, fit_ensemble
from embaudit.training.job import TrainingJob
from embaudit.training.module import EnsembleRegressor
from embaudit.training.network import EnsembleMLP
from embaudit.training.optim import raw_feature_optimizer
from embaudit.training.raw import MEMBER_ALIGNMENT, RawFeatureEnsemble
from exactness import assert_same_member

P, HIDDEN, B = 9, (6, 4), 3


def _ensemble(seed: int = 0, hidden: tuple[int, ...] = HIDDEN, dropout: float = 0.0,
              members: list[int] | None = None) -> tuple[EnsembleMLP, RawFeatureEnsemble]:
    """An ensemble of ``members`` (indices into 70 possible ones; default the first B),
    each with its own input statistics."""
    members = list(range(B)) if members is None else members
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(70, P, generator=g) * 3
    scale = 0.2 + torch.rand(70, P, generator=g) * 3
    network = EnsembleMLP(P, hidden, [11 + m for m in members], mean[members],
                          scale[members], dropout=dropout)
    return network, RawFeatureEnsemble(network, torch.randn(P, generator=g))


def _network_parameters(network: EnsembleMLP) -> list[torch.Tensor]:
    return [network.first_weight, network.first_bias, *network.weights, *network.biases]


def _ensemble_gradients(raw: RawFeatureEnsemble) -> list[torch.Tensor]:
    """Views of ``raw``'s gradient, in the order of :func:`_network_parameters`."""
    weight, bias = raw.columns(raw.grad_block)
    return [weight, bias, *raw.grad_weights, *raw.grad_biases]


def _optimizers(kind: str, raw: RawFeatureEnsemble, reference: list[torch.Tensor]):
    if kind == "sgd":
        return (raw_feature_optimizer(raw, "sgd", 0.05, momentum=0.9, weight_decay=0.01),
                torch.optim.SGD(reference, lr=0.05, momentum=0.9, weight_decay=0.01))
    decay = 0.1 if kind == "adamw" else 0.0
    return (raw_feature_optimizer(raw, "adam", 0.01, weight_decay=decay),
            (torch.optim.AdamW if decay else torch.optim.Adam)(reference, lr=0.01,
                                                               weight_decay=decay))


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
def test_an_update_is_torch_optimizer_update_of_the_network(kind):
    """Five steps of torch's fused Adam/AdamW/SGD on the flat parameters move W, b and
    the later layers as torch's optimizer moves the network's parameters (float64), and
    ``[U | c]`` follows them (the step post-hook)."""
    network, raw = _ensemble()
    params = _network_parameters(network)
    reference = [p.detach().double().clone().requires_grad_() for p in params]
    ours, theirs = _optimizers(kind, raw, reference)
    g = torch.Generator().manual_seed(5)
    for _ in range(5):
        for tensor, grad in zip(reference, _ensemble_gradients(raw), strict=True):
            grad.normal_(generator=g)
            tensor.grad = grad.double().reshape(tensor.shape)
        theirs.step()
        ours.step()
        raw.store(network)
        for mine, expected in zip(params, reference, strict=True):
            torch.testing.assert_close(mine.double(), expected.detach(), rtol=1e-5, atol=1e-6)
        U, c = raw.columns(raw.first)
        torch.testing.assert_close(U, network.first_weight * raw.scale[:, None])
        torch.testing.assert_close(c, network.first_bias.view_as(c)
                                   - (U * raw.mean[:, None]).sum(-1), rtol=1e-5, atol=1e-5)
    # the padding stays zero, and each member's share of the flat tensor is aligned
    used = raw.block.numel() + sum(t.numel() for t in raw.weights + raw.biases)
    assert (raw.flat[used:] == 0).all() and (raw.block[..., P + 1:] == 0).all()
    assert raw.flat.numel() % (B * MEMBER_ALIGNMENT) == 0


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_forward_and_backward_are_the_standardized_networks(dropout):
    network, raw = _ensemble(1, dropout=dropout)
    twin, _ = _ensemble(1, dropout=dropout)  # draws the same dropout masks
    x = torch.randn(20, P, dtype=torch.float32) * 2 + 1
    prediction = raw.forward(raw.inputs(x))
    expected = twin(x)
    torch.testing.assert_close(prediction, expected, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(expected)
    (expected * upstream).sum().backward()
    raw.backward(upstream)
    for mine, theirs in zip(_ensemble_gradients(raw), _network_parameters(twin),
                            strict=True):
        torch.testing.assert_close(mine, theirs.grad.view_as(mine), rtol=1e-4, atol=1e-5)
    assert network.dropout == twin.dropout


def test_zero_grad_leaves_the_ensemble_its_gradient():
    """torch's ``zero_grad`` sets ``flat.grad`` to None, which would leave the backward
    pass writing a gradient no optimizer reads: the next backward attaches it again."""
    _, raw = _ensemble(4)
    optimizer = raw_feature_optimizer(raw, "adam", 0.01)
    optimizer.zero_grad()
    assert raw.flat.grad is None
    before = raw.flat.clone()
    x = raw.inputs(torch.randn(8, P))
    raw.backward(raw.forward(x) - 1.0)
    optimizer.step()
    assert raw.flat.grad is raw.gradient and not torch.equal(raw.flat, before)


def test_the_mse_gradient_by_hand_is_autograds():
    """An epoch of batches (the last one short), a member switched off, a batch without
    weight for another: per batch the gradient of the objective by autograd, and the
    epoch's training loss its tallies give."""
    network, _ = _ensemble(3)
    module = EnsembleRegressor(network, TrainingConfig(), 0.0, 1)
    reference = EnsembleRegressor(network, TrainingConfig(), 0.0, 1)
    module.active[1] = reference.active[1] = False
    g = torch.Generator().manual_seed(4)
    x = module.training_inputs(torch.randn(25, P, generator=g))
    targets = torch.randn(B, 25, generator=g)
    weights = torch.randint(0, 3, (B, 25), generator=g).float()
    weights[2, 10:20] = 0.0
    epoch = Epoch(x, targets, weights, batch_size=10)
    module.begin_epoch(epoch)
    for batch in epoch:
        by_hand = module.prediction_gradient(batch)
        prediction = reference.raw.forward(batch.x).requires_grad_()
        autograd = torch.autograd.grad(
            reference.objective(prediction, batch.targets, batch.weights), prediction)[0]
        torch.testing.assert_close(by_hand, autograd, rtol=1e-5, atol=1e-7)
        assert by_hand[1].abs().max() == 0 and by_hand[0].abs().max() > 0
        assert (by_hand[2].abs().max() == 0) == (batch.rows.start == 10)
    torch.testing.assert_close(module.end_epoch(), reference.end_epoch())
    assert module._errors is None and (module._sse == 0).all()  # reset for the next


@pytest.mark.parametrize("kind", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("hidden, dropout", [(HIDDEN, 0.0), ((20, 7, 3), 0.3)])
def test_a_member_steps_the_same_alone_and_among_others(kind, hidden, dropout):
    """Thirty steps of member 3 alone, among 5 and among 64 (widths whose per-member
    sizes are no multiple of a vector, dropout): its parameters and ``[U | c]`` agree
    bit for bit where the BLAS is exact."""
    trained = {}
    for members in ([3], [0, 1, 2, 3, 4], list(range(64))):
        network, raw = _ensemble(2, hidden, dropout, members)
        optimizer, _ = _optimizers(kind, raw, [torch.zeros(1, requires_grad=True)])
        g = torch.Generator().manual_seed(1)
        x, targets = raw.inputs(torch.randn(200, P, generator=g)), torch.randn(200, generator=g)
        for step in range(30):
            rows = slice(step * 37 % 150, step * 37 % 150 + 50)
            raw.backward(2 * (raw.forward(x[rows]) - targets[rows]) / 50)
            optimizer.step()
        raw.store(network)
        b = members.index(3)
        trained[len(members)] = [p.detach()[b] for p in _network_parameters(network)] \
            + [raw.first.view(len(members), hidden[0], -1)[b]]
    for size in (5, 64):
        for alone, inside in zip(trained[1], trained[size], strict=True):
            assert_same_member(alone.numpy(), inside.numpy(), atol=1e-5, err_msg=str(size))
    assert all(torch.isfinite(t).all() for t in trained[1])  # NaNs would compare equal


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
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime=regime,
                      training=config, network=NetworkConfig(hidden=(16, 8)))
    raw = fit_ensemble(job, members)
    original = EnsembleRegressor.__init__

    def folded(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.raw = None  # the autograd pass with the standardization folded in

    monkeypatch.setattr(EnsembleRegressor, "__init__", folded)
    reference = fit_ensemble(job, members)
    scale = np.abs(reference.embeddings).max()
    np.testing.assert_allclose(raw.embeddings, reference.embeddings, atol=2e-3 * scale)
    np.testing.assert_allclose(raw.predictions, reference.predictions, rtol=2e-3, atol=2e-3)


def test_a_member_trains_the_same_alone_as_in_its_ensemble():
    world, split, members = _world_members()
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime="overfit",
                      training=TrainingConfig(max_epochs=10, overfit_tolerance=1e-9),
                      network=NetworkConfig(hidden=(16, 8)))
    together = fit_ensemble(job, members)
    alone = fit_ensemble(job, [members[2]])
    assert_same_member(alone.embeddings[0], together.embeddings[2], atol=1e-5)


def test_worker_processes_give_the_in_process_members():
    world, split, members = _world_members(n_bootstrap=6, n_permutations=5)
    training = TrainingConfig(max_epochs=4, chunk_size=3)
    network = NetworkConfig(hidden=(16, 8))
    assert len(chunk_members(members, world.table.X.shape, network, training)) == 4
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime="overfit",
                      training=training, network=network, holdout=split.holdout)
    with cluster_client(ExecutionConfig(n_workers=2)) as pool:
        assert pool is not None and pool.n_workers == 2
        pooled = train_members(job, members, client=pool)
    local = train_members(job, members, client=None, keep_state=True)
    assert pooled.member_ids == local.member_ids
    assert_same_member(pooled.embeddings, local.embeddings, atol=1e-5)
    # chunks finishing in any order are put back in the members' order, every table
    chunks = chunk_members(members, world.table.X.shape, network, training)
    parts = [fit_ensemble(job, chunk) for chunk in chunks]
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
