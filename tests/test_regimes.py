"""Regimes, optimizers and diagnostics of the training engine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.data.worlds import linear_lifespan
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.diagnostics import weighted_standardizer
from embaudit.training.fit import fit_ensemble, members_per_chunk
from embaudit.training.job import TrainingJob
from embaudit.training.network import EnsembleBatchNorm
from exactness import assert_same_member


def _fit(world, split, members, regime="overfit", **training):
    return fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                    regime=regime, training=TrainingConfig(**training),
                                    network=NetworkConfig(), holdout=split.holdout), members)


def _plain_network(seed: int, p: int) -> nn.Sequential:
    """nn.Linear layers holding the member's initial weights (same draws, same order)."""
    network = nn.Sequential(nn.Linear(p, 64), nn.ReLU(), nn.Linear(64, 16), nn.ReLU(),
                            nn.Linear(16, 1))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in network[::2]:
            bound = 1 / np.sqrt(layer.in_features)
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=generator) * 2 - 1)
                               * bound)
            layer.bias.copy_((torch.rand(layer.bias.shape, generator=generator) * 2 - 1)
                             * bound)
    return network


def test_lbfgs_member_matches_torch_lbfgs_on_a_single_network(world, split):
    reference = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=0,
                             n_permutations=0, root_seed=1)
    fit = _fit(world, split, reference, optimizer="lbfgs", learning_rate=1.0, batch_size=None,
               max_epochs=3, lbfgs_iterations=10, overfit_tolerance=1e-12)

    X, y, rows = world.table.X.astype(np.float64), world.table.y, split.discovery
    mean, scale = weighted_standardizer(X, reference[0].train_weights)
    Z = torch.tensor((X - mean) * scale, dtype=torch.float32)
    target = (y - y[rows].mean()) / y[rows].std()
    t = torch.tensor(target[rows], dtype=torch.float32)
    network = _plain_network(reference[0].seed, X.shape[1])
    optimizer = torch.optim.LBFGS(network.parameters(), lr=1.0, max_iter=10, history_size=10,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = ((network(Z[rows]).squeeze(1) - t) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(3):
        optimizer.step(closure)
    expected = network(Z).detach().numpy()[:, 0] * y[rows].std() + y[rows].mean()
    np.testing.assert_allclose(fit.predictions[0], expected, atol=1e-3)
    assert fit.diagnostics["train_loss"].iloc[0] < 0.5


@pytest.mark.parametrize("regime", ["dropout", "batch_norm"])
def test_dropout_and_batch_norm_regimes_keep_members_independent(world, split, regime):
    members = plan_members(split, world.table.n_rows, regime, n_bootstrap=3,
                           n_permutations=2, root_seed=2)
    together = _fit(world, split, members, regime, max_epochs=8)
    alone = _fit(world, split, [members[2]], regime, max_epochs=8)
    # batch norm carries rounding forward fastest (7.6e-3 after 8 epochs where the BLAS is
    # inexact); members that shared batch statistics would differ by order 1
    assert_same_member(alone.embeddings[0], together.embeddings[2], atol=5e-2)
    assert np.isfinite(together.embeddings).all()
    assert any(k.startswith("norms.") for k in together.state) == (regime == "batch_norm")


@pytest.mark.parametrize("regime", ["overfit", "regularized", "weight_decay", "early_stopping",
                                    "dropout", "batch_norm"])
def test_each_network_regime_switches_on_only_its_own_regularizers(world, split, regime,
                                                                   monkeypatch):
    from embaudit.training import fit as fit_module

    seen = {}
    original = fit_module.EnsembleRegressor.__init__

    def spy(self, network, config, weight_decay, max_epochs, **options):
        seen.update(weight_decay=weight_decay, dropout=network.dropout,
                    batch_norm=network.norms is not None)
        original(self, network, config, weight_decay, max_epochs, **options)

    monkeypatch.setattr(fit_module.EnsembleRegressor, "__init__", spy)
    stops_early = regime in ("regularized", "early_stopping")
    members = plan_members(split, world.table.n_rows, regime, n_bootstrap=0, n_permutations=0,
                           root_seed=2, validation_fraction=0.2 if stops_early else None)
    fit = _fit(world, split, members, regime, max_epochs=3, weight_decay=0.05, dropout=0.3)
    assert seen == {"weight_decay": 0.05 if regime in ("regularized", "weight_decay") else 0.0,
                    "dropout": 0.3 if regime == "dropout" else 0.0,
                    "batch_norm": regime == "batch_norm"}
    # early stopping watches a validation loss; the others are trained like overfit
    assert fit.curves["validation_loss"].notna().any() == stops_early
    assert fit.diagnostics["reached_target"].isna().all() == stops_early


def test_early_stopping_needs_validation_rows(world, split):
    members = plan_members(split, world.table.n_rows, "early_stopping", n_bootstrap=0,
                           n_permutations=0, root_seed=2)
    with pytest.raises(ValueError, match="validation rows"):
        _fit(world, split, members, "early_stopping", max_epochs=2)


def test_dropout_regime_stops_on_its_training_loss_in_evaluation_mode(world, split):
    members = plan_members(split, world.table.n_rows, "dropout", n_bootstrap=0,
                           n_permutations=0, root_seed=2)
    fit = _fit(world, split, members, "dropout", max_epochs=60, dropout=0.3,
               overfit_tolerance=0.2)
    row = fit.diagnostics.iloc[0]
    # the curve the stopping rule read is the evaluation-mode loss the diagnostics report
    # (the running loss of an epoch with dropout on is larger and noisier)
    assert fit.curves["train_loss"].iloc[-1] == pytest.approx(row["train_loss"], rel=1e-4)
    assert row["reached_target"] and row["train_loss"] < 0.2 and row["epochs"] < 60


def test_batch_norm_statistics_ignore_rows_a_member_does_not_train_on():
    norm = EnsembleBatchNorm(2, 1, momentum=1.0)
    z = torch.tensor([[[0.0, 2.0, 100.0]], [[0.0, 2.0, 100.0]]])
    weights = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = norm(z, weights)
    torch.testing.assert_close(out[0, 0, :2], torch.tensor([-1.0, 1.0]), atol=1e-3, rtol=0)
    assert norm.running_mean[0, 0, 0] == pytest.approx(1.0)
    assert norm.running_mean[1, 0, 0] == pytest.approx(34.0)


def test_cosine_schedule_and_sgd_train(world, split):
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=1,
                           n_permutations=1, root_seed=3)
    plain = _fit(world, split, members, optimizer="sgd", learning_rate=0.01, max_epochs=10)
    cosine = _fit(world, split, members, optimizer="sgd", learning_rate=0.01, max_epochs=10,
                  lr_schedule="cosine")
    assert not np.allclose(plain.predictions, cosine.predictions)
    first = plain.curves.query("epoch == 1")["train_loss"].to_numpy()
    last = plain.curves.query("epoch == 10")["train_loss"].to_numpy()
    assert (last < first).all()


@pytest.mark.parametrize("regime", ["linear", "pls"])
def test_linear_regimes(world, split, regime):
    members = plan_members(split, world.table.n_rows, regime, n_bootstrap=2,
                           n_permutations=2, root_seed=4)
    fit = _fit(world, split, members, regime)
    assert fit.embeddings.shape == (5, world.table.n_rows, 16)
    reference, permutation = fit.embeddings[0], fit.embeddings[3]
    # a PCA embedding ignores the targets: members on the same rows share it
    assert np.array_equal(reference, permutation) == (regime == "linear")
    diagnostics = fit.diagnostics.set_index("kind")
    assert diagnostics.loc["reference", "holdout_loss"] < 0.9
    assert (fit.diagnostics["epochs"] == 0).all()


def test_network_no_better_than_linear_is_flagged():
    world = linear_lifespan(n=600, p=100, seed=0)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=1,
                           n_permutations=1, root_seed=5)
    fit = _fit(world, split, members)
    diagnostics = fit.diagnostics.set_index("kind")
    assert diagnostics.loc["reference", "no_better_than_linear"]
    assert diagnostics.loc["reference", "ridge_holdout_loss"] < diagnostics.loc[
        "reference", "holdout_loss"]
    assert pd.isna(diagnostics.loc["permutation", "no_better_than_linear"])


def test_training_curves_go_to_a_lightning_csv_log(world, split, tmp_path):
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=1,
                           n_permutations=1, root_seed=6)
    fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                             regime="overfit", training=TrainingConfig(max_epochs=5),
                             network=NetworkConfig(), log_dir=tmp_path), members)
    [log] = (tmp_path / "overfit").glob("chunk_*/metrics.csv")
    metrics = pd.read_csv(log)
    assert {f"train_loss/{m.member_id}" for m in members} <= set(metrics.columns)
    assert metrics["train_loss/overfit/reference"].notna().sum() == 5


def test_chunks_follow_the_memory_and_cache_budgets():
    network, rows, features = NetworkConfig(), 2000, 500
    small = members_per_chunk(rows, features, network, TrainingConfig(memory_budget_mb=16))
    large = members_per_chunk(rows, features, network, TrainingConfig(memory_budget_mb=1024))
    huge = members_per_chunk(rows, features, network, TrainingConfig(memory_budget_mb=8192))
    assert 1 <= small < large == huge  # past the memory budget, the cache budget binds
    narrow = members_per_chunk(rows, 50, network, TrainingConfig(memory_budget_mb=8192))
    assert narrow > large  # smaller members: more of them fit
    assert members_per_chunk(rows, features, network, TrainingConfig(chunk_size=7)) == 7
    assert members_per_chunk(rows, features, network, TrainingConfig(optimizer="lbfgs")) == 1


@pytest.mark.slow
def test_128_members_of_the_reference_workload_stay_under_2_gb():
    script = textwrap.dedent("""
        import json, resource
        from embaudit.config import NetworkConfig, TrainingConfig
        from embaudit.data.worlds import product_lifespan
        from embaudit.resampling.plans import discovery_holdout_split, plan_members
        from embaudit.training.fit import TrainingJob, fit_ensemble
        world = product_lifespan(n=2000, p=500, seed=0)
        split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
        members = plan_members(split, 2000, "overfit", n_bootstrap=127, n_permutations=0,
                               root_seed=0)
        fit = fit_ensemble(TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                                       regime="overfit", training=TrainingConfig(max_epochs=2),
                                       network=NetworkConfig()), members)
        print(json.dumps({"members": len(fit.member_ids),
                          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=600)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["members"] == 128
    assert measured["peak_mb"] < 2048
