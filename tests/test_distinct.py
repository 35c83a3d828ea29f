"""A survivor that another survivor explains is a proxy, not a second lead."""

from __future__ import annotations

import numpy as np
import pandas as pd

import embaudit
from embaudit.hypotheses.distinct import explained_by
from embaudit.hypotheses.inference import holdout_association


def _proxy_frame(seed: int, n: int = 1500) -> pd.DataFrame:
    """``driver`` acts on lifespan; ``proxy`` correlates 0.8 with it and has no effect of
    its own; ``other`` acts on lifespan independently; ``noise`` does nothing."""
    rng = np.random.default_rng(seed)
    driver, other = rng.normal(size=n), rng.normal(size=n)
    proxy = 0.8 * driver + 0.6 * rng.normal(size=n)
    log_life = 0.5 * driver - 0.4 * other + rng.normal(size=n)
    features = np.column_stack([driver, other, proxy, rng.normal(size=(n, 7))]) \
        + 0.5 * rng.normal(size=(n, 10))
    frame = pd.DataFrame(features, columns=[f"f{j}" for j in range(10)])
    return frame.assign(driver=driver, other=other, proxy=proxy,
                        noise=rng.normal(size=n), lifespan=700 * np.exp(log_life))


def _partial_test(attributes: np.ndarray, lifespan: np.ndarray):
    def test(column: int, given: list[int], direction: int) -> float:
        result = holdout_association(attributes[:, [column]], lifespan,
                                     attributes[:, list(given)], n_resamples=0,
                                     n_permutations=0)
        return float(result.p_value(np.array([direction]))[0])
    return test


def test_the_proxy_is_explained_by_its_driver_and_the_others_stay_distinct():
    frame = _proxy_frame(0, n=600)
    names = ["driver", "other", "proxy", "noise"]
    attributes = frame[names].to_numpy()
    lifespan = np.log(frame["lifespan"].to_numpy())
    direction = np.array([1, -1, 1, 1])
    effects = direction * np.array([np.corrcoef(a, lifespan)[0, 1] for a in attributes.T])
    test = _partial_test(attributes, lifespan)
    explained = explained_by([0, 1, 2], direction, effects, attributes, np.arange(4), test,
                             0.1)
    assert explained == {2: 0}
    # two proxies of one unmeasured cause count once, whichever is stronger
    twin = np.column_stack([attributes[:, 2], attributes[:, 2] + 0.3 * np.random.default_rng(
        1).normal(size=600)])
    twin_effects = np.array([np.corrcoef(a, lifespan)[0, 1] for a in twin.T])
    assert len(explained_by([0, 1], np.array([1, 1]), twin_effects, twin, np.arange(2),
                            _partial_test(twin, lifespan), 0.1)) == 1
    # levels of one categorical attribute never explain each other
    assert explained_by([0, 2], direction, effects, attributes, np.array([0, 1, 0, 2]),
                        test, 0.1) == {}


def test_an_audit_names_the_proxy_and_counts_distinct_leads():
    result = embaudit.audit(
        {"training": {"regimes": ["linear"]},
         "resampling": {"n_bootstrap": 5, "n_permutations": 9},
         "statistics": {"n_resamples": 200}},
        table=embaudit.load_table(_proxy_frame(3), target="lifespan", features=["f*"],
                                  attributes=["driver", "other", "proxy", "noise"]))
    h = result.hypotheses.set_index(["regime", "attribute"])
    for regime in ("linear", "raw"):
        assert h.loc[(regime, "proxy"), "verdict"] == "survives"  # marginally it does
        assert h.loc[(regime, "proxy"), "explained_by"] == "driver"
        assert pd.isna(h.loc[(regime, "driver"), "explained_by"])
        assert pd.isna(h.loc[(regime, "other"), "explained_by"])
    panel = result.regimes.set_index("regime")
    assert panel.loc["linear", "n_survives"] == 3 and panel.loc["linear", "n_distinct"] == 2
    assert "(2 distinct: proxy explained by driver)" in result.position.procedures
