"""The product-lifespan world: its planted truth holds in the data it generates."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, cross_val_score
from threadpoolctl import threadpool_limits

from embaudit.data.worlds import COLOURS
from embaudit.errors import ConfigError
from embaudit.worlds import World, product_lifespan

N = 2000
SEEDS = (0, 1)
#: |Spearman| a planted true attribute reaches at least, and that no other one reaches.
TRUE_RHO, NULL_RHO = 0.15, 0.08


@cache
def world(seed: int = 0, null: bool = False, n: int = N, p: int = 500) -> World:
    return product_lifespan(n=n, p=p, seed=seed, null=null)


def rho(values: np.ndarray, lifespan: np.ndarray) -> float:
    return float(spearmanr(values, lifespan).statistic)


def cv_r2(X: np.ndarray, y: np.ndarray) -> float:
    """5-fold cross-validated R² of a ridge regression of y on X."""
    model = RidgeCV(alphas=np.logspace(-2, 4, 13))
    folds = KFold(5, shuffle=True, random_state=0)
    with threadpool_limits(1):  # small problem: BLAS threads only contend on a busy machine
        return float(cross_val_score(model, X, y, cv=folds, scoring="r2").mean())


def test_truth_and_roles_cover_every_attribute() -> None:
    w = world()
    attributes = set(w.table.attributes)
    assert set(w.truth) == attributes == set(w.roles)
    assert set(w.truth.values()) <= {"+", "-", "0"}
    assert set(w.roles.values()) == {"true", "spurious", "noise"}
    for name, role in w.roles.items():
        assert (w.truth[name] in {"+", "-"}) == (role == "true"), name
    assert {"+", "-"} <= set(w.truth.values())  # effects in both directions
    assert "colour" in attributes  # a categorical attribute among the spurious ones
    assert w.roles["colour"] == "spurious"


def test_table_layout() -> None:
    w = world(n=300, p=40)
    table = w.table
    assert table.n_rows == 300
    assert table.features == tuple(f"f{j:03d}" for j in range(40))
    assert table.X.shape == (300, 40) and table.X.dtype == np.float32
    assert table.target_transform == "log"
    np.testing.assert_allclose(table.y, np.log(table.lifespan))
    assert len(set(table.row_ids)) == 300
    assert w.latent.shape[0] == 300 and w.frame is table.frame


def test_reproducible_for_a_seed_and_different_across_seeds() -> None:
    a = product_lifespan(n=200, p=30, seed=3)
    b = product_lifespan(n=200, p=30, seed=3)
    c = product_lifespan(n=200, p=30, seed=4)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.latent, b.latent)
    assert a.truth == b.truth and a.roles == b.roles
    assert a.table.fingerprint() == b.table.fingerprint()
    assert a.table.fingerprint() != c.table.fingerprint()
    assert not np.allclose(a.table.lifespan, c.table.lifespan)
    assert not np.allclose(a.table.X, c.table.X)


@pytest.mark.parametrize("null", [False, True])
def test_lifespan_spans_days_to_decades(null: bool) -> None:
    lifespan = world(null=null).table.lifespan
    assert np.all(lifespan > 0)
    low, high = np.percentile(lifespan, [1, 99])
    assert low < 90, f"1st percentile {low:.0f} days"
    assert high > 3650, f"99th percentile {high:.0f} days"


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_true_attributes_have_their_sign(seed: int) -> None:
    w = world(seed)
    checked = 0
    for column in w.table.attribute_columns:
        if w.roles[column.attribute] != "true":
            continue
        r = rho(column.values, w.table.lifespan)
        sign = w.truth[column.attribute]
        assert np.sign(r) == (1 if sign == "+" else -1), f"{column.name}: rho {r:+.3f}, {sign}"
        assert abs(r) >= TRUE_RHO, f"{column.name}: rho {r:+.3f}"
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("seed", SEEDS)
def test_spurious_and_noise_attributes_are_unrelated_to_lifespan(seed: int) -> None:
    w = world(seed)
    columns = [c for c in w.table.attribute_columns if w.roles[c.attribute] != "true"]
    assert {c.name for c in columns} >= {f"colour={level}" for level in COLOURS}
    for column in columns:
        r = rho(column.values, w.table.lifespan)
        assert abs(r) < NULL_RHO, f"{column.name} ({w.roles[column.attribute]}): rho {r:+.3f}"


def test_spurious_attributes_are_encoded_in_the_features() -> None:
    w = world(n=1000, p=150)
    X = w.table.X
    spurious = [name for name, role in w.roles.items() if role == "spurious"]
    noise = [name for name, role in w.roles.items() if role == "noise"]
    assert spurious and noise
    for name in spurious:
        values = w.frame[name]
        if name == "colour":
            # colour is a tone binned into quartiles (COLOURS in tone order): decode the
            # order; the two middle levels are not linear in the tone, so not decodable
            # one-vs-rest by a linear model.
            values = values.map({level: i for i, level in enumerate(COLOURS)})
        r2 = cv_r2(X, values.to_numpy(dtype=float))
        assert r2 > 0.5, f"spurious {name}: cross-validated R² {r2:.3f}"
    for name in noise:
        r2 = cv_r2(X, w.frame[name].to_numpy(dtype=float))
        assert r2 < 0.05, f"noise {name}: cross-validated R² {r2:.3f}"


def test_null_world_removes_every_effect() -> None:
    w, planted = world(null=True), world()
    assert set(w.truth.values()) == {"0"}
    assert w.roles == planted.roles
    for column in w.table.attribute_columns:
        r = rho(column.values, w.table.lifespan)
        assert abs(r) < NULL_RHO, f"{column.name}: rho {r:+.3f} under the null"
    # only lifespan changes: features and attributes stay as they are
    np.testing.assert_array_equal(w.table.X, planted.table.X)
    np.testing.assert_array_equal(w.table.attribute_matrix, planted.table.attribute_matrix)
    assert not np.allclose(w.table.lifespan, planted.table.lifespan)


@pytest.mark.parametrize("effect_scale", [0.0, -1.0])
def test_truth_follows_the_effect_scale(effect_scale: float) -> None:
    w = product_lifespan(n=N, p=20, seed=0, effect_scale=effect_scale)
    flipped = {"+": "-", "-": "+", "0": "0"}
    for name, sign in world().truth.items():
        expected = "0" if effect_scale == 0 else flipped[sign]
        assert w.truth[name] == expected, name
        if w.roles[name] != "true":
            continue
        r = rho(w.frame[name].to_numpy(dtype=float), w.table.lifespan)
        if expected == "0":
            assert abs(r) < NULL_RHO, f"{name}: rho {r:+.3f} with no effect"
        else:
            assert np.sign(r) == (1 if expected == "+" else -1), f"{name}: rho {r:+.3f}"


@pytest.mark.parametrize(("n", "p"), [(10, 20), (100, 0)])
def test_too_small_a_world_names_the_option(n: int, p: int) -> None:
    with pytest.raises(ConfigError, match=rf"product_lifespan\(n={n}, p={p}\).*pass larger"):
        product_lifespan(n=n, p=p)
