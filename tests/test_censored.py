"""Statistics of censored lifespans against the survival libraries, and their nulls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sksurv.metrics import concordance_index_censored
from statsmodels.duration.hazard_regression import PHReg

from embaudit.hypotheses.censored import (
    censored_association,
    concordance,
    cox_effect,
    lifespan_scores,
    somers_d_effect,
)
from embaudit.training.survival import cox_log_likelihood


def _censored(n: int, seed: int, ties: bool = True) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 25, n).astype(float) if ties else rng.exponential(10, n)
    event = rng.random(n) < 0.55
    values = rng.integers(0, 6, n).astype(float) if ties else rng.normal(size=n)
    return time, event, values


@pytest.mark.parametrize("seed", range(6))
def test_concordance_equals_scikit_survival_with_ties_and_censoring(seed: int) -> None:
    time, event, values = _censored(150, seed, ties=seed % 2 == 0)
    # scikit-survival scores risk (higher: shorter life); C of -risk is C of longevity
    expected = concordance_index_censored(event, time, -values)[0]
    assert concordance(values, time, event) == pytest.approx(expected, abs=1e-12)


def test_lifespan_scores_are_centred_log_rank_scores_ordered_by_lifespan() -> None:
    time, event, _ = _censored(300, 5, ties=False)
    scores = lifespan_scores(time, event)
    assert abs(scores.sum()) < 1e-9
    uncensored = lifespan_scores(time, np.ones_like(event))
    assert stats.spearmanr(uncensored, time).statistic == pytest.approx(1.0)
    # censored at t ranks above failed at t
    assert lifespan_scores(np.array([1.0, 2, 2, 3]), np.array([1, 0, 1, 1]))[1] > \
        lifespan_scores(np.array([1.0, 2, 2, 3]), np.array([1, 0, 1, 1]))[2]


def test_cox_effect_is_statsmodels_with_longer_life_positive() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=400)
    time = rng.exponential(np.exp(0.4 * x))  # higher x: lower hazard, longer life
    event = rng.random(400) < 0.7
    covariate = rng.normal(size=(400, 1))
    found = cox_effect(x, time, event, covariate)
    design = np.column_stack([x, covariate])
    model = PHReg(time, (design - design.mean(0)) / design.std(0), status=event.astype(float),
                  ties="efron")
    robust, plain = model.fit(groups=np.arange(400)), model.fit()
    assert found.effect == pytest.approx(-robust.params[0], rel=1e-6)
    # no tied times: the same errors; the test takes the larger of the two
    assert found.se == pytest.approx(max(robust.bse[0], plain.bse[0]), rel=1e-6)
    assert found.effect / found.se > 3 and not found.reason


def test_cox_effect_holdout_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(11)
    p = []
    for _ in range(200):
        x = rng.normal(size=120)
        time = rng.exponential(1.0, 120)
        event = rng.random(120) < 0.5
        found = cox_effect(x, time, event, rng.normal(size=(120, 1)))
        p.append(stats.norm.sf(found.effect / found.se))
    assert stats.kstest(p, "uniform").pvalue >= 0.01


def test_censored_holdout_p_values_are_uniform_under_the_null_at_half_censoring() -> None:
    rng = np.random.default_rng(12)
    p = {"numeric": [], "binary": []}
    for _ in range(200):
        n = 150
        attributes = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
        time = rng.exponential(1.0, n)
        censor = rng.exponential(1.0, n)  # independent censoring, about half the rows
        test = censored_association(attributes, np.minimum(time, censor), time <= censor)
        p["numeric"].append(test.p_positive[0])
        p["binary"].append(test.p_negative[1])
    for values in p.values():
        assert stats.kstest(values, "uniform").pvalue >= 0.01


def test_censored_association_finds_a_planted_effect_with_its_sign() -> None:
    rng = np.random.default_rng(13)
    n = 300
    size = rng.normal(size=n)
    steel = rng.integers(0, 2, n)
    time = rng.exponential(np.exp(0.5 * size - 0.7 * steel))  # size: longer; steel: shorter
    censor = rng.exponential(1.5, n)
    event = time <= censor
    test = censored_association(np.column_stack([size, steel]), np.minimum(time, censor),
                                event, seed=1)
    assert test.p_positive[0] < 1e-4 and test.p_negative[1] < 1e-3
    assert test.rho[0] > 0.1 and test.rho[1] < -0.1
    assert test.rho_low[0] <= test.rho[0] <= test.rho_high[0]
    assert test.rho_high[1] < 0 < test.rho_low[0]


# --- the Cox partial likelihood of the batched module ---------------------------------


def _cox_inputs(seed: int, n: int = 60) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 12, n).astype(float)  # many ties
    event = (rng.random(n) < 0.6).astype(float)
    return time, event, rng.normal(size=n), rng.integers(0, 4, n).astype(float)


def _batched(log_hazard: np.ndarray, time: np.ndarray, event: np.ndarray,
             weights: np.ndarray, ties: str) -> np.ndarray:
    return cox_log_likelihood(*(torch.tensor(np.atleast_2d(a)) for a in
                                (log_hazard, time, event, weights)), ties).numpy()


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("seed", range(3))
def test_cox_likelihood_equals_statsmodels(ties: str, seed: int) -> None:
    time, event, eta, _ = _cox_inputs(seed)
    expected = PHReg(time, eta[:, None], status=event, ties=ties).loglike(np.array([1.0]))
    assert _batched(eta, time, event, np.ones_like(eta), ties)[0] == \
        pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_weighted_breslow_equals_the_repeated_rows(seed: int) -> None:
    time, event, eta, counts = _cox_inputs(seed)
    rows = np.repeat(np.arange(len(time)), counts.astype(int))
    expected = PHReg(time[rows], eta[rows, None], status=event[rows],
                     ties="breslow").loglike(np.array([1.0]))
    assert _batched(eta, time, event, counts, "breslow")[0] == pytest.approx(expected,
                                                                             abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_weighted_efron_follows_the_weighted_formula(seed: int) -> None:
    time, event, eta, weights = _cox_inputs(seed)
    expected = 0.0
    for t in np.unique(time[(event > 0) & (weights > 0)]):
        tied = (time == t) & (event > 0) & (weights > 0)
        d, total = tied.sum(), weights[tied].sum()
        risk = (weights * np.exp(eta))[time >= t].sum()
        tied_hazard = (weights * np.exp(eta))[tied].sum()
        expected += (weights * eta)[tied].sum() - total / d * sum(
            np.log(risk - k / d * tied_hazard) for k in range(d))
    assert _batched(eta, time, event, weights, "efron")[0] == pytest.approx(expected,
                                                                            abs=1e-6)


def test_each_member_of_a_batch_gets_its_own_likelihood() -> None:
    inputs = [_cox_inputs(seed) for seed in range(5)]
    stacked = [np.stack([x[i] for x in inputs]) for i in range(4)]
    together = _batched(stacked[2] * 3.0, stacked[0], stacked[1], stacked[3], "efron")
    for b, (time, event, eta, weights) in enumerate(inputs):
        alone = _batched(eta * 3.0, time, event, weights, "efron")[0]
        assert together[b] == alone  # bit for bit: nothing is shared across members
    # rows of weight 0 are absent, however large their hazard
    time, event, eta, weights = inputs[0]
    weights = weights.copy()
    weights[:5] = 0
    kept = weights > 0
    absent = _batched(np.where(kept, eta, 50.0), time, event, weights, "efron")[0]
    assert absent == pytest.approx(_batched(eta[kept], time[kept], event[kept],
                                            weights[kept], "efron")[0], abs=1e-9)


def test_rows_of_weight_zero_ahead_of_every_weighted_row_keep_the_gradient_finite() -> None:
    time = torch.tensor([[9.0, 8.0, 3.0, 2.0]])  # the two longest rows weigh nothing
    event = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    weights = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    for ties in ("breslow", "efron"):
        eta = torch.zeros(1, 4, requires_grad=True)
        value = cox_log_likelihood(eta, time, event, weights, ties)
        value.sum().backward()
        assert torch.isfinite(value).all() and torch.isfinite(eta.grad).all()
        assert eta.grad[0, :2].abs().sum() == 0


def test_somers_d_error_is_wider_when_rows_share_their_group() -> None:
    rng = np.random.default_rng(14)
    groups = np.repeat(np.arange(20), 10)
    shared = rng.normal(size=20)[groups]  # rows of a group share their attribute and fate
    fate = rng.normal(size=20)[groups]  # and a lifespan shared beyond the attribute
    time = np.exp(0.5 * shared + fate + 0.05 * rng.normal(size=200))
    event = rng.random(200) < 0.7
    values = shared + 0.05 * rng.normal(size=200)
    by_rows = somers_d_effect(values, time, event)
    by_groups = somers_d_effect(values, time, event, groups)
    # 20 clusters carry less information than 200 independent rows: a wider error
    assert by_groups.effect == by_rows.effect
    assert by_groups.se > 1.5 * by_rows.se
    assert len(by_groups.influence) == 20 and len(by_rows.influence) == 200
