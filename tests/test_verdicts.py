"""Verdict rules, attribute families and thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from embaudit.config import AuditConfig, StatisticsConfig, build_config
from embaudit.errors import ConfigError
from embaudit.hypotheses.inference import holdout_association, required_holdout_size
from embaudit.hypotheses.multiplicity import family_q, threshold_used
from embaudit.hypotheses.verdicts import verdict_rule
from embaudit.reports.json_report import format_cell
from embaudit.reports.methods import methods_paragraphs

CONFIG = StatisticsConfig()


def test_verdict_rule():
    found = np.array([True, True, True, True, False, True])
    out = verdict_rule(
        found=found,
        q=np.array([0.01, 0.5, 0.5, 0.5, 0.001, np.nan]),
        q_opposite=np.array([1.0, 1.0, 0.01, 1.0, 1.0, np.nan]),
        ci_high=np.array([0.5, 0.05, 0.4, 0.25, 0.5, np.nan]),
        alpha=0.1, min_effect=0.1)
    # confirmed; interval below the smallest effect of interest; significant the other
    # way; an effect of interest not ruled out; not found (whatever its holdout says);
    # untestable
    assert list(out) == ["survives", "fails", "fails", "inconclusive", "not found",
                         "inconclusive"]


def test_fails_is_not_judged_against_the_discovered_strength():
    # review finding 4: a planted trend read with the right sign whose holdout interval
    # [0.12, 0.25] lies below its (selection-inflated) strength 0.3 used to fail; the
    # interval reaches effects of interest, so it is inconclusive when not confirmed
    out = verdict_rule(np.array([True]), q=np.array([0.2]), q_opposite=np.array([1.0]),
                       ci_high=np.array([0.25]), alpha=0.1, min_effect=0.1)
    assert out[0] == "inconclusive"


def test_survival_needs_no_bootstrap_sign_consistency():
    # review finding 3: out-of-bag rows are discovery rows, so sign consistency is no
    # independent check; it no longer gates survival and is no option any more
    out = verdict_rule(np.array([True]), q=np.array([0.01]), q_opposite=np.array([1.0]),
                       ci_high=np.array([0.4]), alpha=0.1, min_effect=0.1)
    assert out[0] == "survives"
    with pytest.raises(ConfigError, match=r"statistics\.sign_consistency"):
        build_config({"statistics": {"sign_consistency": 0.8}})


def test_a_categorical_attribute_is_one_family():
    # review finding 9: 12 numeric attributes and one 20-level null attribute; its levels
    # used to enter the BH family one by one (33 hypotheses)
    rng = np.random.default_rng(0)
    p_numeric = np.concatenate([[0.001, 0.004, 0.01, 0.02], rng.uniform(0.1, 1, 8)])
    p_levels = rng.uniform(0, 1, 20)
    p = np.concatenate([p_numeric, p_levels])
    families = np.concatenate([np.arange(12), np.full(20, 12)])
    family_p = np.concatenate([np.full(12, np.nan), np.full(20, 0.6)])  # its omnibus p
    q = family_q(p, family_p, families, np.ones(32, bool), "fdr_bh", 0.1)
    expected = multipletests(np.append(p_numeric, 0.6), method="fdr_bh")[1][:12]
    np.testing.assert_allclose(q[:12], expected)
    assert (q[12:] >= 0.6).all()  # no level beats its family's omnibus test
    # only found columns are in the family: the others get no q
    found = np.zeros(32, bool)
    found[:3] = True
    q = family_q(p, family_p, families, found, "fdr_bh", 0.1)
    np.testing.assert_allclose(q[:3], multipletests(p[:3], method="fdr_bh")[1])
    assert np.isnan(q[3:]).all()


def test_null_levels_of_a_categorical_attribute_rarely_survive():
    rng = np.random.default_rng(1)
    survived = 0
    for _ in range(200):
        n, levels = 300, 10
        labels = rng.integers(levels, size=n)
        A = np.column_stack([rng.normal(size=n)] + [(labels == k).astype(float)
                                                     for k in range(levels)])
        y = rng.normal(size=n) + 0.4 * A[:, 0]
        families = np.array([0] + [1] * levels)
        test = holdout_association(A, y, families=families, n_resamples=0, n_permutations=0)
        direction = np.sign(rng.normal(size=1 + levels))
        q = family_q(test.p_value(direction), test.family_p, families, np.ones(1 + levels, bool),
                     "fdr_bh", 0.1)
        survived += bool((q[1:] <= 0.1).any())
    assert survived / 200 <= 0.1 + 0.05


def test_threshold_used_and_the_holdout_size_that_reaches_the_power():
    # review finding 6: the size is computed at the threshold BH applies to one more
    # hypothesis (m = 10, R = 2: α·3/10) and at the smallest effect of interest
    q = np.array([0.01, 0.02] + [0.5] * 8)
    threshold = threshold_used(q, np.ones(10, bool), "fdr_bh", 0.1)
    assert threshold == pytest.approx(0.03)
    assert threshold_used(q, np.ones(10, bool), "holm", 0.1) == pytest.approx(0.1 / 8)
    n = int(required_holdout_size(np.array([0.15]), threshold, 0.8)[0])
    rng = np.random.default_rng(2)
    cov = [[1, 0.15 / 0.955], [0.15 / 0.955, 1]]  # Spearman 0.15
    hits = sum(holdout_association(a[:, None], y, n_resamples=0, n_permutations=0)
               .p_positive[0] <= threshold
               for a, y in (rng.multivariate_normal([0, 0], cov, size=n).T
                            for _ in range(300)))
    assert 0.72 <= hits / 300 <= 0.88


def test_a_strong_negative_effect_keeps_a_p_above_zero():
    # review finding 7: p for a negative association was 1 - p_positive, which cancels
    rng = np.random.default_rng(3)
    y = rng.normal(size=2000)
    A = np.column_stack([-y + 1.5 * rng.normal(size=2000), -y + 0.01 * rng.normal(size=2000)])
    test = holdout_association(A, y, n_resamples=0, n_permutations=0)
    assert 1 - test.p_positive[0] == 0.0  # what the old p of the negative tail was
    assert 0 < test.p_negative[0] < 1e-16
    assert test.p_negative[1] > 0  # even beyond double precision's reach
    assert format_cell(test.p_negative[0], "p_holdout") == "< 1e-16"


def test_max_t_q_is_never_below_p():
    rng = np.random.default_rng(4)
    y = rng.normal(size=60)
    A = np.column_stack([y + rng.normal(size=60), rng.normal(size=(60, 5))])
    test = holdout_association(A, y, n_resamples=0, n_permutations=99)
    direction = np.ones(6)
    assert (test.p_max_t(direction) >= test.p_value(direction)).all()


def test_groups_keep_the_holdout_at_its_level():
    # review finding 2: at ICC 0.5 (30 groups × 15 rows) tests that treat rows as
    # independent rejected 0.26 of the time at a nominal 0.10
    rng = np.random.default_rng(5)
    grouped, independent = [], []
    codes = np.repeat(np.arange(30), 15)
    for _ in range(150):
        a = np.sqrt(0.5) * (rng.normal(size=30)[codes] + rng.normal(size=450))
        y = np.sqrt(0.5) * (rng.normal(size=30)[codes] + rng.normal(size=450))
        test = holdout_association(a[:, None], y, groups=codes, n_resamples=0,
                                   n_permutations=499, seed=int(rng.integers(1e6)))
        grouped.append(test.p_positive[0] <= 0.1)
        plain = holdout_association(a[:, None], y, n_resamples=0, n_permutations=0)
        independent.append(plain.p_positive[0] <= 0.1)
    assert np.mean(independent) > 0.18  # the problem is real
    assert np.mean(grouped) <= 0.1 + 2 * np.sqrt(0.09 / 150)


def test_group_bootstrap_intervals_cover_the_truth():
    rng = np.random.default_rng(6)
    codes = np.repeat(np.arange(30), 15)
    covered = 0
    for _ in range(100):
        a = np.sqrt(0.5) * (rng.normal(size=30)[codes] + rng.normal(size=450))
        y = np.sqrt(0.5) * (rng.normal(size=30)[codes] + rng.normal(size=450))
        test = holdout_association(a[:, None], y, groups=codes, n_resamples=300,
                                   n_permutations=99, seed=int(rng.integers(1e6)))
        covered += test.rho_low[0] <= 0 <= test.rho_high[0]
    assert covered / 100 >= 0.88  # rows resampled as if independent: 0.68


def test_methods_say_how_covariates_are_adjusted_for_and_what_decides_survival():
    # review findings 10 and 5
    text = dict(methods_paragraphs(AuditConfig(), "overfit", 50, covariates=["region"]))
    assert "linear in the covariates' ranks" in text["Verdicts"]
    assert "p_embedding) is reported beside it and decides nothing" in text["Verdicts"]
    assert "linear in the covariates" not in dict(
        methods_paragraphs(AuditConfig(), "overfit"))["Verdicts"]
