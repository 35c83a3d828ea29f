"""Alignment of member embeddings (Procrustes, unit matching) and its quality."""

from __future__ import annotations

import numpy as np
import pytest

from embaudit.resampling.alignment import OrthogonalProcrustes, UnitMatching, make_aligner
from embaudit.resampling.quality import AlignmentQuality, alignment_quality, linear_cka, protest


def _rotation(rng: np.random.Generator, k: int, reflect: bool = False) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    if reflect:
        q[:, 0] *= -1
    return q


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_recovers_a_rotated_translated_copy_exactly(reflect):
    rng = np.random.default_rng(1)
    target = rng.normal(size=(150, 5))
    source = target @ _rotation(rng, 5, reflect).T + rng.normal(size=5)
    aligner = OrthogonalProcrustes().fit(source, target)
    np.testing.assert_allclose(aligner.transform(source), target, atol=1e-10)
    assert aligner.disparity_ < 1e-12
    assert aligner.scale_ == 1.0


def test_procrustes_with_scale_recovers_a_scaled_copy_and_fits_on_some_rows_only():
    rng = np.random.default_rng(2)
    target = rng.normal(size=(200, 4)) + 3.0
    source = 2.5 * target @ _rotation(rng, 4, reflect=True).T - 1.0
    fit = np.arange(120)
    aligner = OrthogonalProcrustes(scale=True).fit(source[fit], target[fit])
    np.testing.assert_allclose(aligner.transform(source), target, atol=1e-10)  # all rows
    assert aligner.scale_ == pytest.approx(0.4)
    unscaled = OrthogonalProcrustes().fit(source, target)
    assert unscaled.disparity_ < 1e-12  # disparity ignores scale
    assert not np.allclose(unscaled.transform(source), target)


@pytest.mark.parametrize("seed", range(5))
def test_procrustes_without_reflection_never_returns_a_reflection(seed):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(60, 4))
    source = target @ _rotation(rng, 4, reflect=True).T + 0.1 * rng.normal(size=(60, 4))
    aligner = OrthogonalProcrustes(allow_reflection=False).fit(source, target)
    assert np.linalg.det(aligner.rotation_) > 0
    np.testing.assert_allclose(aligner.rotation_.T @ aligner.rotation_, np.eye(4), atol=1e-12)
    assert aligner.disparity_ > OrthogonalProcrustes().fit(source, target).disparity_


def test_unit_matching_recovers_a_permuted_sign_flipped_copy_exactly():
    rng = np.random.default_rng(3)
    target = rng.normal(size=(300, 6)) * np.arange(1, 7) + 2.0
    permutation = rng.permutation(6)
    signs = np.array([1, -1, -1, 1, -1, 1.0])
    source = np.empty_like(target)
    source[:, permutation] = target * signs  # source axis permutation[j] = ±target axis j
    source += 5.0
    aligner = UnitMatching().fit(source, target)
    np.testing.assert_array_equal(aligner.permutation_, permutation)
    np.testing.assert_array_equal(aligner.signs_, signs)
    np.testing.assert_allclose(aligner.transform(source), target, atol=1e-12)
    np.testing.assert_allclose((source - aligner.source_mean_) @ aligner.rotation_
                               + aligner.target_mean_, target, atol=1e-12)
    assert aligner.disparity_ < 1e-12


def test_unit_matching_matches_on_correlation_not_spread_and_survives_dead_axes():
    rng = np.random.default_rng(4)
    target = rng.normal(size=(400, 4))
    source = np.column_stack([target[:, 1] * 100 + 0.1 * rng.normal(size=400),
                              np.zeros(400),  # dead
                              -target[:, 0] * 0.01,
                              rng.normal(size=400)])
    target[:, 3] = 1.5  # a dead target axis too
    aligner = UnitMatching().fit(source, target)
    assert aligner.permutation_[0] == 2 and aligner.signs_[0] == -1
    assert aligner.permutation_[1] == 0 and aligner.signs_[1] == 1
    assert sorted(aligner.permutation_) == [0, 1, 2, 3]
    assert np.all(np.isfinite(aligner.transform(source)))
    assert 0 <= aligner.disparity_ <= 1


def test_constant_embeddings_give_finite_results_everywhere():
    rng = np.random.default_rng(5)
    target = rng.normal(size=(50, 3))
    flat = np.ones((50, 3))
    for method in ("procrustes", "units"):
        aligner = make_aligner(method).fit(flat, target)
        assert np.all(np.isfinite(aligner.transform(flat)))
        assert aligner.disparity_ == 1.0
    assert linear_cka(flat, target) == 0.0
    quality = alignment_quality(flat, target, n_permutations=9)
    assert np.isfinite([quality.disparity, quality.protest_p, quality.cka]).all()


def test_aligners_by_name_fit_on_some_rows_and_apply_to_all():
    rng = np.random.default_rng(8)
    reference = rng.normal(size=(80, 4))
    member = (reference @ _rotation(rng, 4, reflect=True) + 1.0).astype(np.float32)
    member[60:] += rng.normal(size=(20, 4)).astype(np.float32)  # rows not fitted on
    aligner = make_aligner("procrustes").fit(member[:60].astype(np.float64), reference[:60])
    aligned = aligner.transform(member.astype(np.float64))
    np.testing.assert_allclose(aligned[:60], reference[:60], atol=1e-5)
    assert aligner.disparity_ < 1e-10
    assert np.abs(aligned[60:] - reference[60:]).max() > 0.1  # the noise is carried over
    with pytest.raises(ValueError, match="unknown"):
        make_aligner("affine")
    with pytest.raises(ValueError, match="allow_reflection"):
        make_aligner("units", allow_reflection=False)


def test_protest_finds_a_rotated_noisy_copy_significant():
    rng = np.random.default_rng(9)
    target = rng.normal(size=(100, 5))
    source = target @ _rotation(rng, 5, reflect=True) + 0.8 * rng.normal(size=(100, 5))
    statistic, p_value = protest(source, target, n_permutations=199, seed=1)
    assert p_value == pytest.approx(1 / 200)
    assert 0.5 < statistic < 1
    shuffled = -target[:, ::-1] + 0.8 * rng.normal(size=(100, 5))
    assert protest(shuffled, target, 49, method="units")[1] == pytest.approx(1 / 50)
    factory = protest(source, target, 49, method=lambda: OrthogonalProcrustes(scale=True))
    assert factory == protest(source, target, 49)  # the statistic ignores scale


def test_protest_p_values_of_unrelated_embeddings_are_roughly_uniform():
    p_values = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        source, target = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
        p_values.append(protest(source, target, n_permutations=99, seed=seed)[1])
    p_values = np.array(p_values)
    assert np.mean(p_values < 0.1) < 0.25
    assert np.mean(p_values > 0.05) > 0.8
    assert 0.3 < np.median(p_values) < 0.7
    same = protest(source, target, 99, seed=3), protest(source, target, 99, seed=3)
    assert same[0] == same[1]  # seeded


def test_linear_cka_is_one_for_rotated_scaled_copies_zero_for_unrelated_and_symmetric():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 6))
    assert linear_cka(X, 3.0 * X @ _rotation(rng, 6, reflect=True) + 7.0) == pytest.approx(1.0)
    big = rng.normal(size=(5000, 10)), rng.normal(size=(5000, 10))
    assert linear_cka(*big) < 0.01
    Y = X[:, :3] + rng.normal(size=(300, 3))
    assert linear_cka(X, Y) == pytest.approx(linear_cka(Y, X))
    assert 0.1 < linear_cka(X, Y) < 0.9


def test_alignment_quality_reports_all_three_for_one_member():
    rng = np.random.default_rng(11)
    target = rng.normal(size=(120, 4))
    source = target @ _rotation(rng, 4) + 0.2 * rng.normal(size=(120, 4))
    quality = alignment_quality(source, target, n_permutations=49)
    assert isinstance(quality, AlignmentQuality)
    assert quality.disparity == pytest.approx(
        OrthogonalProcrustes().fit(source, target).disparity_)
    assert quality.protest_statistic == pytest.approx(np.sqrt(1 - quality.disparity))
    assert quality.protest_p == pytest.approx(1 / 50)
    assert quality.cka > 0.9
