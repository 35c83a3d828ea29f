"""The discovery screen: exact permutation p-values on a fixed network, calibrated where
the embedding mixes an attribute into a lifespan-carrying axis."""

from __future__ import annotations

import numpy as np
import pytest

from embaudit.hypotheses.discovery import axis_correlations, best_candidates, raw_candidates
from embaudit.hypotheses.ranks import spearman_matrix
from embaudit.hypotheses.resampled import permutation_indices
from embaudit.hypotheses.screen import screen


def _world(rng: np.random.Generator, n: int = 300):
    E = rng.normal(size=(n, 6))
    E[:, 5] = 0.0  # a dead axis
    y = E[:, 0] + rng.normal(size=n)
    A = np.column_stack([E[:, 0] + rng.normal(size=n), rng.normal(size=n),
                         (rng.random(n) < 0.3).astype(float), E[:, 1] + rng.normal(size=n)])
    return E, y, A


@pytest.mark.parametrize("with_covariates", [False, True])
def test_the_screen_matches_a_brute_force_permutation_test(with_covariates):
    rng = np.random.default_rng(0)
    E, y, A = _world(rng)
    C = rng.normal(size=(len(y), 2)) if with_covariates else None
    result = screen([E], [y], A, covariates=C, n_permutations=200, seed=3)
    candidates = best_candidates(axis_correlations(E, A, y, covariates=C))
    np.testing.assert_allclose(result.strength[0], candidates.strength, atol=1e-12)
    raw = raw_candidates(A, y, C)
    np.testing.assert_allclose(result.association[0], raw.strength * raw.direction, atol=1e-12)
    # the same 200 permutations, by brute force
    order = permutation_indices(len(y), 200, np.random.default_rng(3))
    T = np.array([best_candidates(axis_correlations(E, A[o], y, covariates=C)).strength
                  for o in order])
    R = np.array([spearman_matrix(y, A[o], C)[0] for o in order])
    np.testing.assert_allclose(result.p_carried[0],
                               (1 + (candidates.strength - 1e-12 <= T).sum(0)) / 201)
    np.testing.assert_allclose(result.p_association[0],
                               (1 + (np.abs(R) >= np.abs(raw.strength) - 1e-12).sum(0)) / 201)


@pytest.mark.parametrize("mode", ["axis", "slice"])
def test_p_values_are_uniform_when_the_attribute_is_unrelated(mode):
    rng = np.random.default_rng(1)
    p_carried, p_association = [], []
    for _ in range(3):
        embeddings = [np.maximum(rng.normal(size=(300, 6)), 0) for _ in range(20)]
        lifespans = [rng.normal(size=300) for _ in range(20)]
        result = screen(embeddings, lifespans, rng.normal(size=(300, 10)), mode=mode,
                        n_permutations=199, seed=int(rng.integers(1e6)))
        p_carried.append(result.p_carried.ravel())
        p_association.append(result.p_association.ravel())
    for p in (np.concatenate(p_carried), np.concatenate(p_association)):
        for level in (0.05, 0.2, 0.5):
            assert np.mean(p <= level) == pytest.approx(level, abs=0.035)


def test_an_attribute_mixed_into_a_lifespan_axis_is_carried_but_not_found():
    # the reason for the association half: a network's axis mixes what the features
    # encode, so an attribute unrelated to lifespan sits on a lifespan-carrying axis
    rng = np.random.default_rng(2)
    carried = found = 0
    for _ in range(200):
        n = 400
        z_life, z_other = rng.normal(size=n), rng.normal(size=n)
        y = z_life + 0.5 * rng.normal(size=n)
        E = np.column_stack([z_life + z_other, rng.normal(size=(n, 3))])  # a mixed axis
        attribute = z_other + 0.5 * rng.normal(size=n)  # no relation to lifespan
        result = screen([E], [y], attribute[:, None], n_permutations=199,
                        seed=int(rng.integers(1e6)))
        direction = best_candidates(axis_correlations(E, attribute[:, None], y)).direction
        carried += result.p_carried[0, 0] <= 0.05
        found += result.p_discovery(direction[None])[0, 0] <= 0.05
    assert carried / 200 > 0.9  # T alone would call it found
    assert found / 200 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200)


def test_block_permutations_stay_within_their_blocks():
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 5, size=60)
    order = permutation_indices(60, 50, rng, blocks)
    assert (np.sort(order, axis=1) == np.arange(60)).all()  # permutations
    assert (blocks[order] == blocks[None, :]).all()
    assert (order != np.arange(60)).any(axis=1).all()


def test_an_attribute_of_the_group_is_permuted_among_the_groups():
    # an attribute constant within groups cannot move when rows are permuted within them;
    # its group values are permuted among the groups instead: valid under the null, and
    # with power when the groups' lifespans follow it
    rng = np.random.default_rng(4)
    codes = np.repeat(np.arange(40), 10)
    null, planted = [], []
    for _ in range(100):
        group_value = rng.normal(size=40)
        y_null = rng.normal(size=40)[codes] + rng.normal(size=400)
        y_planted = 0.8 * group_value[codes] + rng.normal(size=400)
        A = np.column_stack([group_value[codes], rng.normal(size=400)])
        result = screen([None, None], [y_null, y_planted], A, blocks=codes,
                        n_permutations=199, seed=int(rng.integers(1e6)))
        null.append(result.p_association[0, 0])
        planted.append(result.p_association[1, 0])
    assert np.mean(np.array(null) <= 0.05) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 100)
    assert np.mean(np.array(planted) <= 0.05) > 0.9
