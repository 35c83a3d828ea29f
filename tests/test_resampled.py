"""Vectorized permutation and bootstrap statistics against scipy and first principles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from embaudit.hypotheses.discovery import axis_correlations, best_candidates
from embaudit.hypotheses.inference import holdout_association
from embaudit.hypotheses.ranks import spearman_matrix
from embaudit.hypotheses.resampled import (
    bootstrap_interval,
    max_t_p_values,
    permutation_indices,
    permutation_null,
    permutation_p_values,
    permutation_strengths,
)


def _spearman(a: np.ndarray, y: np.ndarray) -> float:
    return stats.spearmanr(a, y).statistic


@pytest.mark.parametrize("direction", [1, -1])
def test_permutation_p_matches_scipy_permutation_test(direction):
    rng = np.random.default_rng(10)
    y = rng.normal(size=30)
    a = 0.4 * direction * y + rng.normal(size=30)
    observed, null = permutation_null(a[:, None], y, n_permutations=20_000, seed=1)
    ours = permutation_p_values(direction * observed, direction * null)[0]
    theirs = stats.permutation_test(
        (a, y), _spearman, permutation_type="pairings", n_resamples=20_000,
        alternative="greater" if direction > 0 else "less", random_state=2,
    ).pvalue
    assert observed[0] == pytest.approx(_spearman(a, y))
    assert ours == pytest.approx(theirs, abs=0.01)


def test_bootstrap_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(11)
    y = rng.normal(size=60)
    a = np.round(0.5 * y + rng.normal(size=60), 1)  # ties
    low, high = bootstrap_interval(a[:, None], y, n_resamples=20_000, seed=3)
    theirs = stats.bootstrap((a, y), _spearman, paired=True, vectorized=False,
                             n_resamples=20_000, method="percentile", random_state=4)
    assert low[0] == pytest.approx(theirs.confidence_interval.low, abs=0.02)
    assert high[0] == pytest.approx(theirs.confidence_interval.high, abs=0.02)


def test_holdout_interval_of_a_constant_column_is_nan():
    rng = np.random.default_rng(12)
    A = np.column_stack([rng.normal(size=40), np.ones(40)])
    low, high = bootstrap_interval(A, rng.normal(size=40), n_resamples=200)
    assert np.isfinite([low[0], high[0]]).all() and np.isnan([low[1], high[1]]).all()


def test_max_t_controls_the_family_wise_error_under_the_null():
    rng = np.random.default_rng(13)
    rejections = 0
    for _ in range(300):
        y = rng.normal(size=50)
        shared = rng.normal(size=(50, 1))
        A = shared + rng.normal(size=(50, 8))  # correlated attributes
        test = holdout_association(A, y, n_resamples=0, n_permutations=499, seed=int(
            rng.integers(1 << 30)))
        rejections += (test.p_max_t(np.ones(8)) <= 0.1).any()
    assert 0.06 <= rejections / 300 <= 0.14


def test_max_t_is_never_below_the_per_column_permutation_p():
    rng = np.random.default_rng(14)
    y = rng.normal(size=80)
    A = np.column_stack([y + rng.normal(size=80), rng.normal(size=(80, 4))])
    direction = np.array([1, 1, -1, 1, -1])
    test = holdout_association(A, y, n_resamples=0, n_permutations=999)
    per_column = permutation_p_values(test.effect(direction), test.null * direction)
    assert (test.p_max_t(direction) >= per_column - 1e-12).all()
    assert test.p_max_t(direction)[0] < 0.01
    # a column with no claim stays out of the family
    assert np.isnan(test.p_max_t(np.array([1, 0, -1, 1, -1]))[1])


def test_max_t_p_ignores_untestable_columns():
    observed = np.array([0.5, np.nan])
    null = np.array([[0.1, np.nan], [0.6, np.nan], [0.2, np.nan]])
    p = max_t_p_values(observed, null)
    assert p[0] == pytest.approx(2 / 4) and np.isnan(p[1])


def test_permutation_strengths_equal_discovery_on_each_permuted_lifespan():
    rng = np.random.default_rng(15)
    E = np.maximum(rng.normal(size=(60, 5)), 0)
    E[:, 4] = 0.0  # dead axis
    A = rng.normal(size=(60, 3))
    y = rng.normal(size=60)
    fast = permutation_strengths(E, A, y, n_permutations=25, seed=7)
    permutations = permutation_indices(60, 25, np.random.default_rng(7))
    for row, perm in zip(fast, permutations, strict=True):
        slow = best_candidates(axis_correlations(E, A, y[perm])).strength
        np.testing.assert_allclose(row, slow, atol=1e-12)


def test_partial_spearman_agrees_between_discovery_and_holdout_test():
    rng = np.random.default_rng(16)
    C = rng.normal(size=(120, 2))
    y = C[:, 0] + rng.normal(size=120)
    A = np.column_stack([C[:, 0] + rng.normal(size=120), rng.normal(size=120)])
    partial = spearman_matrix(y, A, C)[0]
    test = holdout_association(A, y, C, n_resamples=0, n_permutations=0)
    np.testing.assert_allclose(partial, test.rho, atol=1e-10)
    assert abs(partial[0]) < 0.2 < spearman_matrix(y, A)[0, 0]


def test_freedman_lane_keeps_its_level_with_many_covariates():
    rng = np.random.default_rng(18)
    rejections = 0
    for _ in range(400):
        C = rng.normal(size=(40, 8))
        y = C[:, 0] + rng.normal(size=40)
        a = rng.normal(size=40)
        observed, null = permutation_null(a[:, None], y, C, n_permutations=199,
                                          seed=int(rng.integers(1 << 30)))
        rejections += permutation_p_values(observed, null)[0] <= 0.05
    assert 0.025 <= rejections / 400 <= 0.08


def test_bootstrap_interval_of_a_rare_binary_level_is_nan():
    rng = np.random.default_rng(19)
    rare = np.zeros(80)
    rare[3] = 1
    low, high = bootstrap_interval(rare[:, None], rng.normal(size=80), n_resamples=500)
    assert np.isnan(low[0]) and np.isnan(high[0])


def test_freedman_lane_permutation_p_is_uniform_under_a_partial_null():
    rng = np.random.default_rng(17)
    p = []
    for _ in range(200):
        C = rng.normal(size=(60, 1))
        y = C[:, 0] + rng.normal(size=60)
        a = C[:, 0] + rng.normal(size=60)  # related to y only through C
        observed, null = permutation_null(a[:, None], y, C, n_permutations=199,
                                          seed=int(rng.integers(1 << 30)))
        p.append(permutation_p_values(observed, null)[0])
    assert stats.kstest(p, "uniform").pvalue > 0.01
