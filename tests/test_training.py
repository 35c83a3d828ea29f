"""The ensemble trainer: independence of members, per-member standardization, regimes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.core.members import MemberSpec
from embaudit.data.worlds import product_lifespan
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.diagnostics import effective_rank
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob
from embaudit.training.network import EnsembleMLP
from exactness import assert_same_member

NETWORK = NetworkConfig(hidden=(16, 8))


def _network(seeds: list[int], p: int = 6) -> EnsembleMLP:
    B = len(seeds)
    return EnsembleMLP(p, (5, 3), seeds, torch.zeros(B, p), torch.ones(B, p))


def test_initial_weights_depend_only_on_the_members_seed():
    alone = _network([42])
    crowd = _network([7, 42, 9, 11])
    for (name, single), (_, many) in zip(alone.named_parameters(), crowd.named_parameters(),
                                         strict=True):
        assert torch.equal(single[0], many[1]), name


def test_folded_standardization_equals_standardized_inputs():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.normal(3.0, 2.5, size=(50, 6)).astype(np.float32))
    mean, scale = X.mean(0), 1 / X.std(0)
    folded = EnsembleMLP(6, (5, 3), [1, 2], mean.repeat(2, 1), scale.repeat(2, 1))
    plain = EnsembleMLP(6, (5, 3), [1, 2], torch.zeros(2, 6), torch.ones(2, 6))
    predictions, embedding = folded.embed(X)
    expected, expected_embedding = plain.embed((X - mean) * scale)
    torch.testing.assert_close(predictions, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(embedding, expected_embedding, atol=1e-5, rtol=1e-5)


def test_first_layer_backward_matches_autograd():
    from embaudit.training.network import _StandardizedLinear

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, dtype=torch.float64, generator=generator)
    weight = torch.randn(3, 4, 5, dtype=torch.float64, generator=generator, requires_grad=True)
    bias = torch.randn(3, 4, dtype=torch.float64, generator=generator, requires_grad=True)
    mean = torch.randn(3, 5, dtype=torch.float64, generator=generator)
    scale = torch.rand(3, 5, dtype=torch.float64, generator=generator) + 0.5
    assert torch.autograd.gradcheck(_StandardizedLinear.apply, (x, weight, bias, mean, scale))
    expected = torch.einsum("bhp,bnp->bhn", weight * scale[:, None, :],
                            x - mean[:, None, :]) + bias[:, :, None]
    torch.testing.assert_close(_StandardizedLinear.apply(x, weight, bias, mean, scale),
                               expected)


def test_embedding_layer_and_pre_activation():
    X = torch.randn(10, 6)
    network = _network([1, 2])
    _, post = network.embed(X, layer=0)
    _, pre = network.embed(X, layer=0, pre_activation=True)
    assert post.shape == (2, 10, 5)
    torch.testing.assert_close(post, torch.relu(pre))
    assert (pre < 0).any()


def _members(split, n_rows: int, regime: str, **kwargs) -> list[MemberSpec]:
    return plan_members(split, n_rows, regime, n_bootstrap=2, n_permutations=2, root_seed=5,
                        **kwargs)


def test_overfit_members_reach_near_zero_training_loss(world, split):
    members = _members(split, world.table.n_rows, "overfit")
    config = TrainingConfig(max_epochs=400, overfit_tolerance=0.01)
    fit = fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                   regime="overfit", training=config, network=NetworkConfig(),
                                   holdout=split.holdout), members)
    assert fit.embeddings.shape == (5, world.table.n_rows, 16)
    assert fit.diagnostics["reached_target"].all()
    assert (fit.diagnostics["train_loss"] < 0.05).all()
    # the real network generalizes; networks fit to permuted lifespans cannot
    real = fit.diagnostics.query("kind != 'permutation'")["holdout_loss"]
    permuted = fit.diagnostics.query("kind == 'permutation'")["holdout_loss"]
    assert real.max() < permuted.min()
    # curves stop at each member's own stopping epoch
    last = fit.curves.dropna(subset=["train_loss"]).groupby("member_id")["epoch"].max()
    stops = fit.diagnostics.set_index("member_id")["epochs"]
    assert (last.loc[stops.index] == stops).all()


def test_regularized_members_stop_early_each_on_its_own_and_keep_best_weights(world, split):
    members = _members(split, world.table.n_rows, "regularized", validation_fraction=0.25)
    config = TrainingConfig(max_epochs=200, patience=5)
    fit = fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                   regime="regularized", training=config, network=NETWORK),
                       members)
    epochs = fit.diagnostics["epochs"]
    assert (epochs < 200).all()
    assert epochs.nunique() > 1
    for member_id, curve in fit.curves.groupby("member_id"):
        curve = curve.dropna(subset=["validation_loss"])
        best = curve["validation_loss"].min()
        kept = fit.diagnostics.set_index("member_id").loc[member_id, "validation_loss"]
        # the restored weights are the best epoch's (train mode vs eval mode are equal here)
        assert kept == pytest.approx(best, rel=1e-4)
        assert len(curve) == curve["validation_loss"].idxmin() - curve.index[0] + 1 + 5


def test_same_seed_twice_gives_identical_embeddings(world, split):
    members = _members(split, world.table.n_rows, "overfit")[:3]
    config = TrainingConfig(max_epochs=15)
    runs = [
        fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                 regime="overfit", training=config, network=NETWORK),
                     members).embeddings
        for _ in range(2)
    ]
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_member_trained_alone_matches_member_in_ensemble_of_64(optimizer):
    world = product_lifespan(n=500, p=100, seed=1)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=40,
                           n_permutations=23, root_seed=2)
    assert len(members) == 64
    config = TrainingConfig(optimizer=optimizer, max_epochs=40, overfit_tolerance=1e-9,
                            learning_rate=1e-3 if optimizer == "adam" else 1e-2)
    common = dict(rows=split.discovery, regime="overfit", training=config,
                  network=NetworkConfig())
    job = TrainingJob(world.table.X, world.table.y, **common)
    together = fit_ensemble(job, members)
    for b in (0, 29, 63):  # the reference, a bootstrap and a permutation member
        alone = fit_ensemble(job, [members[b]])
        # bit-equal where the BLAS is exact; rounding otherwise (7e-7 seen after 40 epochs)
        assert_same_member(alone.embeddings[0], together.embeddings[b], atol=1e-5)
        for name, values in alone.state.items():
            assert_same_member(values[0], together.state[name][b], atol=1e-5, err_msg=name)


def test_dead_units_and_effective_rank_are_reported(world, split):
    members = _members(split, world.table.n_rows, "overfit")[:1]
    fit = fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                   regime="overfit", training=TrainingConfig(max_epochs=5),
                                   network=NETWORK), members)
    row = fit.diagnostics.iloc[0]
    trained = members[0].train_weights > 0
    spread = fit.embeddings[0, trained].std(axis=0)
    assert row["dead_units"] == int((spread < 1e-6).sum())
    assert row["effective_rank"] == pytest.approx(
        effective_rank(fit.embeddings[0, trained].astype(np.float64)))
    assert 1.0 <= row["effective_rank"] <= 8.0 - row["dead_units"] + 1e-9
    rank_one = np.outer(np.arange(20.0), np.ones(4))
    assert effective_rank(rank_one) == pytest.approx(1.0)
