"""Cross-fit mode: every row held out once, per-fold replication, its summary and store."""

from __future__ import annotations

import json

import numpy as np
import pytest

import embaudit
from embaudit.config import build_config
from embaudit.store import AuditStore

SMALL = {
    "resampling": {"n_bootstrap": 10, "n_permutations": 19},
    "training": {"max_epochs": 200, "regimes": ["overfit"]},
    "split": {"crossfit_folds": 3},
}


@pytest.fixture(scope="module")
def crossfit_audit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = embaudit.worlds.product_lifespan(n=600, p=60, seed=5)
    out = tmp_path_factory.mktemp("crossfit")
    result = embaudit.audit({**SMALL, "seed": 5, "out": str(out)}, table=world.table,
                            truth=world.truth)
    return {"world": world, "out": out, "result": result}


@pytest.mark.slow
def test_each_row_is_held_out_by_exactly_one_fold(crossfit_audit):
    frame = crossfit_audit["result"].crossfit
    overfit = frame[frame["regime"] == "overfit"]
    assert sorted(overfit["fold"].unique()) == [0, 1, 2]
    sizes = overfit.groupby("fold")["n_holdout"].first()
    assert sizes.sum() == crossfit_audit["world"].table.n_rows
    assert set(frame["regime"]) == {"overfit", "raw"}


@pytest.mark.slow
def test_planted_attributes_replicate_across_folds_and_summary_has_spread(crossfit_audit):
    result, world = crossfit_audit["result"], crossfit_audit["world"]
    agreement = result.crossfit_agreement.set_index(["regime", "attribute"])
    for attribute in ("size", "hardness", "usage_intensity"):
        row = agreement.loc[("overfit", attribute)]
        assert row["folds_replicated"] >= 2, attribute
        assert row["direction"] == world.truth[attribute]
    summary = result.crossfit_summary().set_index("regime")
    assert summary.loc["overfit", "crossfit_folds"] == 3
    assert 0 < summary.loc["overfit", "crossfit_rate"] <= 1
    assert np.isfinite(summary.loc["overfit", "crossfit_rate_sd"])


@pytest.mark.slow
def test_crossfit_is_stored_reported_and_resumed(crossfit_audit):
    out = crossfit_audit["out"]
    stored = AuditStore(out).read_table("crossfit")
    assert len(stored) == len(crossfit_audit["result"].crossfit)
    doc = json.loads((out / "report.json").read_text())
    assert {"summary", "attributes", "folds"} <= set(doc["crossfit"])
    assert "Cross-fit replication" in (out / "report.md").read_text()
    again = embaudit.audit({**SMALL, "seed": 5, "out": str(out)},
                           table=crossfit_audit["world"].table)
    np.testing.assert_allclose(again.crossfit["p_holdout"],
                               crossfit_audit["result"].crossfit["p_holdout"])


def test_crossfit_replication_rate_is_about_alpha_under_the_global_null():
    rates = []
    for seed in range(12):
        world = embaudit.worlds.product_lifespan(n=400, p=10, seed=seed, null=True)
        result = embaudit.audit({"training": {"regimes": []}, "seed": seed,
                                 "resampling": {"n_bootstrap": 10, "n_permutations": 19},
                                 "split": {"crossfit_folds": 4}}, table=world.table)
        rates.append(result.crossfit_summary()["crossfit_rate"].iloc[0])
    assert 0.03 <= np.mean(rates) <= 0.2


def test_one_fold_is_refused_with_the_option_named():
    with pytest.raises(embaudit.ConfigError, match="crossfit_folds"):
        build_config({"split": {"crossfit_folds": 1}})
