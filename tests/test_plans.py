"""Resampling plan options: cluster bootstrap, subsampling, blocked permutations, grouped
validation rows and K-fold cross-fit."""

from __future__ import annotations

import numpy as np
import pytest

from embaudit.resampling.crossfit import crossfit_splits, plan_crossfit
from embaudit.resampling.plans import discovery_holdout_split, plan_members

N_ROWS = 600


@pytest.fixture(scope="module")
def y() -> np.ndarray:
    return np.random.default_rng(20).lognormal(size=N_ROWS)


@pytest.fixture(scope="module")
def groups() -> np.ndarray:
    """60 groups of unequal sizes (at least 4 rows), labelled by strings, shuffled rows."""
    rng = np.random.default_rng(21)
    sizes = 4 + rng.multinomial(N_ROWS - 4 * 60, np.full(60, 1 / 60))
    labels = np.repeat([f"g{i:02d}" for i in range(60)], sizes)
    return rng.permutation(labels)


@pytest.fixture(scope="module")
def strata() -> np.ndarray:
    return np.random.default_rng(22).choice(["a", "b", "c", "d"], size=N_ROWS)


@pytest.fixture(scope="module")
def split(y, groups):
    return discovery_holdout_split(y, 0.3, 5, seed=23, groups=groups)


def _largest(groups):
    return np.unique(groups, return_counts=True)[1].max()


def _bootstraps(members):
    return [m for m in members if m.kind == "bootstrap"]


def _permutations(members):
    return [m for m in members if m.kind == "permutation"]


def test_cluster_bootstrap_draws_whole_groups(split, groups):
    members = plan_members(split, N_ROWS, "overfit", n_bootstrap=20, n_permutations=0,
                           root_seed=1, groups=groups, bootstrap="cluster")
    discovery_groups = np.unique(groups[split.discovery])
    some_group_twice = False
    for member in _bootstraps(members):
        assert member.weights.dtype == np.int64
        assert (member.weights[split.holdout] == 0).all()
        multiplicity = {}
        for label in discovery_groups:
            rows = split.discovery[groups[split.discovery] == label]
            assert len(set(member.weights[rows])) == 1, label  # one weight per group
            multiplicity[label] = member.weights[rows[0]]
        assert sum(multiplicity.values()) == len(discovery_groups)  # G draws of G groups
        assert 0 in multiplicity.values()  # out-of-bag groups exist
        some_group_twice |= max(multiplicity.values()) >= 2
    assert some_group_twice


def test_subsample_is_m_out_of_n_without_replacement(split, groups):
    m = round(0.4 * len(split.discovery))
    plain = plan_members(split, N_ROWS, "overfit", n_bootstrap=10, n_permutations=0,
                         root_seed=2, bootstrap="subsample", subsample_fraction=0.4)
    for member in _bootstraps(plain):
        assert set(np.unique(member.weights)) == {0, 1}
        assert (member.weights[split.holdout] == 0).all()
        assert member.weights.sum() == m
    grouped = plan_members(split, N_ROWS, "overfit", n_bootstrap=10, n_permutations=0,
                           root_seed=2, groups=groups, bootstrap="subsample",
                           subsample_fraction=0.4)
    drawn = set()
    for member in _bootstraps(grouped):
        assert set(np.unique(member.weights)) == {0, 1}
        assert (member.weights[split.holdout] == 0).all()
        assert abs(member.weights.sum() - m) <= _largest(groups)  # within a group of m
        inside = set(groups[member.weights == 1])
        outside = set(groups[split.discovery][member.weights[split.discovery] == 0])
        assert not inside & outside  # whole groups in or out
        drawn.add(frozenset(inside))
    assert len(drawn) == 10  # members differ


@pytest.mark.parametrize("within", ["groups", "strata"])
def test_permutation_stays_within_blocks(split, y, groups, strata, within):
    blocks = groups if within == "groups" else strata
    members = plan_members(split, N_ROWS, "overfit", n_bootstrap=0, n_permutations=8,
                           root_seed=3, groups=groups, strata=strata, permute_within=within)
    for member in _permutations(members):
        permutation = member.permutation
        assert sorted(permutation) == list(range(N_ROWS))  # a true permutation
        assert (permutation[split.holdout] == split.holdout).all()  # holdout untouched
        assert set(permutation[split.discovery]) == set(split.discovery)
        assert (blocks[permutation] == blocks).all()  # each row to a row of its own block
        moved = permutation[split.discovery] != split.discovery
        assert moved.mean() > 0.5  # it does permute
        targets = member.targets(y)
        for label in np.unique(blocks[split.discovery]):
            rows = split.discovery[blocks[split.discovery] == label]
            assert sorted(targets[rows]) == sorted(y[rows])


def test_plain_permutation_mixes_blocks(split, groups, strata):
    members = plan_members(split, N_ROWS, "overfit", n_bootstrap=0, n_permutations=3,
                           root_seed=3, groups=groups, strata=strata)
    for member in _permutations(members):
        assert (groups[member.permutation] != groups).mean() > 0.5
        assert (strata[member.permutation] != strata).mean() > 0.5


@pytest.mark.parametrize("bootstrap", ["plain", "cluster", "subsample"])
def test_validation_rows_are_whole_groups(split, groups, bootstrap):
    members = plan_members(split, N_ROWS, "regularized", n_bootstrap=5, n_permutations=5,
                           root_seed=4, validation_fraction=0.2, groups=groups,
                           bootstrap=bootstrap, permute_within="groups")
    for member in members:
        trained = member.weights > 0
        assert not member.validation[split.holdout].any()
        assert (trained[member.validation]).all()
        validation_groups = set(groups[member.validation])
        training_groups = set(groups[trained & ~member.validation])
        assert validation_groups and training_groups
        assert not validation_groups & training_groups, member.member_id
        assert abs(member.validation.sum() - 0.2 * trained.sum()) <= _largest(groups)
        assert (member.train_weights[member.validation] == 0).all()


OPTIONS = {
    "cluster": {"bootstrap": "cluster"},
    "subsample": {"bootstrap": "subsample", "subsample_fraction": 0.3},
    "grouped subsample": {"bootstrap": "subsample", "subsample_fraction": 0.6,
                          "with_groups": True},
    "within groups": {"permute_within": "groups"},
    "within strata": {"permute_within": "strata"},
    "grouped validation": {"validation_fraction": 0.25, "with_groups": True},
}


@pytest.mark.parametrize("name", OPTIONS)
def test_specs_do_not_depend_on_how_many_are_planned(split, groups, strata, name):
    options = dict(OPTIONS[name])
    with_groups = options.pop("with_groups", name == "cluster" or "groups" in name)
    extra = {"groups": groups if with_groups else None, "strata": strata, **options}
    few = plan_members(split, N_ROWS, "regularized", n_bootstrap=2, n_permutations=2,
                       root_seed=5, **extra)
    many = plan_members(split, N_ROWS, "regularized", n_bootstrap=11, n_permutations=9,
                        root_seed=5, **extra)
    by_id = {m.member_id: m for m in many}
    for member in few:
        twin = by_id[member.member_id]
        assert member.seed == twin.seed
        assert np.array_equal(member.weights, twin.weights)
        assert (member.permutation is None) == (twin.permutation is None)
        if member.permutation is not None:
            assert np.array_equal(member.permutation, twin.permutation)
        if member.validation is not None:
            assert np.array_equal(member.validation, twin.validation)
    first, second = _bootstraps(few)
    assert not np.array_equal(first.weights, second.weights)
    first, second = _permutations(few)
    assert not np.array_equal(first.permutation, second.permutation)


def _check_folds(splits, n_rows, groups=None):
    held = np.zeros(n_rows, dtype=int)
    for split in splits:
        assert not set(split.discovery) & set(split.holdout)
        assert sorted([*split.discovery, *split.holdout]) == list(range(n_rows))
        held[split.holdout] += 1
        if groups is not None:
            assert not set(groups[split.discovery]) & set(groups[split.holdout])
    assert (held == 1).all()  # every row held out exactly once


def test_crossfit_folds_partition_the_rows_and_are_stratified(y):
    splits = crossfit_splits(y, 5, seed=6)
    assert len(splits) == 5
    _check_folds(splits, N_ROWS)
    assert {len(s.holdout) for s in splits} == {120}
    quintiles = np.searchsorted(np.quantile(y, [0.2, 0.4, 0.6, 0.8]), y)
    for split in splits:
        assert np.bincount(quintiles[split.holdout], minlength=5).min() >= 23  # 24 if exact
    medians = [np.median(y[s.holdout]) for s in splits]
    assert np.ptp(medians) < 0.06 * np.subtract(*np.quantile(y, [0.9, 0.1]))
    again = crossfit_splits(y, 5, seed=6)
    assert all(np.array_equal(a.holdout, b.holdout) for a, b in zip(splits, again, strict=True))
    other = crossfit_splits(y, 5, seed=7)
    assert not np.array_equal(splits[0].holdout, other[0].holdout)


def test_crossfit_keeps_groups_together(y, groups):
    splits = crossfit_splits(y, 4, seed=8, groups=groups)
    assert len(splits) == 4
    _check_folds(splits, N_ROWS, groups)
    assert min(len(s.holdout) for s in splits) >= 0.15 * N_ROWS
    medians = [np.median(y[s.holdout]) for s in splits]
    assert np.ptp(medians) < 0.06 * np.subtract(*np.quantile(y, [0.9, 0.1]))


def test_crossfit_members_train_on_their_folds_discovery_rows(y, groups):
    splits = crossfit_splits(y, 3, seed=9, groups=groups)
    members = plan_crossfit(splits, N_ROWS, "regularized", root_seed=10,
                            validation_fraction=0.2, groups=groups)
    assert [m.member_id for m in members] == [f"regularized/crossfit/{k:02d}" for k in range(3)]
    assert len({m.seed for m in members}) == 3
    for member, split in zip(members, splits, strict=True):
        assert member.kind == "crossfit"
        assert np.array_equal(np.flatnonzero(member.weights), split.discovery)
        assert set(np.unique(member.weights)) == {0, 1}
        assert not member.validation[split.holdout].any()
        assert not set(groups[member.validation]) & set(groups[member.train_weights > 0])
    fewer = plan_crossfit(splits[:2], N_ROWS, "regularized", root_seed=10,
                          validation_fraction=0.2, groups=groups)
    for member, twin in zip(fewer, members, strict=False):
        assert member.seed == twin.seed
        assert np.array_equal(member.validation, twin.validation)


def test_impossible_options_fail_with_a_message_naming_the_option(split, y, groups):
    def plan(**options):
        defaults = {"n_bootstrap": 3, "n_permutations": 3, "root_seed": 11}
        return plan_members(split, N_ROWS, "overfit", **{**defaults, **options})

    with pytest.raises(ValueError, match=r"bootstrap='cluster'.*data\.group"):
        plan(bootstrap="cluster")
    with pytest.raises(ValueError, match=r"bootstrap='auto'"):
        plan(bootstrap="auto")
    with pytest.raises(ValueError, match="subsample_fraction"):
        plan(bootstrap="subsample", subsample_fraction=1.5)
    with pytest.raises(ValueError, match=r"permute_within='strata'.*resampling\.strata"):
        plan(permute_within="strata", groups=groups)
    with pytest.raises(ValueError, match=r"permute_within='groups'.*data\.group"):
        plan(permute_within="groups")
    with pytest.raises(ValueError, match=r"permute_within='groups'.*single discovery row"):
        plan(permute_within="groups", groups=np.arange(N_ROWS))
    with pytest.raises(ValueError, match="groups must hold one label per row"):
        plan(groups=groups[:10])
    with pytest.raises(ValueError, match="strata has 1 missing"):
        plan(strata=np.array([None, *["a"] * (N_ROWS - 1)], dtype=object),
             permute_within="strata")
    one_group = np.zeros(N_ROWS, dtype=int)
    with pytest.raises(ValueError, match="validation rows are whole groups"):
        plan(groups=one_group, validation_fraction=0.2)
    with pytest.raises(ValueError, match=r"crossfit_folds=5 needs at least 5 groups"):
        crossfit_splits(y, 5, seed=12, groups=np.arange(N_ROWS) % 4)
    with pytest.raises(ValueError, match=r"crossfit_folds=1"):
        crossfit_splits(y, 1, seed=12)
    assert len(plan(bootstrap="cluster", groups=groups, n_permutations=0)) == 4
