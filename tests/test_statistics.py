"""Statistics: Spearman against scipy, holdout tests, permutation p, verdicts, discovery."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from embaudit.hypotheses.discovery import (
    axis_correlations,
    best_candidates,
    live_axes,
    raw_candidates,
    slice_rows,
)
from embaudit.hypotheses.inference import (
    holdout_association,
    required_holdout_size,
    sign_consistency,
)
from embaudit.hypotheses.multiplicity import adjust
from embaudit.hypotheses.ranks import spearman_matrix
from embaudit.hypotheses.resampled import max_t_p_values, permutation_p_values
from embaudit.resampling.alignment import OrthogonalProcrustes


def test_spearman_matrix_matches_scipy_including_ties():
    rng = np.random.default_rng(0)
    left = rng.normal(size=(40, 3))
    right = np.column_stack([rng.integers(0, 4, 40), rng.normal(size=40), left[:, 0] ** 3])
    expected = stats.spearmanr(left, right).statistic[:3, 3:]
    np.testing.assert_allclose(spearman_matrix(left, right), expected, atol=1e-12)


def test_constant_column_correlates_zero():
    assert spearman_matrix(np.ones((10, 1)), np.arange(10.0))[0, 0] == 0.0


@pytest.mark.parametrize("direction", [1, -1])
def test_holdout_p_values_match_scipy_one_sided(direction):
    rng = np.random.default_rng(1)
    y = rng.normal(size=60)
    A = np.column_stack([y + rng.normal(size=60), rng.normal(size=60), -y])
    test = holdout_association(A, y)
    alternative = "greater" if direction > 0 else "less"
    for column in range(3):
        expected = stats.spearmanr(A[:, column], y, alternative=alternative).pvalue
        assert test.p_value(np.array([direction] * 3))[column] == pytest.approx(expected)


def test_holdout_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(2)
    p = np.concatenate([
        holdout_association(rng.normal(size=(80, 20)), rng.normal(size=80), n_resamples=0,
                            n_permutations=0).p_positive
        for _ in range(50)
    ])
    assert stats.kstest(p, "uniform").pvalue > 0.01


def test_covariates_remove_a_confounded_association():
    rng = np.random.default_rng(3)
    confounder = rng.normal(size=400)
    attribute = confounder + 0.5 * rng.normal(size=400)
    y = confounder + 0.5 * rng.normal(size=400)
    marginal = holdout_association(attribute[:, None], y)
    partial = holdout_association(attribute[:, None], y, confounder[:, None])
    assert marginal.p_positive[0] < 1e-10
    assert partial.p_positive[0] > 0.01
    assert abs(partial.rho[0]) < 0.1 < marginal.rho[0]


def test_holdout_interval_covers_the_truth_at_its_level():
    rng = np.random.default_rng(4)
    covered = 0
    cov = [[1, 0.5], [0.5, 1]]
    truth = 6 / np.pi * np.arcsin(0.5 / 2)  # Spearman's rho of a bivariate normal
    for _ in range(200):
        a, y = rng.multivariate_normal([0, 0], cov, size=100).T
        low, high = holdout_association(a[:, None], y, n_resamples=1000,
                                        n_permutations=0).interval(np.array([1]))
        covered += low[0] <= truth <= high[0]
    assert 0.9 <= covered / 200 <= 0.985


def test_permutation_and_max_t_p_values():
    observed = np.array([0.5, 0.2, 0.05])
    null = np.array([[0.1, 0.3, 0.0], [0.6, 0.1, 0.02], [0.2, 0.25, 0.01], [0.0, 0.0, 0.3]])
    np.testing.assert_allclose(permutation_p_values(observed, null), [2 / 5, 3 / 5, 2 / 5])
    np.testing.assert_allclose(max_t_p_values(observed, null), [2 / 5, 5 / 5, 5 / 5])
    assert (max_t_p_values(observed, null) >= permutation_p_values(observed, null)).all()


def test_permutation_p_values_are_uniform_when_exchangeable():
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(2000, 20))
    p = np.array([permutation_p_values(d[:1], d[1:, None])[0] for d in draws])
    # discrete uniform on {1/20, ..., 1}: P(p <= k/20) = k/20
    for k in (1, 5, 10):
        assert np.mean(p <= k / 20 + 1e-12) == pytest.approx(k / 20, abs=0.025)


def test_adjust_uses_statsmodels():
    p = np.array([0.001, 0.02, 0.03, 0.5])
    for method in ("fdr_bh", "fdr_by", "holm"):
        np.testing.assert_allclose(adjust(p, method, 0.1), multipletests(p, method=method)[1])


def test_sign_consistency():
    directions = np.array([[1, -1], [1, 1], [-1, -1], [1, -1]])
    np.testing.assert_allclose(sign_consistency(directions, np.array([1, -1])), [0.75, 0.75])


def test_required_holdout_size_gives_the_requested_power():
    rng = np.random.default_rng(6)
    n = int(required_holdout_size(np.array([0.3]), alpha=0.05, power=0.8)[0])
    cov = [[1, 0.3 / 0.955], [0.3 / 0.955, 1]]  # Spearman 0.3 (Pearson ≈ rho / 0.955)
    hits = 0
    for _ in range(400):
        a, y = rng.multivariate_normal([0, 0], cov, size=n).T
        hits += holdout_association(a[:, None], y, n_resamples=0,
                                    n_permutations=0).p_positive[0] <= 0.05
    assert 0.72 <= hits / 400 <= 0.88
    assert required_holdout_size(np.array([0.1]), 0.05, 0.8)[0] > n


def _planted_embedding(rng: np.random.Generator, n: int = 500):
    y = rng.normal(size=n)
    attribute = y + rng.normal(size=n)
    E = rng.normal(size=(n, 5))
    E[:, 3] = y - attribute * 0.0 + 0.3 * rng.normal(size=n)  # axis 3 tracks lifespan
    E[:, 3] += 0.5 * attribute
    E[:, 1] = 0.0  # a dead axis
    return E, attribute[:, None], y


@pytest.mark.parametrize("mode", ["axis", "slice"])
def test_discovery_finds_the_planted_axis_and_skips_dead_ones(mode):
    E, A, y = _planted_embedding(np.random.default_rng(7))
    live = live_axes(E)
    assert not live[1]
    candidates = best_candidates(axis_correlations(E, A, y, mode, 0.5, live))
    assert candidates.axis[0] == 3
    assert candidates.direction[0] == 1
    assert candidates.strength[0] > 0.3
    flipped = best_candidates(axis_correlations(E, -A, y, mode, 0.5, live))
    assert flipped.direction[0] == -1


def test_raw_candidates_are_spearman_of_attribute_and_lifespan():
    rng = np.random.default_rng(8)
    y = rng.normal(size=100)
    A = np.column_stack([-y + rng.normal(size=100), rng.normal(size=100)])
    raw = raw_candidates(A, y)
    assert raw.strength[0] == pytest.approx(abs(stats.spearmanr(A[:, 0], y).statistic))
    assert raw.direction[0] == -1


def test_procrustes_recovers_a_rotated_reflected_copy_exactly():
    rng = np.random.default_rng(9)
    target = rng.normal(size=(200, 6))
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    rotation[:, 0] *= -1  # include a reflection
    source = (target - 1.0) @ rotation.T + 4.0
    aligner = OrthogonalProcrustes().fit(source, target)
    np.testing.assert_allclose(aligner.transform(source), target, atol=1e-10)
    assert aligner.disparity_ < 1e-12
    unrelated = OrthogonalProcrustes().fit(rng.normal(size=(200, 6)), target)
    assert unrelated.disparity_ > 0.8


def test_procrustes_without_reflection_keeps_orientation():
    rng = np.random.default_rng(10)
    target = rng.normal(size=(100, 3))
    mirrored = target * np.array([-1, 1, 1])
    aligner = OrthogonalProcrustes(allow_reflection=False).fit(mirrored, target)
    assert np.linalg.det(aligner.rotation_) > 0
    assert aligner.disparity_ > 0.01


def test_attribute_constant_on_the_holdout_is_untestable():
    rng = np.random.default_rng(12)
    y = rng.normal(size=50)
    A = np.column_stack([np.zeros(50), y + rng.normal(size=50)])
    test = holdout_association(A, y)
    assert np.isnan(test.rho[0]) and np.isnan(test.p_positive[0])
    assert np.isfinite(test.p_positive[1])
    assert np.isnan(adjust(test.p_positive, "fdr_bh", 0.1)[0])
    partial = holdout_association(A, y, np.column_stack([rng.normal(size=50), np.ones(50)]))
    assert np.isnan(partial.p_positive[0]) and np.isfinite(partial.p_positive[1])


def test_dead_embedding_makes_no_claim():
    rng = np.random.default_rng(13)
    y = rng.normal(size=100)
    candidates = best_candidates(axis_correlations(np.zeros((100, 4)), y[:, None], y))
    assert candidates.direction[0] == 0 and candidates.strength[0] == 0


def test_slice_ignores_axes_constant_on_the_sliced_rows():
    rng = np.random.default_rng(14)
    E = rng.normal(size=(200, 3))
    E[:, 2] = 0.0
    rows = slice_rows(E, 0, 0.5, np.array([True, True, True]))
    assert len(rows) == 100 and len(set(rows)) == 100
    distance = np.abs(E[:, 1] - np.median(E[:, 1]))
    assert distance[rows].max() <= np.sort(distance)[99] + 1e-12


def test_required_holdout_size_of_no_strength_is_undefined():
    assert required_holdout_size(np.array([0.0, np.nan]), 0.05, 0.8).tolist() == [-1, -1]
