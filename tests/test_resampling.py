"""Resampling plans and evidence: the leakage guards the design rests on."""

from __future__ import annotations

import numpy as np
import pytest

from embaudit.hypotheses.evidence import DiscoveryData, align_to_reference, embedding_evidence
from embaudit.hypotheses.ranks import spearman_matrix
from embaudit.resampling.plans import discovery_holdout_split, member_seed, plan_members


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    return np.random.default_rng(0).lognormal(size=500)


def test_split_is_disjoint_complete_and_stratified(y):
    split = discovery_holdout_split(y, 0.3, 5, seed=1)
    assert not set(split.discovery) & set(split.holdout)
    assert sorted([*split.discovery, *split.holdout]) == list(range(len(y)))
    assert len(split.holdout) == 150
    quintiles = np.searchsorted(np.quantile(y, [0.2, 0.4, 0.6, 0.8]), y[split.holdout])
    assert np.bincount(quintiles).min() >= 28  # 30 per stratum when perfectly balanced


def test_split_keeps_groups_together(y):
    groups = np.repeat(np.arange(50), 10)
    split = discovery_holdout_split(y, 0.3, 5, seed=2, groups=groups)
    assert not set(groups[split.discovery]) & set(groups[split.holdout])
    assert 0.2 <= len(split.holdout) / len(y) <= 0.4


def test_members_train_only_on_discovery_rows(y):
    split = discovery_holdout_split(y, 0.3, 5, seed=3)
    members = plan_members(split, len(y), "regularized", n_bootstrap=5, n_permutations=5,
                           root_seed=4, validation_fraction=0.2)
    holdout = split.holdout
    for member in members:
        assert (member.weights[holdout] == 0).all(), member.member_id
        assert member.weights.sum() == len(split.discovery)
        assert not member.validation[holdout].any()
        assert (member.weights[member.validation] > 0).all()  # drawn from its own rows
        assert (member.train_weights[member.validation] == 0).all()
    permutation = next(m for m in members if m.kind == "permutation")
    moved = np.flatnonzero(permutation.permutation != np.arange(len(y)))
    assert set(moved) <= set(split.discovery)
    assert sorted(permutation.permutation) == list(range(len(y)))
    bootstrap = next(m for m in members if m.kind == "bootstrap")
    assert (bootstrap.weights[split.discovery] == 0).any()  # it has out-of-bag rows


def test_member_specs_do_not_depend_on_how_many_are_planned(y):
    split = discovery_holdout_split(y, 0.3, 5, seed=5)
    few = plan_members(split, len(y), "overfit", n_bootstrap=2, n_permutations=2, root_seed=6)
    many = plan_members(split, len(y), "overfit", n_bootstrap=9, n_permutations=7,
                        root_seed=6)
    by_id = {m.member_id: m for m in many}
    for member in few:
        twin = by_id[member.member_id]
        assert member.seed == twin.seed
        assert np.array_equal(member.weights, twin.weights)
        if member.permutation is not None:
            assert np.array_equal(member.permutation, twin.permutation)
    assert member_seed(6, "bootstrap", 1) != member_seed(6, "bootstrap", 2)
    assert member_seed(6, "bootstrap", 1) != member_seed(7, "bootstrap", 1)


def test_alignment_does_not_leak_the_references_memory_into_out_of_bag_rows():
    """A member that learned nothing must not look, once aligned, as if it tracked
    lifespan on its out-of-bag rows, however well the reference memorised them."""
    rng = np.random.default_rng(7)
    n = 420
    y = rng.normal(size=n)
    split = discovery_holdout_split(y, 0.3, 5, seed=8)
    members = plan_members(split, n, "overfit", n_bootstrap=150, n_permutations=0,
                           root_seed=9)
    reference = rng.normal(size=(n, 16))
    reference[split.discovery, 0] = y[split.discovery]  # memorised on every discovery row
    positive = []
    for member in members[1:]:
        aligned, quality = align_to_reference(rng.normal(size=(n, 16)), reference, member)
        out_of_bag = split.discovery[member.weights[split.discovery] == 0]
        positive.append(spearman_matrix(aligned[out_of_bag, 0], y[out_of_bag])[0, 0] > 0)
        assert 0 < quality.disparity <= 1
    assert 0.35 <= np.mean(positive) <= 0.65


def test_evidence_reads_the_references_trend_and_a_null_per_permutation_member():
    rng = np.random.default_rng(10)
    n = 300
    y = rng.normal(size=n)
    attribute = y + rng.normal(size=n)
    split = discovery_holdout_split(y, 0.3, 5, seed=11)
    members = plan_members(split, n, "overfit", n_bootstrap=5, n_permutations=9,
                           root_seed=12)
    embeddings = rng.normal(size=(len(members), n, 8)).astype(np.float32)
    embeddings[0, :, 5] = y + 0.3 * rng.normal(size=n)
    embeddings[0, :, 3] = 0.0  # a dead axis
    data = DiscoveryData(attributes=attribute[:, None], lifespan=y,
                         discovery=split.discovery, holdout=split.holdout, mode="axis",
                         slice_fraction=0.5)
    evidence = embedding_evidence("overfit", members, embeddings, data)
    assert evidence.candidates.axis[0] == 5 and evidence.candidates.direction[0] == 1
    assert evidence.dead_axes == [3]
    assert evidence.null_strength.shape == (9, 1)
    assert (evidence.null_strength[:, 0] < evidence.candidates.strength[0]).all()
    assert evidence.bootstrap_direction.shape == (5, 1)
    assert evidence.p_embedding[0] < 1e-6  # axis 5 still orders both on the holdout
    assert list(evidence.alignment["member_id"]) == [m.member_id for m in members
                                                     if m.kind == "bootstrap"]
