"""Every landscape claim against its null: specialisation, basin ensembles, the
geometry-vs-replication regression; and what makes a point a minimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from embaudit.landscape.comparison import replication_association
from embaudit.landscape.curvature import Spectrum, lanczos_extremes
from embaudit.landscape.functional import Layout, member_losses
from embaudit.landscape.specialisation import (
    basin_ensemble_test,
    gate_test,
    selection_rows,
    share_test,
)
from embaudit.landscape.stationary import classify, gradient_norms, polish

SMALL = Layout((6, 8, 5, 1))


def _rows(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, x[:, 0] + rng.normal(scale=0.3, size=n)


def test_a_gate_finds_planted_specialisation_and_nothing_where_there_is_none():
    x, y = _rows()
    rng = np.random.default_rng(1)
    good, bad = rng.normal(scale=0.1, size=len(y)), rng.normal(scale=1.0, size=len(y))
    # minimum 0 is right where x_1 > 0, minimum 1 where x_1 < 0, a third is mediocre
    right = x[:, 1] > 0
    planted = np.stack([y + np.where(right, good, bad), y + np.where(right, bad, good),
                        y + rng.normal(scale=0.6, size=len(y))])
    selection = selection_rows(len(y), seed=0)
    found = gate_test(planted, y, x, selection, n_shuffles=49, seed=0)
    assert found["gate_gain_ci_low"] > 0 and found["gate_p"] <= 0.02
    # exchangeable minima: the same noise level everywhere, nothing to gate on
    none = y + rng.normal(scale=0.5, size=(3, len(y)))
    null = gate_test(none, y, x, selection, n_shuffles=49, seed=0)
    assert null["gate_p"] > 0.05 and null["gate_gain_ci_low"] < 0
    # minima of unequal quality that do not specialise: one is better everywhere
    for seed in range(3):
        noise = np.random.default_rng(10 + seed).normal(size=(3, len(y)))
        unequal = y + noise * np.array([[0.5], [1.0], [1.0]])
        assert gate_test(unequal, y, x, selection, n_shuffles=49, seed=seed)["gate_p"] > 0.05


def test_the_share_test_is_uniform_for_exchangeable_minima():
    _, y = _rows(300)
    rng = np.random.default_rng(2)
    p_values = [share_test(y + rng.normal(size=(4, len(y))), y, n_shuffles=199,
                           seed=s)["share_p"] for s in range(60)]
    assert 0.02 < np.mean(np.array(p_values) <= 0.1) < 0.25
    better = y + rng.normal(size=(4, len(y))) * np.array([[0.3], [1], [1], [1]])
    assert share_test(better, y, n_shuffles=199)["share_p"] <= 0.01


def test_one_minimum_per_basin_against_the_best_and_against_random_ensembles():
    _, y = _rows()
    rng = np.random.default_rng(3)
    # six basins of three minima whose errors cancel in pairs: +e_k in one, -e_k in another
    e = rng.normal(scale=0.5, size=(3, len(y)))
    signs = np.repeat([1, -1, 1, -1, 1, -1], 3)
    errors = e[np.repeat([0, 0, 1, 1, 2, 2], 3)] * signs[:, None]
    planted = y + errors + rng.normal(scale=0.05, size=(18, len(y)))
    labels, depth = np.repeat(np.arange(1, 7), 3), rng.uniform(size=18)
    selection = selection_rows(len(y), seed=0)
    found = basin_ensemble_test(planted, y, labels, depth, selection, n_random=199)
    assert found["gain_ci_low"] > 0 and found["random_p"] <= 0.05
    # basins that mean nothing: every minimum the same up to noise
    same = y + e[0] + rng.normal(scale=0.05, size=(18, len(y)))
    null = basin_ensemble_test(same, y, labels, depth, selection, n_random=199)
    assert null["gain_ci_low"] < 0.01 and null["random_p"] > 0.05
    one = basin_ensemble_test(same, y, np.ones(18, dtype=int), depth, selection)
    assert np.isnan(one["gain"]) and "one basin" in one["reason"]
    each = basin_ensemble_test(same, y, np.arange(1, 19), depth, selection)
    assert np.isnan(each["random_p"]) and "its own basin" in each["reason"]


def _shared_samples(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Minima that share a seed across 5 optimizers: the seed moves their sharpness and,
    through a seed effect of its own, whether their hypotheses replicate, so the minima
    of one seed are one unit, not five."""
    rng = np.random.default_rng(seed)
    seeds, copies = 12, 5
    sharpness, intercept = rng.normal(size=seeds), rng.normal(scale=1.5, size=seeds)
    rows = []
    for s in range(seeds):
        for c in range(copies):
            rows.append({"member_id": f"m{s}-{c}", "regime": "overfit", "optimizer": "adam",
                         "sample_seed": s, "sample_rows": "discovery",
                         "lambda_max_canonical": np.exp(sharpness[s] + 0.3 * rng.normal()),
                         "trace_canonical": np.exp(rng.normal()),
                         "barrier_to_reference": rng.uniform(),
                         "train_loss": np.exp(rng.normal())})
    members = pd.DataFrame(rows)
    logit = 0.5 * np.log(members["lambda_max_canonical"]) + np.repeat(intercept, copies)
    chance = np.asarray(1 / (1 + np.exp(-logit)))
    replication = pd.DataFrame({
        "member_id": np.repeat(members["member_id"], 10),
        "replicated": rng.uniform(size=len(members) * 10) < np.repeat(chance, 10)})
    return members, replication


def test_clustering_on_shared_samples_changes_the_regressions_p():
    members, replication = _shared_samples(0)
    shared = replication_association(members, replication).set_index("predictor")
    naive = replication_association(members, replication, clusters=("member_id",)
                                    ).set_index("predictor")
    row, alone = shared.loc["lambda_max_canonical"], naive.loc["lambda_max_canonical"]
    assert row["clustered_by"] == "sample_seed" and row["n_clusters"] == 12
    assert alone["clustered_by"] == "member_id"
    assert row["coefficient"] == pytest.approx(alone["coefficient"])
    assert row["p_value"] > 2 * alone["p_value"]  # 12 units, not 60
    # Holm over the four predictors: never below the raw p
    assert (shared["p_holm"] >= shared["p_value"] - 1e-12).all()


def test_lanczos_says_when_its_extremes_have_not_converged():
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(2, SMALL.n_parameters, generator=g, dtype=torch.float64) * 0.6
    x = torch.randn(50, 6, generator=g, dtype=torch.float64)
    y = torch.randn(50, generator=g, dtype=torch.float64)
    loss = lambda t: member_losses(SMALL, t, x, y)  # noqa: E731
    short = lanczos_extremes(loss, theta, steps=3, tolerance=1e-6)
    assert not short.converged.any() and short.steps == 3
    full = lanczos_extremes(loss, theta, steps=SMALL.n_parameters, tolerance=1e-6)
    assert full.converged.all() and full.steps < SMALL.n_parameters
    dense = [np.linalg.eigvalsh(torch.func.hessian(
        lambda t: member_losses(SMALL, t[None], x, y)[0])(theta[b]).numpy()) for b in range(2)]
    np.testing.assert_allclose(full.smallest, [d[0] for d in dense], rtol=1e-4, atol=1e-8)


def test_polishing_reaches_a_stationary_point_and_classify_names_what_each_point_is():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = torch.randn(40, generator=g, dtype=torch.float64)
    loss = lambda t: member_losses(SMALL, t, x, y)  # noqa: E731
    start = torch.randn(3, SMALL.n_parameters, generator=g, dtype=torch.float64) * 0.5
    polished = polish(loss, start, tolerance=1e-4, max_iterations=1000)
    assert (polished.gradient_before > 1e-2).all()
    assert (polished.gradient_after <= 1e-4).all()
    np.testing.assert_allclose(gradient_norms(loss, polished.theta), polished.gradient_after)
    assert (loss(polished.theta) < loss(start)).all()
    spectrum = Spectrum(np.array([10.0, 10.0, 10.0, 10.0]), np.array([0.0, -1.0, 0.0, 0.0]),
                        20, np.zeros(4), np.array([True, False, False, True]))
    gradient = np.array([1e-7, 1e-7, 1e-7, 1.0])
    assert list(classify(gradient, spectrum, 1e-6, 1e-3)) == [
        "minimum", "saddle", "curvature not converged", "not stationary"]
    assert classify(gradient, spectrum, 1e-6, 1e-3, stopped_early=True)[3] == "stopped early"
