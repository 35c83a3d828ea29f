"""The censored holdout test on hard data: a Cox fit that converges where statsmodels'
diverges, the discovery sign at heavy censoring, effect/interval/p from one model,
events-based power, and the O(n log n) concordance against brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.duration.hazard_regression import PHReg

from embaudit.claims.check import check_claims
from embaudit.config import AuditConfig
from embaudit.data.scenarios import scenario_world
from embaudit.data.table import load_table
from embaudit.errors import NumericalWarning, numerical_warnings
from embaudit.hypotheses.censored import (
    censored_association,
    cox_effect,
    lifespan_association,
    lifespan_scores,
    somers_d_effect,
)
from embaudit.hypotheses.concordance import concordance_test, row_shares
from embaudit.hypotheses.cox import fit_cox
from embaudit.hypotheses.discovery import raw_candidates
from embaudit.hypotheses.screen import screen
from embaudit.hypotheses.verdicts import rows_required
from embaudit.resampling.options import split_rows


def _brute_force(values: np.ndarray, time: np.ndarray, event: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: signed sum and count of its comparable pairs, from the n × n definition."""
    later = time[:, None] > time[None, :]
    censored_then = (time[:, None] == time[None, :]) & ~event[:, None]
    pairs = ((later | censored_then) & event[None, :]).astype(float)  # [i, j]: i outlived j
    signs = pairs * np.sign(values[:, None] - values[None, :])
    return signs.sum(0) + signs.sum(1), pairs.sum(0) + pairs.sum(1)


@pytest.mark.parametrize("seed", range(8))
def test_row_shares_equal_the_quadratic_definition_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    values = rng.integers(0, 5, n).astype(float)
    time = rng.integers(0, 9, n).astype(float)  # many tied times, tied values
    event = rng.random(n) < 0.5
    signed, pairs = row_shares(values, time, event)
    expected_signed, expected_pairs = _brute_force(values, time, event)
    assert np.array_equal(signed, expected_signed) and np.array_equal(pairs, expected_pairs)


def test_jackknife_error_of_somers_d_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(1)
    n = 400
    x = rng.normal(size=n)
    latent = rng.exponential(np.exp(0.3 * x))
    censor = rng.exponential(1.5, n)
    time, event = np.minimum(latent, censor), latent <= censor
    found = concordance_test(x, time, event)
    draws = [concordance_test(x[i], time[i], event[i]).d
             for i in (rng.integers(0, n, n) for _ in range(300))]
    assert found.se == pytest.approx(np.std(draws), rel=0.15)


def _heavy_tailed(seed: int = 13, n: int = 600) -> tuple[np.ndarray, ...]:
    """A lab value with a heavy right tail (its largest value 22 SD above the mean) and a
    real effect: hazard ratio 1.22 per SD."""
    rng = np.random.default_rng(seed)
    value = rng.lognormal(0, 1.5, n)
    scaled = (value - value.mean()) / value.std()
    latent = rng.exponential(np.exp(-0.2 * scaled))
    censor = rng.exponential(2, n)
    return value, np.minimum(latent, censor), latent <= censor


def test_statsmodels_diverges_on_the_heavy_tail_where_embaudit_converges() -> None:
    value, time, event = _heavy_tailed()
    scaled = (value - value.mean()) / value.std()
    assert scaled.max() > 17
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # statsmodels' only sign is a RuntimeWarning
        with pytest.raises(RuntimeWarning):
            PHReg(time, scaled[:, None], status=event.astype(float), ties="efron").fit(
                disp=False)
    fit = fit_cox(value[:, None], time, event)
    assert fit.converged and not fit.penalized
    assert 0.1 < fit.coefficients[0] < 0.3  # a higher value: shorter life, as planted


def test_a_claim_on_the_heavy_tailed_value_gets_a_finite_p_and_survives() -> None:
    value, time, event = _heavy_tailed()
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"lab": value, "age": rng.normal(size=len(value)),
                          "time": time, "failed": event.astype(int)})
    table = load_table(frame, target="time", event="failed", attributes=["lab"],
                       features=["lab", "age"], covariates=["age"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no raw warning reaches the user
        verdict = check_claims(table, ["lab:-"], n_resamples=0).verdicts[0]
    assert np.isfinite(verdict.p) and verdict.p < 1e-3 and verdict.verdict == "survives"
    assert verdict.ci_low > 0 and not verdict.reason


def test_separated_rows_are_fitted_with_the_ridge_penalty_and_say_so() -> None:
    x = np.arange(60.0)
    time = 61.0 - x  # a higher value always fails first: the likelihood has no maximum
    found = cox_effect(x, time, np.ones(60, bool), np.random.default_rng(3).normal(
        size=(60, 1)))
    assert np.isfinite(found.effect) and found.effect < 0
    assert "ridge penalty" in found.note


def test_untestable_columns_say_why_in_words() -> None:
    rng = np.random.default_rng(4)
    time = rng.exponential(size=50)
    attributes = np.column_stack([np.ones(50), rng.normal(size=50)])
    test = censored_association(attributes, time, np.zeros(50, bool))
    assert np.isnan(test.rho).all()
    assert test.reason(0) == test.reason(1) == "no failure among these rows"
    test = censored_association(attributes, time, np.ones(50, bool))
    assert test.reason(0) == "constant on these rows" and test.reason(1) == ""


def _entry_order(seed: int, n: int = 600) -> tuple[np.ndarray, ...]:
    """About 87 % censored by the end of the study: rows enrolled late are followed
    briefly, and the attribute tracks enrolment order while it lengthens life."""
    rng = np.random.default_rng(seed)
    entry = rng.uniform(0, 1, n)
    value = entry + 0.25 * rng.normal(size=n)
    latent = rng.exponential(np.exp(0.65 * (value - value.mean()) / value.std()) / 0.12)
    follow_up = (1 - entry) * 1.5 + 0.02
    return value, np.minimum(latent, follow_up), latent <= follow_up


@pytest.mark.parametrize("seed", range(4))
def test_discovery_sign_at_heavy_censoring_is_the_cox_coefficients(seed: int) -> None:
    value, time, event = _entry_order(seed)
    assert 1 - event.mean() > 0.84
    cox = -fit_cox(value[:, None], time, event).coefficients[0]
    d = somers_d_effect(value, time, event).effect
    scores = lifespan_scores(time, event)
    candidates = raw_candidates(value[:, None], scores, ranked_lifespan=False)
    assert np.sign(cox) == np.sign(d) == candidates.direction[0] == 1
    # ranking the scores orders follow-up time, and the attribute tracks entry order
    assert raw_candidates(value[:, None], scores).direction[0] == -1
    found = screen([None], [scores], value[:, None], n_permutations=199, seed=seed,
                   ranked_lifespan=False)
    assert found.association[0, 0] > 0 and found.p_association[0, 0] < 0.05


def test_p_discovery_is_never_below_either_half_of_the_screen() -> None:
    rng = np.random.default_rng(5)
    value, time, event = _entry_order(0, n=300)
    attributes = np.column_stack([value, rng.normal(size=(300, 4))])
    embeddings = [rng.normal(size=(300, 6)) + value[:, None] * rng.normal(size=6)
                  for _ in range(3)]
    found = screen(embeddings, [lifespan_scores(time, event)] * 3, attributes,
                   n_permutations=99, seed=1, ranked_lifespan=False)
    for direction in (np.ones(5), -np.ones(5)):
        p = found.p_discovery(direction)
        assert (p >= found.p_carried).all() and (p >= found.p_association).all()


def _one_world(rng: np.random.Generator, censoring: float, grouped: bool, effect: float
               ) -> tuple[np.ndarray, ...]:
    n = 200
    groups = np.repeat(np.arange(n // 10), 10) if grouped else None
    shared = rng.normal(size=n // 10)[groups] if grouped else np.zeros(n)
    x = (0.7 * rng.normal(size=n // 10)[groups] if grouped else 0) + rng.normal(size=n)
    latent = rng.exponential(np.exp(shared + effect * x))
    censor = rng.exponential(1 / {0.3: 0.45, 0.85: 6.0}[censoring], n) * np.exp(shared)
    attributes = np.column_stack([x, rng.integers(0, 2, n)])
    return attributes, np.minimum(latent, censor), latent <= censor, groups


@pytest.mark.parametrize("censoring", [0.3, 0.85])
@pytest.mark.parametrize("grouped", [False, True])
def test_censored_holdout_p_is_uniform_under_the_null(censoring: float, grouped: bool
                                                      ) -> None:
    rng = np.random.default_rng(int(censoring * 100) + grouped)
    p, censored = [], []
    for _ in range(300):
        attributes, time, event, groups = _one_world(rng, censoring, grouped, 0.0)
        test = censored_association(attributes, time, event, groups=groups)
        p.append(test.p_positive)
        censored.append(1 - event.mean())
    p = np.array(p)
    assert np.mean(censored) == pytest.approx(censoring, abs=0.04)
    for column in range(2):
        assert stats.kstest(p[:, column], "uniform").pvalue > 0.01
        assert (p[:, column] <= 0.05).mean() < 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)


@pytest.mark.parametrize("covariates", [False, True])
def test_interval_and_p_never_disagree(covariates: bool) -> None:
    """Over null and planted worlds: the interval excludes 0 exactly when the one-sided
    p is below half of 1 - confidence, and a p above α never sits beside an interval
    that excludes 0."""
    rng = np.random.default_rng(6)
    for world in range(120):
        attributes, time, event, groups = _one_world(
            rng, (0.3, 0.85)[world % 2], world % 3 == 0, (0.0, -0.15, 0.3)[world % 3])
        test = censored_association(
            attributes, time, event, rng.normal(size=(200, 1)) if covariates else None,
            groups=groups, confidence=0.95)
        for direction in (np.ones(2), -np.ones(2)):
            low, _ = test.interval(direction)
            p = test.p_value(direction)
            assert np.array_equal(low > 0, p < 0.025)
            assert not np.any((low > 0) & (p > 0.05))


def test_events_needed_follow_the_measured_power() -> None:
    """At the failures it asks for, the test detects the effect with the set power."""
    rng = np.random.default_rng(7)

    def draw(n: int) -> tuple[np.ndarray, ...]:
        x = rng.normal(size=n)
        latent = rng.exponential(np.exp(0.12 * x))
        censor = rng.exponential(0.8, n)  # about 60 % censored
        return x[:, None], np.minimum(latent, censor), latent <= censor

    pilot = censored_association(*draw(150))
    effect = censored_association(*draw(20_000)).rho[0]  # the true Somers' D, about 0.06
    rows, events = pilot.required(effect, np.array([0.05]), 0.8)
    assert events is not None and events[0] < rows[0]
    hits = [censored_association(*draw(int(rows[0]))).p_positive[0] <= 0.05
            for _ in range(150)]
    assert np.mean(hits) == pytest.approx(0.8, abs=0.12)
    assert pilot.power(effect, 0.05)[0] < 0.8  # the pilot's own rows fall short


@pytest.mark.parametrize("name", ["censored_30", "censored_70", "censored_informative"])
def test_no_interval_disagrees_with_its_p_over_the_calibration_worlds(name: str) -> None:
    """Every hypothesis of the censored calibration worlds, tested as an audit tests
    its holdout: a bound excludes 0 in a direction exactly when that direction's p is
    below α, and every p is finite (or its column says why)."""
    config = AuditConfig()
    alpha = config.statistics.alpha
    for seed in range(4):
        world, _ = scenario_world(name, seed)
        table = world.table
        rows = split_rows(table, config).holdout
        test = lifespan_association(
            table, rows, table.attribute_matrix[rows],
            None if table.covariate_matrix is None else table.covariate_matrix[rows],
            np.arange(len(table.attribute_columns)), n_resamples=2000, n_permutations=0,
            max_t=False, confidence=config.statistics.confidence, seed=seed, alpha=alpha)
        assert np.isfinite(test.rho).all() and test.confidence == pytest.approx(1 - 2 * alpha)
        for direction in (np.ones(len(test.rho)), -np.ones(len(test.rho))):
            low, high = test.interval(direction)
            p = test.p_value(direction)
            assert np.array_equal(low > 0, p < alpha)
            assert np.array_equal(high < 0, 1 - p < alpha)


def test_numerical_library_warnings_become_one_message_in_the_projects_words() -> None:
    def noisy() -> None:
        np.log(np.zeros(3))  # numpy: divide by zero
        warnings.warn("Maximum Likelihood optimization failed to converge", UserWarning,
                      stacklevel=1)  # as statsmodels words it

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with numerical_warnings("the holdout tests"):
            noisy()
    assert len(caught) == 1 and caught[0].category is NumericalWarning
    text = str(caught[0].message)
    assert "While computing the holdout tests" in text and "2 time(s)" in text
    assert "divide by zero" in text and "reported as missing with their reason" in text


def test_rows_needed_are_never_fewer_than_the_holdout_already_has() -> None:
    """An inconclusive trend on a holdout that already has the power asks for no rows:
    its effect looks smaller than the smallest of interest, more rows are not the fix."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3000, 1))
    latent = rng.exponential(np.exp(0.02 * x[:, 0]))  # a tiny effect, many failures
    test = censored_association(x, latent, np.ones(3000, bool))
    verdict = np.array(["inconclusive"])
    rows, events = rows_required(verdict, np.array([0.2]), np.array([True]), "fdr_bh", 0.1,
                                 0.1, 0.8, test)
    assert test.required(0.1, np.array([0.1]), 0.8)[0][0] < test.n  # power is there
    assert pd.isna(rows[0]) and pd.isna(events[0])
    small = censored_association(x[:80], latent[:80], np.ones(80, bool))
    rows, events = rows_required(verdict, np.array([0.2]), np.array([True]), "fdr_bh", 0.1,
                                 0.1, 0.8, small)
    assert rows[0] > 80 and events[0] > 80  # every row failed: events = rows


def test_a_clustered_test_of_one_group_says_why() -> None:
    rng = np.random.default_rng(9)
    time = rng.exponential(size=40)
    test = censored_association(rng.normal(size=(40, 1)), time, np.ones(40, bool),
                                groups=np.zeros(40, int))
    assert np.isnan(test.p_positive[0]) and "one group" in test.reason(0)
