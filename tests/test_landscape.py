"""Loss-landscape diagnostics: curvature, matching, paths, basins, relevance, the study."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import embaudit
from embaudit.config import LandscapeConfig, NetworkConfig, TrainingConfig
from embaudit.data.worlds import product_lifespan
from embaudit.landscape.basins import find_basins, spanning_edges
from embaudit.landscape.comparison import replication_association
from embaudit.landscape.curvature import hutchpp_trace, lanczos_extremes, stream_seeds
from embaudit.landscape.functional import (
    CommonScale,
    Layout,
    canonicalize,
    fold_members,
    member_losses,
    mixture_losses,
    permute_units,
    predict,
)
from embaudit.landscape.matching import match_units
from embaudit.landscape.paths import fourier_path, judge_points, pointwise, straight_path
from embaudit.landscape.specialisation import ambiguity_decomposition
from embaudit.landscape.study import MinimaGroup, study_landscape
from embaudit.reports.methods import methods_paragraphs
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.store import AuditStore
from embaudit.training.execution import WorkerPool
from embaudit.training.fit import fit_ensemble

SMALL = Layout((6, 8, 5, 1))


def _small_problem(seed: int = 0, members: int = 3):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(members, SMALL.n_parameters, generator=g, dtype=torch.float64) * 0.6
    x = torch.randn(50, 6, generator=g, dtype=torch.float64)
    y = torch.randn(50, generator=g, dtype=torch.float64)
    return theta, x, y


def _dense_hessian(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return torch.func.hessian(lambda t: member_losses(SMALL, t[None], x, y)[0])(theta).numpy()


def test_lanczos_and_hutchpp_match_the_dense_hessian():
    theta, x, y = _small_problem()
    loss = lambda t: member_losses(SMALL, t, x, y)  # noqa: E731
    spectrum = lanczos_extremes(loss, theta, steps=30)
    trace = hutchpp_trace(loss, theta, n_products=45)
    for b in range(len(theta)):
        H = _dense_hessian(theta[b], x, y)
        eigenvalues = np.linalg.eigvalsh(H)
        assert spectrum.largest[b] == pytest.approx(eigenvalues[-1], rel=0.01)
        assert spectrum.smallest[b] == pytest.approx(eigenvalues[0], rel=0.01)
        assert trace[b] == pytest.approx(np.trace(H), rel=0.05)


def _rescaled(theta: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """The same function: hidden unit i of layer 1 scaled by factors[i] in, 1/f out."""
    (w1, b1), (w2, b2), last = SMALL.unflatten(theta.clone())
    return SMALL.flatten([(w1 * factors[:, None], b1 * factors), (w2 / factors, b2), last])


_MEMORY_PROBE = """
import resource, sys, torch
torch.set_num_threads(1)
from embaudit.config import LandscapeConfig
from embaudit.landscape.curvature import gradient_norm, hutchpp_trace, lanczos_extremes
from embaudit.landscape.functional import Layout, canonicalize, member_losses
from embaudit.landscape.study import _batch_size
n, p, budget, config = int(sys.argv[1]), int(sys.argv[2]), 200, LandscapeConfig()
layout = Layout((p, 64, 16, 1))
generator = torch.Generator().manual_seed(0)

def curvature(B, n):  # what the study measures per batch
    theta = 0.1 * torch.randn(B, layout.n_parameters, generator=generator)
    x, y = torch.randn(n, p, generator=generator), torch.randn(n, generator=generator)
    loss = lambda t: member_losses(layout, t, x, y, torch.ones(B, n))
    lanczos_extremes(loss, theta, config.lanczos_steps)
    lanczos_extremes(loss, canonicalize(layout, theta), config.lanczos_steps)
    hutchpp_trace(loss, canonicalize(layout, theta), config.trace_products)
    gradient_norm(loss, theta)

curvature(1, 20)  # torch.fx's tracing, once per process; small, so little to reuse
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
B = _batch_size(layout, n, config, budget)
curvature(B, n)
print(B, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) / 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
@pytest.mark.parametrize(("rows", "features"), [(1500, 100), (6000, 10)],
                         ids=["parameters", "rows"])
def test_a_curvature_batch_stays_within_the_memory_budget(rows: int, features: int):
    """The study sizes its batches so that their peak memory stays within the budget
    (measured in a fresh process: resident memory only grows), whether parameters or
    rows dominate a member's share."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _MEMORY_PROBE, str(rows), str(features)],
        capture_output=True, text=True, check=True, timeout=300)
    batch, grown_mb = result.stdout.split()
    assert int(batch) > 1
    assert float(grown_mb) <= 200


def test_curvature_of_a_member_does_not_depend_on_its_batch():
    """Each member draws its random vectors from its own stream: measured in one batch
    or in two, it gets the same estimates (so a memory budget does not change results)."""
    theta, x, y = _small_problem(members=4)
    seeds = stream_seeds(3, range(4))
    loss = lambda t: member_losses(SMALL, t, x, y)  # noqa: E731
    whole = lanczos_extremes(loss, theta, steps=4, seed=seeds)
    trace = hutchpp_trace(loss, theta, n_products=6, seed=seeds)
    halves = [lanczos_extremes(loss, theta[i : i + 2], steps=4, seed=seeds[i : i + 2])
              for i in (0, 2)]
    traces = [hutchpp_trace(loss, theta[i : i + 2], n_products=6, seed=seeds[i : i + 2])
              for i in (0, 2)]
    np.testing.assert_allclose(whole.largest, np.concatenate([h.largest for h in halves]),
                               rtol=1e-9)
    np.testing.assert_allclose(whole.smallest, np.concatenate([h.smallest for h in halves]),
                               rtol=1e-9)
    np.testing.assert_allclose(trace, np.concatenate(traces), rtol=1e-9)
    # four Lanczos steps and six products are rough: another stream gives other values
    assert not np.allclose(hutchpp_trace(loss, theta, n_products=6, seed=4), trace,
                           rtol=1e-6)
    with pytest.raises(ValueError, match="n_products=2"):
        hutchpp_trace(loss, theta, n_products=2)


def test_canonical_sharpness_does_not_move_when_relu_units_are_rescaled():
    theta, x, y = _small_problem(members=1)
    factors = torch.tensor([4.0, 0.25, 1.0, 3.0, 0.5, 1.0, 2.0, 0.2], dtype=torch.float64)
    rescaled = _rescaled(theta[0], factors)[None]
    np.testing.assert_allclose(predict(SMALL, rescaled, x), predict(SMALL, theta, x), atol=1e-10)
    loss = lambda t: member_losses(SMALL, t, x, y)  # noqa: E731
    raw = lanczos_extremes(loss, torch.cat([theta, rescaled]), steps=30).largest
    canonical = lanczos_extremes(loss, canonicalize(SMALL, torch.cat([theta, rescaled])),
                                 steps=30).largest
    assert abs(raw[1] - raw[0]) > 0.1 * raw[0]  # rescaling games the raw measure
    assert canonical[1] == pytest.approx(canonical[0], rel=1e-8)


def test_matching_undoes_a_permutation_and_the_barrier_vanishes():
    theta, x, _ = _small_problem(members=1)
    rng = np.random.default_rng(0)
    perms = [rng.permutation(8), rng.permutation(5)]
    member = canonicalize(SMALL, theta)[0]
    copy = permute_units(SMALL, member, perms)
    np.testing.assert_allclose(predict(SMALL, copy[None], x), predict(SMALL, member[None], x),
                               atol=1e-12)
    found = match_units(SMALL, member, copy)
    for perm, inverse in zip(perms, found, strict=True):
        np.testing.assert_array_equal(perm[inverse], np.arange(len(perm)))
    fitted = predict(SMALL, member[None], x)[0].detach()  # the member fits these exactly
    loss = lambda B, m: mixture_losses(SMALL, B, m, x, fitted)  # noqa: E731
    assert straight_path(loss, member, copy).barrier > 1e-3
    assert straight_path(loss, member, permute_units(SMALL, copy, found)).barrier == 0.0


def _bump(points: torch.Tensor) -> torch.Tensor:
    """Two basins at (±1, 0) with a bump on the line between them; the pass around it
    is at height ≈ 1.25, the line's top at 4."""
    a, b = points[:, 0], points[:, 1]
    return (a**2 - 1) ** 2 + 0.5 * b**2 + 3 * torch.exp(-(a**2 + b**2) / 0.1)


def test_the_fourier_path_finds_the_low_pass_between_two_basins():
    start = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    end = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert straight_path(pointwise(_bump), start, end).barrier == pytest.approx(4.0, abs=0.01)
    assert fourier_path(pointwise(_bump), start, end, steps=100).barrier < 1.3


def test_the_fourier_path_is_never_above_the_straight_line():
    theta, x, y = _small_problem(seed=1, members=4)
    loss = lambda B, m: mixture_losses(SMALL, B, m, x, y)  # noqa: E731
    for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]:
        line = straight_path(loss, theta[a], theta[b])
        curve = fourier_path(loss, theta[a], theta[b], steps=30)
        np.testing.assert_allclose(curve.t, line.t)
        assert curve.barrier <= line.barrier + 1e-12


def test_basins_are_single_linkage_on_the_barriers():
    barriers = np.array([[0, 0.01, 0.02, 0.9, 0.8],
                         [0.01, 0, 0.03, 0.7, 0.9],
                         [0.02, 0.03, 0, 0.6, 0.95],
                         [0.9, 0.7, 0.6, 0, 0.04],
                         [0.8, 0.9, 0.95, 0.04, 0]])
    basins = find_basins(barriers, threshold=0.05)
    np.testing.assert_array_equal(basins.labels, [1, 1, 1, 2, 2])
    assert basins.linkage[-1, 2] == pytest.approx(0.6)  # the lowest barrier between them
    assert spanning_edges(barriers) == [(0, 1), (0, 2), (2, 3), (3, 4)]


def test_ambiguity_decomposition_is_exact():
    rng = np.random.default_rng(0)
    predictions, y = rng.normal(size=(5, 40)), rng.normal(size=40)
    ensemble, members, ambiguity = ambiguity_decomposition(predictions, y)
    assert ensemble == pytest.approx(members - ambiguity)


@pytest.mark.parametrize("regime", ["overfit", "batch_norm"])
def test_folded_members_compute_what_the_trained_members_predict(regime):
    world = product_lifespan(n=300, p=20, seed=3)
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, regime, n_bootstrap=2, n_permutations=1,
                           root_seed=2)
    fit = fit_ensemble(world.table.X, world.table.y, members, rows=split.discovery,
                       regime=regime, training=TrainingConfig(max_epochs=5),
                       network=NetworkConfig())
    scale = CommonScale.from_rows(world.table.X, world.table.y, split.discovery)
    layout, flat = fold_members(fit.state, scale, torch.float64)
    common = predict(layout, flat, scale.inputs(world.table.X, torch.float64)).numpy()
    np.testing.assert_allclose(common * scale.target_sd + scale.target_mean, fit.predictions,
                               atol=1e-5)


def _planted_group(seed: int = 0) -> tuple[MinimaGroup, np.ndarray, np.ndarray, object]:
    """Eight overfit minima on data where lifespan depends on features 0-4 of 30."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 30))
    y = X[:, :5] @ np.array([1.0, -0.8, 0.6, 0.9, -0.7]) + 0.5 * rng.normal(size=600)
    split = discovery_holdout_split(y, 0.3, 5, seed=0)
    members = plan_members(split, 600, "overfit", n_bootstrap=7, n_permutations=1,
                           root_seed=2)[:8]
    fit = fit_ensemble(X, y, members, rows=split.discovery, regime="overfit",
                       training=TrainingConfig(max_epochs=100),
                       network=NetworkConfig(hidden=(16, 8)))
    group = MinimaGroup("overfit", "adam", fit.member_ids, [m.kind for m in members],
                        fit.state, np.stack([m.train_weights for m in members]))
    return group, X, y, split


def test_conserved_weights_rank_the_features_lifespan_depends_on_first():
    group, X, y, split = _planted_group()
    result = study_landscape([group], X, y, split, LandscapeConfig(path_steps=10))
    features = result.features[result.features["minima"] == "all"]
    top = features.nlargest(5, "relevance")["feature"]
    assert set(top) == {"0", "1", "2", "3", "4"}  # unnamed features: their column index
    assert features["agreement"].iloc[0] > 0  # relevance agrees with holdout importance
    members = result.members
    assert (members["train_loss"] < members["holdout_loss"]).all()
    assert (members["lambda_max_canonical"] > 0).all()
    assert members.loc[members["kind"] == "reference", "barrier_to_reference"].iloc[0] == 0
    pairs = result.pairs
    assert len(pairs) == 28 and pairs["fourier_barrier"].notna().sum() == 7
    # matching can only help the straight line, and the Fourier path the matched line
    assert (pairs["barrier"] <= pairs["barrier_unmatched"] + 1e-6).mean() > 0.9
    fitted = pairs.dropna(subset=["fourier_barrier"])
    assert (fitted["fourier_barrier"] <= fitted["barrier"] + 1e-6).all()


def test_worker_processes_measure_the_same_geometry():
    """Groups measured in worker processes (one thread) give this process's numbers."""
    group, X, y, split = _planted_group()
    second = MinimaGroup("overfit", "sgd", [f"{m}-sgd" for m in group.member_ids],
                         group.kinds, group.state, group.train_weights)
    config = LandscapeConfig(path_steps=5)
    here = study_landscape([group, second], X, y, split, config)
    with WorkerPool(2) as pool:
        there = study_landscape([group, second], X, y, split, config, executor=pool)
    assert len(there.pairs) == 2 * 28
    for name in ("pairs", "basins", "paths", "linkage"):
        pd.testing.assert_frame_equal(getattr(here, name), getattr(there, name),
                                      check_exact=False, rtol=1e-4, atol=1e-6)
    pd.testing.assert_frame_equal(here.members, there.members, check_exact=False, rtol=1e-4)


def _geometry(n: int, rng: np.random.Generator, regime: str = "overfit") -> pd.DataFrame:
    return pd.DataFrame({"member_id": [f"{regime}{i}" for i in range(n)], "regime": regime,
                         "optimizer": "adam",
                         "lambda_max_canonical": np.exp(rng.normal(size=n)),
                         "trace_canonical": np.exp(rng.normal(size=n)),
                         "barrier_to_reference": rng.uniform(size=n),
                         "train_loss": np.exp(rng.normal(size=n))})


def _replication(members: pd.DataFrame, chance: np.ndarray, rng: np.random.Generator,
                 per_member: int = 12) -> pd.DataFrame:
    return pd.DataFrame({
        "member_id": np.repeat(members["member_id"], per_member),
        "replicated": rng.uniform(size=len(members) * per_member)
        < np.repeat(chance, per_member)})


def test_replication_association_finds_a_planted_link_with_sharpness():
    rng = np.random.default_rng(1)
    members = _geometry(40, rng)
    chance = 1 / (1 + np.exp(1.5 * np.log(members["lambda_max_canonical"])))  # sharper: less
    table = replication_association(members, _replication(members, chance, rng))
    table = table.set_index("predictor")
    assert table.loc["lambda_max_canonical", "coefficient"] < 0
    assert table.loc["lambda_max_canonical", "ci_high"] < 0
    assert table.loc["trace_canonical", "p_value"] > 0.01


def test_replication_association_compares_minima_within_their_regime():
    # a flat regime that replicates well beside a sharp one that replicates badly, while
    # within each, sharper minima replicate *more*: pooling would say the opposite
    rng = np.random.default_rng(2)
    flat, sharp = _geometry(30, rng, "flat"), _geometry(30, rng, "sharp")
    sharp["lambda_max_canonical"] *= 50
    members = pd.concat([flat, sharp], ignore_index=True)
    within = np.log(members["lambda_max_canonical"]) - members.groupby("regime")[
        "lambda_max_canonical"].transform(lambda v: np.log(v).mean())
    base = np.where(members["regime"] == "flat", 2.0, -2.0)
    chance = 1 / (1 + np.exp(-(base + 1.5 * within)))
    row = replication_association(members, _replication(members, chance, rng)).set_index(
        "predictor").loc["lambda_max_canonical"]
    assert row["ci_low"] > 0, row


def test_replication_association_says_why_it_has_no_estimate():
    rng = np.random.default_rng(3)
    few = _geometry(5, rng)
    reasons = replication_association(few, _replication(few, np.full(5, 0.5), rng))
    assert (reasons["reason"] == "fewer than 10 minima").all()
    members = _geometry(20, rng)
    constant = replication_association(members, _replication(members, np.ones(20), rng))
    assert (constant["reason"] == "replication does not vary").all()
    separated = members["lambda_max_canonical"] > members["lambda_max_canonical"].median()
    split = replication_association(members, _replication(members, (~separated) * 1.0, rng))
    row = split.set_index("predictor").loc["lambda_max_canonical"]
    assert np.isnan(row["coefficient"]) and "separated" in row["reason"]


def test_a_diverged_minimum_is_listed_and_left_out():
    group, X, y, split = _planted_group()
    state = {k: v.copy() for k, v in group.state.items()}
    state["first_weight"][3, 0, 0] = np.nan  # a run that diverged
    broken = MinimaGroup(group.regime, group.optimizer, group.member_ids, group.kinds, state,
                         group.train_weights)
    result = study_landscape([broken], X, y, split, LandscapeConfig(path_steps=2,
                                                                    lanczos_steps=5))
    members = result.members.set_index("member_id")
    assert members["diverged"].sum() == 1 and members.iloc[-1]["diverged"]
    assert np.isnan(members.loc[group.member_ids[3], "lambda_max_canonical"])
    assert group.member_ids[3] not in set(result.pairs["member_a"]) | set(
        result.pairs["member_b"])
    assert len(result.pairs) == 21 and np.isfinite(members["map_1"].dropna()).all()


def test_curved_paths_with_many_terms_stay_below_the_straight_line():
    theta, x, y = _small_problem(seed=4, members=3)
    loss = lambda B, m: mixture_losses(SMALL, B, m, x, y)  # noqa: E731
    for terms in (5, 7):
        grid = judge_points(terms)
        for a, b in [(0, 1), (1, 2)]:
            line = straight_path(loss, theta[a], theta[b], grid)
            curve = fourier_path(loss, theta[a], theta[b], n_terms=terms, steps=0)
            assert curve.barrier <= line.barrier + 1e-12


def test_an_audit_with_the_optimizer_study_stores_and_reports_its_landscape(tmp_path):
    world = product_lifespan(n=300, p=12, seed=4)
    config = {"seed": 4, "out": str(tmp_path),
              "training": {"regimes": ["overfit", "early_stopping", "linear"],
                           "max_epochs": 15},
              "resampling": {"n_bootstrap": 3, "n_permutations": 9},
              "statistics": {"n_resamples": 200},
              "landscape": {"enabled": True, "optimizers": ["sgd"], "members": 3,
                            "path_steps": 5, "lanczos_steps": 8, "trace_products": 6}}
    result = embaudit.audit(config, table=world.table, truth=world.truth)
    members = result.landscape.members
    assert set(zip(members["regime"], members["optimizer"], strict=True)) == {
        ("overfit", "adam"), ("overfit", "sgd"), ("early_stopping", "adam"),
        ("early_stopping", "sgd")}
    assert members["member_id"].is_unique and len(members) == 12
    assert members["replication_rate"].between(0, 1).all()
    # the study's copies are stored members of their own, trained with their optimizer
    store = AuditStore(tmp_path)
    assert "overfit/reference@sgd" in store.finished_members("overfit")
    assert "landscape_members" in store.tables()
    stored = store.read_table("landscape_pairs")
    assert len(stored) == 4 * 3 and stored["barrier"].notna().all()
    document = json.loads((tmp_path / "report.json").read_text())
    section = document["landscape"]
    assert {m["member_id"] for m in section["members"]} == set(members["member_id"])
    assert all(m["lambda_max_canonical"] > 0 for m in section["members"])
    assert section["headline"].startswith("Landscape:")
    html = (tmp_path / "report.html").read_text()
    assert '<section id="landscape">' in html
    assert html.count('class="plot landscape"') == 5
    assert "## Loss landscape of the minima" in (tmp_path / "report.md").read_text()
    assert "Landscape:" in result.summary()
    methods = dict(methods_paragraphs(result.config, result.lead_regime))
    assert "retrained with sgd" in methods["Loss landscape"]


def test_landscape_options_are_checked():
    with pytest.raises(embaudit.ConfigError, match=r"landscape\.enabled needs a network regime"):
        embaudit.audit({"training": {"regimes": ["linear"]}, "landscape": {"enabled": True}},
                       table=product_lifespan(n=200, p=5, seed=0).table)
    with pytest.raises(embaudit.ConfigError, match=r"'lbfgs'.*'dropout'"):
        embaudit.audit({"training": {"regimes": ["dropout"]},
                        "landscape": {"enabled": True, "optimizers": ["lbfgs"]}},
                       table=product_lifespan(n=200, p=5, seed=0).table)
