"""Person A vs B: the readings' estimator, its bounds, and the rules that read them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from embaudit.config import StatisticsConfig
from embaudit.core.schema import REGIME_COLUMNS
from embaudit.hypotheses.inference import holdout_association
from embaudit.hypotheses.position import comparable, decide_position
from embaudit.hypotheses.readings import (
    Estimate,
    Readings,
    holdout_covariance,
    mean_effect,
    rows_to_decide,
)

CONFIG = StatisticsConfig()
MAX_EPOCHS = 300


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = {column: float("nan") for column in REGIME_COLUMNS}
    row.update({
        "regime": "overfit", "n_candidates": 12, "n_read": 9, "n_read_replicated": 3,
        "n_axes_generalized": 8, "n_found": 3, "n_survives": 3, "n_fails": 0,
        "n_distinct": 3, "n_direct_leads": 3, "n_only_axis": 0, "n_axis_lost": 0,
        "reading_networks": 31, "read_effect": 0.08, "null_networks": 99,
        "null_effect": 0.0, "advantage": 0.08, "advantage_low": 0.05,
        "advantage_high": 0.11, "p_advantage": 0.001, "rows_to_decide": None,
        "comparable": True, "position": "", "no_better_than_linear": False})
    row.update(values)
    assert set(row) == set(REGIME_COLUMNS)
    return row


def _members(reference_reached: bool = True, null_reached: float = 1.0) -> pd.DataFrame:
    rows = [{"regime": "overfit", "kind": "reference", "epochs": 30, "train_loss": 0.009,
             "reached_target": reference_reached}]
    rows += [{"regime": "overfit", "kind": "permutation", "epochs": 40, "train_loss": 0.009,
              "reached_target": i < 20 * null_reached} for i in range(20)]
    return pd.DataFrame(rows)


def _decide(**values: object) -> tuple[str, str]:
    position = decide_position(_row(**values), _members(), 99, 600, CONFIG, MAX_EPOCHS)
    return position.position, position.summary


def test_positions_and_the_interval_each_prints():
    label, text = _decide()
    assert label == "A"
    assert "95% interval +0.050 to +0.110, one-sided bounds at 0.025" in text
    assert "600 held-out rows" in text and "31 networks" in text and "99" in text
    label, text = _decide(advantage=0.0, advantage_low=-0.02, advantage_high=0.03)
    assert label == "B" and "An advantage of 0.05 is ruled out" in text
    label, text = _decide(advantage=0.025, advantage_low=0.01, advantage_high=0.04)
    assert label == "B" and "replicate better than chance readings, but by less than a " \
        "useful margin" in text
    label, text = _decide(advantage=0.03, advantage_low=-0.01, advantage_high=0.07,
                          rows_to_decide=1480)
    assert label == "undecided" and "About 1,480 held-out rows (now 600)" in text
    label, text = _decide(advantage=0.03, advantage_low=-0.01, advantage_high=0.07)
    assert label == "undecided" and "More held-out rows alone would not decide" in text
    # as many rows as the holdout has would do: no promise of more
    label, text = _decide(advantage=0.03, advantage_low=-0.01, advantage_high=0.07,
                          rows_to_decide=450)
    assert label == "undecided" and "would decide" not in text
    assert "600 held-out rows decide with 80% power" in text and "it probably lies" in text
    label, text = _decide(advantage=0.02, advantage_low=0.004, advantage_high=0.07)
    assert label == "A" and "by a margin that may be useful" in text


def test_a_position_never_stands_beside_an_interval_that_contradicts_it():
    # review: "CI -7 to +90 points, p = 0.048 -> The data support A" (7 of 25 A's)
    rng = np.random.default_rng(0)
    labels = set()
    for _ in range(300):
        low = float(rng.uniform(-0.1, 0.1))
        high = low + float(rng.uniform(0, 0.15))
        label, text = _decide(advantage=(low + high) / 2, advantage_low=low,
                              advantage_high=high, p_advantage=0.2)
        labels.add(label)
        printed = f"95% interval {low:+.3f} to {high:+.3f}"
        assert printed in text
        if label == "A":
            assert low > 0 and high >= CONFIG.useful_advantage
        if label == "B":
            assert high < CONFIG.useful_advantage
    assert labels == {"A", "B", "undecided"}


def test_no_readings_or_no_comparable_null_decide_nothing_and_promise_no_rows():
    label, text = _decide(reading_networks=0)
    assert label == "undecided" and "no readings to compare" in text
    assert "rows would decide" not in text
    label, text = _decide(null_networks=1, advantage_low=float("nan"),
                          advantage_high=float("nan"))
    assert label == "undecided" and "at least two of each are needed" in text
    members = _members(reference_reached=True, null_reached=0.5)
    position = decide_position(_row(comparable=False), members, 99, 600, CONFIG, MAX_EPOCHS)
    assert position.position == "undecided"
    assert "10 of 20 permutation networks did" in position.summary


def test_comparability_is_the_training_rule_not_a_loss_that_learning_lowers():
    assert comparable(_members(), "overfit", MAX_EPOCHS)
    assert not comparable(_members(null_reached=0.5), "overfit", MAX_EPOCHS)
    # a linear baseline fits real lifespans better than permuted ones: still one rule
    linear = pd.DataFrame([{"regime": "linear", "kind": "reference", "epochs": 1,
                            "train_loss": 0.3}] + [
        {"regime": "linear", "kind": "permutation", "epochs": 1, "train_loss": 0.95}
        for _ in range(20)])
    assert comparable(linear, "linear", MAX_EPOCHS)
    # early stopping: a reference that learns trains longer, and still stopped by its rule
    early = pd.DataFrame([{"regime": "early_stopping", "kind": "reference", "epochs": 40,
                           "train_loss": 0.3}] + [
        {"regime": "early_stopping", "kind": "permutation", "epochs": 11 + i % 2,
         "train_loss": 0.95} for i in range(20)])
    assert comparable(early, "early_stopping", MAX_EPOCHS)
    assert not comparable(early.assign(epochs=np.where(early["kind"] == "reference",
                                                       MAX_EPOCHS, early["epochs"])),
                          "early_stopping", MAX_EPOCHS)
    assert comparable(pd.DataFrame(columns=["regime", "kind"]), "raw", MAX_EPOCHS)


def test_readings_weigh_each_network_equally_and_each_reading_within_it():
    readings = Readings.screened(np.array([[1, -1, 1], [1, 1, 0], [-1, -1, -1]]),
                                 np.array([[0.01, 0.01, 0.5], [0.01, 0.0, 0.0],
                                           [0.9, 0.2, 0.3]]), 0.05)
    weights = readings.weights(np.array([True, True, True]))
    # the third network read nothing; a 0 direction is no reading
    assert weights.tolist() == [[0.5, -0.5, 0.0], [0.5, 0.5, 0.0]]
    rho = np.array([0.3, -0.1, 0.5])
    estimate = mean_effect(weights, None, rho, np.zeros((3, 3)), 0.05)
    assert estimate.estimate == pytest.approx(((0.15 + 0.05) + (0.15 - 0.05)) / 2)
    # rows that never move: the spread is the two networks' (0.2 and 0.1)
    assert estimate.se_rows == pytest.approx(0.0)
    assert estimate.se_networks == pytest.approx(np.std([0.2, 0.1], ddof=1) / np.sqrt(2))
    assert estimate.low == pytest.approx(0.15 - 1.645 * estimate.se_networks, abs=1e-3)
    assert readings.share(np.array([[True, False, True]] * 3),
                          np.ones(3, bool)).tolist() == [0.5, 0.5]
    # one network tells nothing of how networks vary: no estimate
    assert np.isnan(mean_effect(weights[:1], None, rho, np.eye(3), 0.05).estimate)


def test_the_advantage_p_is_uniform_when_readings_are_chance_readings():
    rng = np.random.default_rng(1)
    p_values, excluded = [], 0
    for seed in range(200):
        n, q = 200, 8
        attributes, lifespan = rng.normal(size=(n, q)), rng.normal(size=n)
        holdout = holdout_association(attributes, lifespan, n_resamples=300,
                                      n_permutations=0, seed=seed)
        covariance = holdout_covariance(holdout)

        def weights(networks: int, q: int = q) -> np.ndarray:
            direction = rng.choice([-1, 1], size=(networks, q))
            kept = rng.uniform(size=(networks, q)) < 0.7
            return Readings(direction, kept).weights(np.ones(q, bool))

        estimate = mean_effect(weights(11), weights(19), holdout.rho, covariance, 0.05)
        p_values.append(estimate.p)
        excluded += estimate.low > 0
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert excluded / 200 <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200)


def test_the_covariance_without_resamples_is_fisher_z():
    rng = np.random.default_rng(2)
    holdout = holdout_association(rng.normal(size=(400, 3)), rng.normal(size=400),
                                  n_resamples=0, n_permutations=0)
    covariance = holdout_covariance(holdout)
    expected = (1 - holdout.rho**2) ** 2 * 1.06 / 397
    assert np.diag(covariance) == pytest.approx(expected)
    resampled = holdout_association(rng.normal(size=(400, 3)), rng.normal(size=400),
                                    n_resamples=2000, n_permutations=0)
    assert np.sqrt(np.diag(holdout_covariance(resampled))) == pytest.approx(
        np.full(3, 1 / np.sqrt(400)), rel=0.15)


def test_rows_to_decide_brings_the_bounds_within_a_useful_margin():
    estimate = Estimate(0.03, -0.01, 0.07, 0.1, se_rows=0.024, se_networks=0.005)
    rows = rows_to_decide(estimate, 600, 0.05, 0.05, 0.8)
    assert rows is not None and rows > 600
    needed = 0.05 / (stats.norm.ppf(0.95) + stats.norm.ppf(0.8))
    spread = np.sqrt(0.024**2 * 600 / rows + 0.005**2)
    assert spread <= needed < np.sqrt(0.024**2 * 600 / (rows - 1) + 0.005**2)
    # the networks alone spread wider than any number of rows can help
    assert rows_to_decide(Estimate(0.0, -0.1, 0.1, 0.5, 0.01, 0.03), 600, 0.05, 0.05,
                          0.8) is None
