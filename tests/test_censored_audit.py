"""Censored lifespans end to end: the AFT loss of the ensemble, members independent of
their ensemble, and audits and claim checks of a real censored table (SurvSet)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import torch
from statsmodels.duration.hazard_regression import PHReg
from SurvSet.data import SurvLoader
from typer.testing import CliRunner

import embaudit
from embaudit.cli import app
from embaudit.config import NetworkConfig, TrainingConfig, build_config
from embaudit.data.worlds import product_lifespan
from embaudit.hypotheses.censored import concordance
from embaudit.reports import report_schema
from embaudit.resampling.options import split_rows
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob
from embaudit.training.module import censored_terms
from exactness import assert_same_member

runner = CliRunner()


def test_the_aft_loss_is_the_squared_error_for_failures_and_a_survival_term_else() -> None:
    prediction = torch.tensor([[0.0, 1.0, -2.0, 3.0, 0.5]])
    value = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.5]])
    failed = torch.stack([value, torch.ones_like(value)], -1)
    per_row, squared = censored_terms(prediction, failed)
    assert torch.equal(per_row, (prediction - value) ** 2) and torch.equal(squared, per_row)
    censored = torch.stack([value, torch.zeros_like(value)], -1)
    per_row, squared = censored_terms(prediction, censored)
    expected = -2 * torch.log(torch.distributions.Normal(0, 1).cdf(prediction - value))
    torch.testing.assert_close(per_row, expected)
    # a censored row errs only when the prediction falls short of its time
    assert squared.tolist()[0] == [1.0, 0.0, 4.0, 0.0, 0.0]


def _censored_world() -> tuple[product_lifespan, np.ndarray]:
    world = product_lifespan(n=500, p=60, seed=1)
    rng = np.random.default_rng(1)
    return world, (rng.random(world.table.n_rows) < 0.6).astype(float)


def test_censored_rows_push_predictions_past_their_times() -> None:
    world, events = _censored_world()
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    member = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=2,
                          n_permutations=1, root_seed=2)[:1]
    common = dict(rows=split.discovery, regime="overfit", network=NetworkConfig(),
                  holdout=split.holdout)
    lowered = world.table.y - 2.0  # censored far below the truth: "at least" this long
    y = np.where(events > 0, world.table.y, lowered)
    aft = fit_ensemble(TrainingJob(world.table.X, y, events=events,
                                   training=TrainingConfig(max_epochs=60), **common), member)
    mse = fit_ensemble(TrainingJob(world.table.X, y, events=events,
                                   training=TrainingConfig(max_epochs=60, loss="mse"),
                                   **common), member)
    rows = split.discovery[events[split.discovery] == 0]
    # the censored loss does not pull predictions down to the censoring times
    assert aft.predictions[0, rows].mean() > mse.predictions[0, rows].mean() + 1.0
    assert aft.diagnostics["train_loss"][0] < 0.05


@pytest.mark.parametrize("config", [
    TrainingConfig(max_epochs=30, overfit_tolerance=1e-9),  # AFT, Adam
    TrainingConfig(optimizer="sgd", learning_rate=1e-2, max_epochs=30,
                   overfit_tolerance=1e-9),  # AFT, SGD
    TrainingConfig(loss="cox", cox_ties="efron", max_epochs=20),
    TrainingConfig(loss="cox", cox_ties="breslow", max_epochs=20),
], ids=["aft-adam", "aft-sgd", "cox-efron", "cox-breslow"])
def test_a_censored_member_trains_the_same_alone_as_in_an_ensemble(
        config: TrainingConfig) -> None:
    world, events = _censored_world()
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=20,
                           n_permutations=11, root_seed=2)
    common = dict(rows=split.discovery, regime="overfit", training=config,
                  network=NetworkConfig(), events=events, holdout=split.holdout)
    job = TrainingJob(world.table.X, world.table.y, **common)
    together = fit_ensemble(job, members)
    for b in (0, 15, len(members) - 1):  # reference, bootstrap, permutation
        alone = fit_ensemble(job, [members[b]])
        assert_same_member(alone.embeddings[0], together.embeddings[b], atol=1e-5)


def _veteran(folder: Path) -> Path:
    """SurvSet's veteran lung-cancer trial: 137 patients, 128 deaths; a higher
    Karnofsky performance score goes with longer survival (the textbook finding)."""
    frame = SurvLoader().load_dataset("veteran")["df"]
    frame["fac_trt"] = frame["fac_trt"].astype(float)
    frame["fac_prior"] = frame["fac_prior"].astype(float)
    path = folder / "veteran.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_an_audit_of_every_veteran_row_finds_that_karnofsky_lengthens_survival(
        tmp_path: Path) -> None:
    data = _veteran(tmp_path)
    (tmp_path / "audit.toml").write_text(
        "seed = 0\n[network]\nhidden = [16, 8]\n[training]\n"
        'regimes = ["overfit", "regularized", "linear"]\nmax_epochs = 150\n'
        "[resampling]\nn_bootstrap = 10\nn_permutations = 39\n")
    out = tmp_path / "out"
    outcome = runner.invoke(app, [
        "audit", "--data", str(data), "--target", "time", "--event", "event",
        "--attributes", "num_karno,num_age,fac_celltype", "--features", "num_*,fac_trt",
        "--id", "pid", "--config", str(tmp_path / "audit.toml"), "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["data"]["roles"]["event"] == "event"
    assert report["data"]["n_rows"] == 137  # censored rows kept
    hypotheses = pd.DataFrame(report["hypotheses"])
    karnofsky = hypotheses[(hypotheses["attribute"] == "num_karno")]
    lead = karnofsky[karnofsky["regime"] == report["verdict"]["regime"]].iloc[0]
    assert lead["direction"] == "+" and lead["verdict"] == "survives"
    assert "Censored lifespans" in (out / "report.md").read_text()
    # the store rebuilds the same report
    assert runner.invoke(app, ["report", str(out), "--format", "json"]).exit_code == 0
    assert json.loads((out / "report.json").read_text()) == report


def test_a_claim_checked_on_censored_rows(tmp_path: Path) -> None:
    data = _veteran(tmp_path)
    outcome = runner.invoke(app, ["check", "--data", str(data), "--target", "time",
                                  "--event", "event", "--claim", "num_karno:+",
                                  "--claim", "num_age:+", "--strict"])
    assert "Claim num_karno:+: SURVIVES" in outcome.output
    assert "effect (Somers' D, censored) = +0.4" in outcome.output
    assert "Claim num_age:+: FAILS" in outcome.output and outcome.exit_code == 1
    wrong = runner.invoke(app, ["check", "--data", str(data), "--target", "time",
                                "--event", "event", "--claim", "num_karno:-"])
    assert "Claim num_karno:-: FAILS" in wrong.output
    table = embaudit.load_table(data, target="time", event="event", attributes=["num_karno"],
                                features=[])
    naive = embaudit.load_table(data, target="time", attributes=["num_karno"], features=[])
    censored = embaudit.check_claim(table, "num_karno", "+")
    assert censored.p < 1e-3 and censored.effect > 0.2
    assert naive.n_rows == table.n_rows


def test_cox_networks_learn_the_order_of_censored_lifespans() -> None:
    world, events = _censored_world()
    split = discovery_holdout_split(world.table.y, 0.3, 5, seed=0)
    members = plan_members(split, world.table.n_rows, "regularized", n_bootstrap=2,
                           n_permutations=1, root_seed=4, validation_fraction=0.2)
    fit = fit_ensemble(TrainingJob(
        world.table.X, world.table.y, rows=split.discovery, regime="regularized",
        network=NetworkConfig(), events=events, holdout=split.holdout,
        training=TrainingConfig(loss="cox", max_epochs=60, batch_size=None)), members)
    reference = fit.diagnostics.iloc[0]
    holdout = split.holdout
    order = 2 * concordance(fit.predictions[0, holdout], world.table.lifespan[holdout],
                            events[holdout]) - 1
    assert order > 0.3  # the networks' longevity scores order the held-out lifespans
    # losses are partial likelihoods per failure, and no ridge baseline is compared
    assert 0 < reference["train_loss"] < np.inf and 0 < reference["holdout_loss"] < np.inf
    assert np.isnan(reference["ridge_holdout_loss"])
    assert fit.diagnostics["epochs"].min() < 60  # each stopped early on its own loss


def test_an_audit_with_cox_networks_reads_the_same_direction_off_their_axes(
        tmp_path: Path) -> None:
    table = embaudit.load_table(_veteran(tmp_path), target="time", event="event", id="pid",
                                attributes=["num_karno"], features=["num_*", "fac_trt"])
    config = {"seed": 1, "network": {"hidden": [16, 8]},
              "training": {"regimes": ["overfit"], "loss": "cox", "max_epochs": 80},
              "resampling": {"n_bootstrap": 6, "n_permutations": 19},
              "statistics": {"n_resamples": 300}}
    result = embaudit.audit(config, table=table)
    network = result.hypotheses.set_index("regime").loc["overfit"]
    assert network["direction"] == "+" and network["found"]
    with pytest.raises(embaudit.ConfigError, match=r"training\.loss='cox'"):
        embaudit.audit({**config, "landscape": {"enabled": True}}, table=table)


def test_censored_audits_take_groups_cross_fitting_and_max_t() -> None:
    world = product_lifespan(n=400, p=30, seed=5)
    frame = world.frame.copy()
    rng = np.random.default_rng(0)
    frame["event"] = (rng.random(len(frame)) < 0.6).astype(int)
    frame["plant"] = rng.integers(0, 20, len(frame))
    attributes = list(world.table.attributes)[:4]
    table = embaudit.load_table(frame, target="lifespan_days", attributes=attributes,
                                features="f*", event="event", group="plant", id="product_id")
    result = embaudit.audit({
        "seed": 1, "split": {"crossfit_folds": 2},
        "training": {"regimes": ["overfit", "linear"], "max_epochs": 30},
        "resampling": {"n_bootstrap": 3, "n_permutations": 9},
        "statistics": {"n_resamples": 200, "correction": "maxt",
                       "n_holdout_permutations": 199}}, table=table)
    h = result.hypotheses
    assert set(h["regime"]) == {"overfit", "linear", "raw"}
    assert h["p_holdout"].between(0, 1).all() and (h["q_holdout"].dropna() >= 0.005).all()
    assert set(result.crossfit_rates["crossfit_folds"]) == {2}
    # the planted "hardness lengthens life" survives with its sign (censoring at random)
    hardness = h[(h["attribute"] == "hardness") & (h["regime"] == "overfit")].iloc[0]
    assert hardness["direction"] == world.truth["hardness"] and hardness["verdict"] == "survives"


def _survset(name: str) -> pd.DataFrame:
    """A SurvSet table with every row: its factors as text (or 0/1), lifespans of 0 days
    recorded as half a day (the loader's error asks for that: the product lasted less
    than a day)."""
    frame = SurvLoader().load_dataset(name)["df"]
    frame["time"] = frame["time"].astype(float).where(frame["time"] > 0, 0.5)
    for column in [c for c in frame.columns if c.startswith("fac_")]:
        values = frame[column]
        frame[column] = values.astype(float) if set(values.astype(str)) <= {"0", "1"} \
            else values.astype(str)
    return frame


_SMALL = {"seed": 0, "network": {"hidden": [16, 8]},
          "training": {"regimes": ["overfit", "linear"], "max_epochs": 60},
          "resampling": {"n_bootstrap": 4, "n_permutations": 9},
          "statistics": {"n_resamples": 200}}


@pytest.mark.parametrize(("name", "attributes", "covariates"), [
    ("GBSG2", ["num_tsize", "num_pnodes", "num_progrec", "num_estrec", "fac_horTh",
               "fac_menostat", "fac_tgrade"], []),
    ("GBSG2", ["num_tsize", "num_pnodes", "num_progrec", "num_estrec"], ["num_age"]),
    ("dataOvarian1", None, []),
])
def test_every_survivor_of_a_real_table_has_the_sign_of_a_cox_model(
        name: str, attributes: list[str] | None, covariates: list[str]) -> None:
    """Every row of SurvSet's GBSG2 (686 patients) and dataOvarian1 (912), audited: each
    surviving attribute's direction is the sign of statsmodels' Cox model on the same
    holdout rows (given the same covariates)."""
    frame = _survset(name)
    genes = [c for c in frame.columns if c.startswith("num_")]
    attributes = attributes or [*genes[:12], "fac_debulk"]
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                attributes=attributes, features=["num_*"],
                                covariates=covariates or None)
    assert table.n_rows == len(frame)
    result = embaudit.audit(_SMALL, table=table)
    h = result.hypotheses
    survivors = h[h["verdict"] == "survives"]
    assert len(survivors) >= 3 and h["p_holdout"].notna().all()
    assert (h["p_discovery"] >= h["p_carried"].fillna(0)).all()
    assert (h["p_discovery"] >= h["p_association"]).all()
    rows = result.split.holdout
    codes = {c.name: i for i, c in enumerate(table.attribute_columns)}
    for attribute in survivors["attribute"].unique():
        values = table.attribute_matrix[rows, codes[attribute]]
        design = np.column_stack([values, *(frame[c].to_numpy(float)[rows]
                                            for c in covariates)])
        design = (design - design.mean(0)) / design.std(0)
        cox = PHReg(table.lifespan[rows], design, status=table.events[rows].astype(float),
                    ties="efron").fit(disp=False)
        longer = "+" if cox.params[0] < 0 else "-"  # a lower hazard: a longer life
        assert set(survivors.loc[survivors["attribute"] == attribute, "direction"]) == \
            {longer}, attribute


def test_an_attribute_the_holdout_cannot_test_says_why_in_the_hypotheses() -> None:
    """A rare attribute whose only nonzero row is a discovery row is constant on the
    holdout: its holdout numbers are missing and the row says why, in words."""
    frame = _survset("GBSG2")
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                attributes=["num_pnodes"], features=["num_*"])
    config = {**_SMALL, "training": {"regimes": ["linear"], "max_epochs": 30}}
    discovery = split_rows(table, build_config(config)).discovery
    frame["rare"] = 0.0
    frame.loc[frame.index[discovery[0]], "rare"] = 1.0
    table = embaudit.load_table(frame, target="time", event="event", id="pid",
                                attributes=["num_pnodes", "rare"], features=["num_*"])
    h = embaudit.audit(config, table=table).hypotheses.set_index(["regime", "attribute"])
    assert h.loc[("linear", "rare"), "holdout_note"] == "constant on these rows"
    assert np.isnan(h.loc[("linear", "rare"), "p_holdout"])
    assert pd.isna(h.loc[("linear", "num_pnodes"), "holdout_note"])
